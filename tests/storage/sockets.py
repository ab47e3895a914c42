"""This process's TCP connections, read from /proc: to see that a closed read let its go."""

from __future__ import annotations

import os
from pathlib import Path

_ESTABLISHED = "01"


def _own_socket_inodes() -> set[str]:
    inodes: set[str] = set()
    for entry in os.scandir("/proc/self/fd"):
        try:
            target = os.readlink(entry.path)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def established_to(port: int) -> int:
    """How many connections of this process to ``port`` (on any address) are established."""
    own = _own_socket_inodes()
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == _ESTABLISHED and int(remote.rsplit(":", 1)[1], 16) == port and inode in own:
                count += 1
    return count

"""``tierstore fs cp``'s progress bar: drawn on a terminal, absent when the output is piped.

The command runs as a user runs it, its own process, once on a pseudo-terminal (what an
interactive shell gives it) and once with its output piped; rich's live display is read back
from the terminal's bytes.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tests.namespace.test_filesystem import write_config
from tierstore.local.info import StackInfo

SIZE = 3 * 1024 * 1024
COPIED = f"{SIZE} bytes copied"
BAR = "\u2501"  # rich's bar segment, ━
HIDE_CURSOR = "\x1b[?25l"  # what rich's live display writes first
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tierstore.cli.main", "fs", args[0], "-c", str(config), *args[1:]]


def _env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "TIERSTORE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["TERM"] = "xterm-256color"
    # rich would take these over the terminal's own size, or force or refuse a terminal.
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    return env


def _terminal() -> tuple[int, int]:
    """A pseudo-terminal (controller, terminal) 120 columns wide."""
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    return controller, terminal


def _read_all(controller: int) -> str:
    """Everything the terminal showed, until the last process holding it has gone."""
    shown = bytearray()
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: no process holds the terminal any more
            break
        if not data:
            break
        shown += data
    os.close(controller)
    return shown.decode(errors="replace")


def _put(config: Path, local: Path, path: str) -> None:
    put = subprocess.run(
        _command(config, "put", str(local), path),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert put.returncode == 0, put.stderr


def _on_terminal(config: Path, *args: str) -> str:
    """What a command shows when stdin, stdout and stderr are all the pseudo-terminal; it must succeed."""
    controller, terminal = _terminal()
    with subprocess.Popen(
        _command(config, *args), stdin=terminal, stdout=terminal, stderr=terminal, env=_env()
    ) as process:
        os.close(terminal)
        shown = _read_all(controller)
        assert process.wait(timeout=120) == 0, shown
    return shown


def test_cp_draws_a_progress_bar_on_a_terminal_and_none_when_piped(
    tmp_path: Path, stack: StackInfo, bucket: str, sqlite_url: str
) -> None:
    config = write_config(tmp_path / "server.yaml", stack, bucket, sqlite_url)
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(SIZE))
    _put(config, source, "/src.bin")

    # On a terminal: stdin, stdout and stderr all the pseudo-terminal.
    shown = _on_terminal(config, "cp", "/src.bin", "/on-terminal.bin")
    text = ANSI.sub("", shown)
    assert HIDE_CURSOR in shown, shown
    # The bar's last frame: the label, the bar, and every byte counted (3.1 MB of unknown total).
    assert re.search(rf"cp /src\.bin {BAR}+ 3\.1/\? MB", text), text
    assert COPIED in text

    # Output piped, the terminal still there on stderr: no bar anywhere.
    controller, terminal = _terminal()
    with subprocess.Popen(
        _command(config, "cp", "/src.bin", "/piped.bin"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=_env(),
    ) as process:
        os.close(terminal)
        assert process.stdout is not None
        out = process.stdout.read().decode()
        shown = _read_all(controller)
        assert process.wait(timeout=120) == 0, shown
    assert out == COPIED + "\n"
    assert shown == "", shown


def test_cp_r_counts_files_and_bytes_against_their_totals(
    tmp_path: Path, stack: StackInfo, bucket: str, sqlite_url: str
) -> None:
    config = write_config(tmp_path / "server.yaml", stack, bucket, sqlite_url)
    for number in range(3):
        source = tmp_path / f"part{number}.bin"
        source.write_bytes(os.urandom(SIZE))
        _put(config, source, f"/tree/d{number}/part.bin")

    shown = _on_terminal(config, "cp", "-r", "/tree", "/copy")
    text = ANSI.sub("", shown)
    # The last frame: all three files of three, and every byte of the total the listing gave.
    assert re.search(rf"cp /tree {BAR}+ 9\.4/9\.4 MB 3/3 files", text), text
    assert f"{3 * SIZE} bytes copied (3 files)" in text

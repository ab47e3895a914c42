"""What the mount's caches save, counted in the server's own requests (its /metrics).

- ``cp -r`` into a new directory: each new name is looked up before it is created; the mount
  made the directory, so it knows every name in it and answers those lookups itself, where each
  was a server stat answered "not found".
- Reading the files of a directory after its ``ls``, once the cached stats expired: the mount
  lists the directory again (one page) rather than stat each file.
- Another client's new file in a directory the mount knows whole shows up once the names expire.
"""

from __future__ import annotations

import errno
import os
import random
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.client.conftest import metric
from tests.fuse.conftest import Mounted, Namespace, start_mount, stop_mount
from tierstore.client import Client
from tierstore.fuse.attributes import Identity
from tierstore.fuse.errors import FuseError
from tierstore.fuse.operations import MountOptions, TierstoreOperations

ATTR_TIMEOUT = 1.0


def requests(namespace: Namespace, route: str) -> float:
    return metric(namespace.server, "tierstore_http_requests", route=route)


@pytest.fixture(scope="module")
def short_cache(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mounted]:
    """The namespace mounted with ``--attr-timeout 1``, so that expiry can be waited for."""
    mount = start_mount(
        tmp_path_factory.mktemp("fuse-cache") / "mnt",
        namespace.server,
        namespace.server.admin_token,
        "--attr-timeout",
        str(ATTR_TIMEOUT),
    )
    yield mount
    assert stop_mount(mount) == 0, mount.log_text()[-3000:]


def test_cp_r_into_a_new_directory_asks_the_server_no_stat_per_file(
    mounted: Mounted, namespace: Namespace, tmp_path: Path, workdir: Path
) -> None:
    chooser = random.Random(9)
    source = tmp_path / "tree"
    made = {}
    for number in range(60):
        relative = f"d{number % 3}/f{number:03d}.bin"
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        made[relative] = chooser.randbytes(chooser.randrange(1, 5000))
        (source / relative).write_bytes(made[relative])
    stats = requests(namespace, "/v1/fs/stat")

    subprocess.run(["cp", "-r", str(source), str(workdir / "copy")], check=True, timeout=120)

    # The copy's own directory is looked up (not yet known), its 3 directories and 60 files not.
    asked = requests(namespace, "/v1/fs/stat") - stats
    assert asked <= 5, f"{asked:.0f} stats for a cp -r of 60 files"
    for relative, data in made.items():
        assert (workdir / "copy" / relative).read_bytes() == data


def test_files_read_after_their_stats_expired_cost_one_listing(
    short_cache: Mounted, namespace: Namespace
) -> None:
    directory = f"/relist-{random.Random().randrange(10**6)}"
    with Client(namespace.server.url, namespace.server.admin_token) as admin:
        for number in range(40):
            admin.write(f"{directory}/f{number:02d}", f"file {number}\n".encode())
    where = short_cache.path / directory.lstrip("/")
    names = sorted(os.listdir(where))
    assert len(names) == 40
    time.sleep(ATTR_TIMEOUT + 0.2)
    stats, listings = requests(namespace, "/v1/fs/stat"), requests(namespace, "/v1/fs/ls")

    for number, name in enumerate(names):
        assert (where / name).read_bytes() == f"file {number}\n".encode()

    assert requests(namespace, "/v1/fs/stat") - stats <= 2
    assert requests(namespace, "/v1/fs/ls") - listings >= 1


def test_a_file_another_client_adds_shows_once_the_names_expire(
    short_cache: Mounted, namespace: Namespace
) -> None:
    directory = short_cache.path / f"names-{random.Random().randrange(10**6)}"
    directory.mkdir()
    assert not (directory / "late.txt").exists()  # known not to be there: the mount made it empty
    with Client(namespace.server.url, namespace.server.admin_token) as admin:
        admin.write(f"/{directory.name}/late.txt", b"from another client\n")
    deadline = time.monotonic() + ATTR_TIMEOUT + 5
    while not (directory / "late.txt").exists():
        assert time.monotonic() < deadline, "another client's file never showed through the mount"
        time.sleep(0.1)
    assert (directory / "late.txt").read_bytes() == b"from another client\n"


def test_a_listing_a_rename_overtook_is_not_kept(
    namespace: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rsync writes ``.name.XXXXXX`` and renames it; a listing the server answered before the
    # rename and the mount kept after it showed the temporary name, and reading it failed with
    # EIO (seen on CI). The mount's callbacks in this process, against the real server: the
    # rename lands between the server's answer and the caches' keeping it.
    root = f"/rename-race-{secrets.token_hex(3)}"
    with Client(namespace.server.url, namespace.server.admin_token) as client:
        client.write(f"{root}/d/.f.txt.tmp", b"data")
        operations = TierstoreOperations(
            client, Identity.from_whoami(client.whoami()), MountOptions(root=root, attr_timeout=60)
        )
        try:
            listing = client.iter_dir

            def answer_then_rename(path: str, **options: Any) -> Iterator[dict[str, Any]]:
                answer = list(listing(path, **options))
                operations.rename("/d/.f.txt.tmp", "/d/f.txt")
                return iter(answer)

            monkeypatch.setattr(client, "iter_dir", answer_then_rename)
            assert names_in(operations, "/d") == [".f.txt.tmp"]  # what was asked before the rename
            monkeypatch.undo()
            assert operations.names.names("/d") is None  # not kept: the rename came after the question
            with pytest.raises(FuseError) as missing:
                operations.getattr("/d/.f.txt.tmp")
            assert missing.value.errno == errno.ENOENT
            assert names_in(operations, "/d") == ["f.txt"]
            assert operations.getattr("/d/f.txt")["st_size"] == 4
        finally:
            operations.destroy("/")


def names_in(operations: TierstoreOperations, directory: str) -> list[str]:
    return sorted(entry[0] for entry in operations.readdir(directory, 0) if isinstance(entry, tuple))


def test_a_chmod_between_close_and_release_is_kept(namespace: Namespace) -> None:
    # close(2) completes the upload (FLUSH); the kernel sends RELEASE after close returns, so a
    # chmod may come in between. It waited for a commit that had already happened, and was lost
    # (seen once in test_chmod_and_chown_are_kept_in_the_namespace). The mount's callbacks here,
    # in this process, against the real server, in that order.
    root = f"/chmod-race-{secrets.token_hex(3)}"
    with Client(namespace.server.url, namespace.server.admin_token) as client:
        client.mkdir(root)
        operations = TierstoreOperations(
            client, Identity.from_whoami(client.whoami()), MountOptions(root=root, attr_timeout=60)
        )
        try:
            for name, chmod_before_close in (("early.txt", True), ("late.txt", False)):
                handle = SimpleNamespace(fh=0, flags=os.O_WRONLY)
                operations.create(f"/{name}", 0o644, handle)
                operations.write(f"/{name}", b"bits\n", 0, handle)
                if chmod_before_close:
                    operations.chmod(f"/{name}", 0o640)  # waits for the commit
                operations.flush(f"/{name}", handle)  # close(2): the upload completes
                if not chmod_before_close:
                    operations.chmod(f"/{name}", 0o640)  # before the kernel's release
                operations.release(f"/{name}", handle)
                assert client.stat(f"{root}/{name}", sync=True)["mode"] == "0640", name
                assert client.read(f"{root}/{name}") == b"bits\n"
        finally:
            operations.destroy("/")

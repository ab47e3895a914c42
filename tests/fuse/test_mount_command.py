"""``tierstore fuse mount | unmount`` as a user runs them: the refusals, a mount in the background
and its unmount, and SIGTERM / Ctrl-C completing a file still open for writing before the mount
goes away, with no upload left behind in the store."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.fuse.conftest import Mounted, Namespace, fuse_command, start_mount, stop_mount
from tests.tools import require_tool
from tierstore.client import Client
from tierstore.fuse.mount import huge_page_environment, is_mounted

MIB = 1024 * 1024


def fuse(namespace: Namespace, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIERSTORE_TOKEN": namespace.server.admin_token}
    return subprocess.run(
        [*fuse_command(*args), "--server", namespace.server.url]
        if args[0] == "mount"
        else fuse_command(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_mount_refuses_a_missing_a_non_empty_and_a_mounted_mount_point(
    namespace: Namespace, mounted: Mounted, tmp_path: Path
) -> None:
    missing = fuse(namespace, "mount", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "does not exist; create it (mkdir -p" in missing.stderr

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    full = fuse(namespace, "mount", str(tmp_path / "full"))
    assert full.returncode == 2 and "is not empty" in full.stderr

    again = fuse(namespace, "mount", str(mounted.path))
    assert again.returncode == 2 and "is already mounted; unmount it first" in again.stderr

    not_mounted = fuse(namespace, "unmount", str(tmp_path))
    assert not_mounted.returncode == 2 and "is not mounted" in not_mounted.stderr


def test_mount_refuses_without_dev_fuse_and_says_how_to_get_it(namespace: Namespace, tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    assert unshare is not None, "util-linux's unshare is missing"
    (tmp_path / "mnt").mkdir()
    # A mount namespace of its own whose /dev is an empty tmpfs: no /dev/fuse there.
    command = " ".join(
        [
            "mount -t tmpfs none /dev &&",
            "exec",
            *fuse_command("mount", str(tmp_path / "mnt"), "--server", namespace.server.url),
        ]
    )
    done = subprocess.run(
        [unshare, "--mount", "sh", "-c", command],
        env={**os.environ, "TIERSTORE_TOKEN": namespace.server.admin_token},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "/dev/fuse does not exist" in done.stderr
    assert "--device /dev/fuse --cap-add SYS_ADMIN" in done.stderr and "modprobe fuse" in done.stderr


def test_a_bad_token_or_path_is_refused_before_mounting(namespace: Namespace, tmp_path: Path) -> None:
    (tmp_path / "mnt").mkdir()
    env = {**os.environ, "TIERSTORE_TOKEN": "tsk_not-a-token"}
    done = subprocess.run(
        fuse_command("mount", str(tmp_path / "mnt"), "--server", namespace.server.url),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "refused the bearer token" in done.stderr
    assert "tsk_not-a-token" not in done.stderr
    nowhere = fuse(namespace, "mount", str(tmp_path / "mnt"), "--path", "/no/such/dir")
    assert nowhere.returncode == 2 and "--path /no/such/dir: no such directory" in nowhere.stderr
    assert not is_mounted(tmp_path / "mnt")


def test_mount_in_the_background_then_unmount(namespace: Namespace, tmp_path: Path) -> None:
    require_tool("fusermount3")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    log = tmp_path / "fuse.log"
    done = fuse(namespace, "mount", str(mountpoint), "--path", "/b", "--log-file", str(log))
    assert done.returncode == 0, done.stderr
    try:
        assert is_mounted(mountpoint)
        served = int(done.stdout.split("(process ", 1)[1].split(",", 1)[0])
        if platform.libc_ver()[0] == "glibc":  # the served child inherits glibc's huge-page tunable
            assert "glibc.malloc.hugetlb=1" in _environment_of(served).get("GLIBC_TUNABLES", "")
        (mountpoint / "bg.txt").write_text("from the background mount\n")
        assert (mountpoint / "bg.txt").read_text() == "from the background mount\n"
        with Client(namespace.server.url, namespace.server.admin_token) as admin:
            assert admin.read("/b/bg.txt") == b"from the background mount\n"
    except BaseException:
        # A failed check must not leave the background mount behind (pytest could then not
        # remove its directory, and later runs warn about it).
        subprocess.run(["fusermount3", "-uz", str(mountpoint)], check=False)
        raise
    off = fuse(namespace, "unmount", str(mountpoint))
    assert off.returncode == 0, off.stderr
    assert not is_mounted(mountpoint)
    deadline = time.monotonic() + 20
    while "unmounted" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.05)


@pytest.mark.parametrize("signal_name", ["sigterm", "sigint"])
def test_a_signal_completes_open_files_and_unmounts(
    namespace: Namespace, tmp_path: Path, signal_name: str
) -> None:
    mount = start_mount(tmp_path / "mnt", namespace.server, namespace.server.admin_token)
    name = f"/signal-{signal_name}.bin"
    data = os.urandom(3 * MIB)
    handle = open(mount.path / name.lstrip("/"), "wb", buffering=0)  # noqa: SIM115 - left open on purpose
    handle.write(data)
    code = stop_mount(mount, how=signal_name)
    assert code == 0, mount.log_text()[-3000:]
    assert not is_mounted(mount.path)
    with contextlib.suppress(OSError):  # the mount is gone under it
        handle.close()
    with Client(namespace.server.url, namespace.server.admin_token) as admin:
        assert admin.read(name) == data
    assert "completed at unmount" in mount.log_text()


def _environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def test_huge_page_environment_adds_the_tunable_once_and_keeps_the_others() -> None:
    added = huge_page_environment({"PATH": "/bin"})
    assert added is not None
    assert added["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    assert added["PATH"] == "/bin"
    kept = huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert kept is not None
    assert kept["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    # Set already, or started again already (glibc dropped it): never started a third time.
    assert huge_page_environment(added) is None
    assert huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}) is None


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc"
    or tuple(int(x) for x in platform.libc_ver()[1].split(".")[:2]) < (2, 35),
    reason="glibc.malloc.hugetlb is glibc 2.35's",
)
def test_the_mount_process_asks_glibc_for_huge_pages(mounted: Mounted) -> None:
    """The served mount runs with glibc.malloc.hugetlb=1 (the read-ahead blocks then fault in
    2 MiB pages), in the same process the command started as."""
    environ = _environment_of(mounted.process.pid)
    assert "glibc.malloc.hugetlb=1" in environ.get("GLIBC_TUNABLES", "").split(":")
    assert is_mounted(mounted.path)

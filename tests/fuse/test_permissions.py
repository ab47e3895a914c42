"""The namespace's bits through the mount: a user without the read bit gets EACCES, one without
the write bit on a directory gets EACCES creating in it; a read-only namespace mount and a mount
made with --read-only give EROFS on every change, while reads go on."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tests.fuse.conftest import Mounted, Namespace, start_mount, stop_mount
from tierstore.client import Client


def test_the_namespace_bits_decide_for_another_user(namespace: Namespace, tmp_path: Path) -> None:
    with Client(namespace.server.url, namespace.server.admin_token) as admin:
        admin.chmod("/", "0755")
        admin.mkdir("/perm")
        admin.write("/perm/secret.txt", b"for admins\n")
        admin.write("/perm/public.txt", b"for all\n")
        admin.chown("/perm", "admin")
        admin.chmod("/perm", "0755")
        admin.chmod("/perm/secret.txt", "0600")
        admin.chmod("/perm/public.txt", "0644")
    token = namespace.server.add_user("alice-fuse")
    mount = start_mount(tmp_path / "alice", namespace.server, token, "--attr-timeout", "1")
    try:
        assert (mount.path / "perm/public.txt").read_text() == "for all\n"
        with pytest.raises(PermissionError):
            (mount.path / "perm/secret.txt").read_text()
        with pytest.raises(PermissionError):
            (mount.path / "perm/new.txt").write_text("not allowed")
        with pytest.raises(PermissionError):
            (mount.path / "perm/public.txt").unlink()
        # Owned by nobody here: alice is not the namespace's owner of /perm.
        assert (mount.path / "perm").stat().st_uid == 65534
    finally:
        assert stop_mount(mount) == 0


def test_read_only_mounts_refuse_changes_with_erofs(
    namespace: Namespace, mounted: Mounted, tmp_path: Path
) -> None:
    with pytest.raises(OSError) as refused:
        (mounted.path / "ro" / "x.txt").write_text("no")
    assert refused.value.errno == errno.EROFS
    with Client(namespace.server.url, namespace.server.admin_token) as admin:
        admin.write("/ro-check.txt", b"readable\n")
    mount = start_mount(tmp_path / "ro", namespace.server, namespace.server.admin_token, "--read-only")
    try:
        assert (mount.path / "ro-check.txt").read_text() == "readable\n"
        for change in (
            lambda: (mount.path / "new.txt").write_text("no"),
            (mount.path / "ro-check.txt").unlink,
            (mount.path / "dir").mkdir,
        ):
            with pytest.raises(OSError) as caught:
                change()
            assert caught.value.errno == errno.EROFS
    finally:
        assert stop_mount(mount) == 0

"""POSIX rules HDFS and Alluxio users expect, existence leaks, mount owners and the mount table.

All through a real ``tierstore serve`` over SeaweedFS and a local-directory mount.
"""

from __future__ import annotations

import httpx

from tests.security.conftest import SECRET, Hostile


def _status(answer: httpx.Response) -> int:
    return answer.status_code


def test_the_search_bit_of_every_ancestor_is_checked(hostile: Hostile) -> None:
    # alice opens her file to everyone, but /shared/alice (0700) has no x for bob.
    assert hostile.alice.post(
        "/v1/fs/chmod", json={"path": "/shared/alice/secret.txt", "mode": "0666"}
    ).is_success
    for answer in (
        hostile.bob.get("/v1/data", params={"path": "/shared/alice/secret.txt"}),
        hostile.bob.get("/v1/fs/stat", params={"path": "/shared/alice/secret.txt"}),
        hostile.bob.put("/v1/data", params={"path": "/shared/alice/secret.txt"}, content=b"x"),
        hostile.bob.post("/v1/credentials", json={"path": "/shared/alice/secret.txt"}),
    ):
        assert _status(answer) == 403, answer.text
        assert "search (x)" in answer.json()["error"]["message"]
    # With x but no r on the directory, POSIX lets bob read a file he knows the name of.
    assert hostile.alice.post("/v1/fs/chmod", json={"path": "/shared/alice", "mode": "0711"}).is_success
    assert hostile.bob.get("/v1/data", params={"path": "/shared/alice/secret.txt"}).content == SECRET
    assert _status(hostile.bob.get("/v1/fs/ls", params={"path": "/shared/alice"})) == 403


def test_rm_and_mv_go_by_the_parent_directory(hostile: Hostile) -> None:
    # bob's own file in alice's directory, which alice made read-only to others: bob cannot remove it.
    hostile.alice.post("/v1/fs/chmod", json={"path": "/shared/alice", "mode": "0777"})
    hostile.bob.put("/v1/data", params={"path": "/shared/alice/bob.txt"}, content=b"b")
    hostile.alice.post("/v1/fs/chmod", json={"path": "/shared/alice", "mode": "0755"})
    assert _status(hostile.bob.post("/v1/fs/rm", json={"path": "/shared/alice/bob.txt"})) == 403
    # alice may remove a file she cannot write, because its directory is hers.
    hostile.admin.put("/v1/data", params={"path": "/shared/alice/admins.txt"}, content=b"a")
    hostile.admin.post("/v1/fs/chmod", json={"path": "/shared/alice/admins.txt", "mode": "0444"})
    assert hostile.alice.post("/v1/fs/rm", json={"path": "/shared/alice/admins.txt"}).is_success
    moved = hostile.alice.post(
        "/v1/fs/mv", json={"source": "/shared/alice/bob.txt", "dest": "/shared/alice/b2"}
    )
    assert moved.is_success, moved.text
    assert hostile.alice.get("/v1/fs/stat", params={"path": "/shared/alice/b2"}).json()["owner"] == "bob"


def test_a_sticky_directory_keeps_others_from_removing_or_renaming(hostile: Hostile) -> None:
    hostile.admin.post("/v1/fs/mkdir", json={"path": "/tmp"})
    assert hostile.admin.post("/v1/fs/chmod", json={"path": "/tmp", "mode": "1777"}).json()["mode"] == "1777"
    hostile.alice.put("/v1/data", params={"path": "/tmp/alice.txt"}, content=b"a")
    assert _status(hostile.bob.post("/v1/fs/rm", json={"path": "/tmp/alice.txt"})) == 403
    assert _status(hostile.bob.post("/v1/fs/mv", json={"source": "/tmp/alice.txt", "dest": "/tmp/b"})) == 403
    # The file alice made is 0644 (umask 022), so bob cannot overwrite it either.
    assert _status(hostile.bob.put("/v1/data", params={"path": "/tmp/alice.txt"}, content=b"x")) == 403
    hostile.bob.put("/v1/data", params={"path": "/tmp/bob.txt"}, content=b"b")
    assert hostile.bob.post("/v1/fs/rm", json={"path": "/tmp/bob.txt"}).is_success
    assert hostile.alice.post("/v1/fs/rm", json={"path": "/tmp/alice.txt"}).is_success
    # Write credentials for a sticky directory that is not yours cannot be vended.
    assert _status(hostile.vend(hostile.bob, "/tmp/", "write")) == 403


def test_chgrp_is_limited_to_the_owners_groups(hostile: Hostile) -> None:
    denied = hostile.alice.post("/v1/fs/chown", json={"path": "/shared/alice", "group": "bob"})
    assert denied.status_code == 403, denied.text
    assert "not in the group bob" in denied.json()["error"]["message"]
    assert hostile.alice.post("/v1/fs/chown", json={"path": "/shared/alice", "group": "alice"}).is_success
    assert hostile.admin.post("/v1/fs/chown", json={"path": "/shared/alice", "group": "bob"}).is_success


def test_no_route_tells_what_exists_in_a_directory_the_caller_cannot_search(hostile: Hostile) -> None:
    for existing, missing in (("/shared/alice/secret.txt", "/shared/alice/nothing.txt"),):
        pairs = (
            ("mkdir", {"path": existing}, {"path": missing}),
            ("rm", {"path": existing}, {"path": missing}),
            ("chmod", {"path": existing, "mode": "0777"}, {"path": missing, "mode": "0777"}),
            ("mv", {"source": existing, "dest": "/shared/x"}, {"source": missing, "dest": "/shared/x"}),
        )
        for route, there, not_there in pairs:
            first = hostile.bob.post(f"/v1/fs/{route}", json=there)
            second = hostile.bob.post(f"/v1/fs/{route}", json=not_there)
            assert (first.status_code, second.status_code) == (403, 403), (route, first.text, second.text)
        stat_there = hostile.bob.get("/v1/fs/stat", params={"path": existing})
        stat_missing = hostile.bob.get("/v1/fs/stat", params={"path": missing})
        assert stat_there.status_code == stat_missing.status_code == 403


def test_a_tierstore_user_named_like_the_store_or_os_owner_owns_nothing(hostile: Hostile) -> None:
    tokens = {name: hostile.server.add_user(name) for name in ("root", "admin-x")}
    root = httpx.Client(base_url=hostile.server.url, headers=hostile.server.auth(tokens["root"]), timeout=30)
    with root:
        mounts = hostile.admin.get("/v1/mounts").json()["mounts"]
        owners = {m["path"]: m["owner"] for m in mounts}
        # The root mount's ACL owner is SeaweedFS's "admin" account, the local mount's directory
        # is the OS user root's: neither becomes a tierstore owner; the local mount belongs to
        # the admin who mounted it.
        assert owners["/"] == ""
        assert owners["/mnt/local"] == "admin"
        hostile.admin.put("/v1/data", params={"path": "/mnt/local/f"}, content=b"f")
        hostile.admin.post("/v1/fs/chmod", json={"path": "/mnt/local/f", "mode": "0600"})
        assert root.get("/v1/data", params={"path": "/mnt/local/f"}).status_code == 403
        assert root.post("/v1/fs/chmod", json={"path": "/mnt/local", "mode": "0777"}).status_code == 403


def test_a_mount_is_owned_by_the_user_named_at_mount_time(hostile: Hostile, tmp_path: object) -> None:
    other = hostile.local_dir.parent / "alices-mount"
    other.mkdir()
    body = {"path": "/mnt/alices", "uri": f"file://{other}", "owner": "alice"}
    added = hostile.admin.post("/v1/mounts", json=body)
    assert added.status_code == 201 and added.json()["owner"] == "alice", added.text
    unknown = hostile.admin.post("/v1/mounts", json={**body, "path": "/mnt/x", "owner": "nobody"})
    assert unknown.status_code == 400 and "not a tierstore user" in unknown.text


def test_ordinary_users_see_mount_points_only(hostile: Hostile) -> None:
    shown = hostile.bob.get("/v1/mounts").json()["mounts"]
    assert {tuple(sorted(m)) for m in shown} == {("path", "readonly", "shared")}
    assert hostile.bucket not in str(shown) and str(hostile.local_dir) not in str(shown)
    full = hostile.admin.get("/v1/mounts").json()["mounts"]
    assert any(m.get("uri", "").startswith("file://") for m in full)


def test_a_refusal_names_the_command_that_lets_the_user_in(hostile: Hostile) -> None:
    path = "/shared/admins-notes.txt"
    assert hostile.admin.put("/v1/data", params={"path": path}, content=b"notes").is_success
    assert hostile.admin.post("/v1/fs/chmod", json={"path": path, "mode": "0600"}).is_success
    refused = hostile.bob.get("/v1/data", params={"path": path})
    assert _status(refused) == 403
    message = refused.json()["error"]["message"]
    assert f"tierstore fs chmod o+r {path}" in message
    # The advice works as given: the admin runs it and bob's very next read succeeds.
    mode = message.split("tierstore fs chmod ")[1].split()[0]
    assert hostile.admin.post("/v1/fs/chmod", json={"path": path, "mode": mode}).is_success
    assert hostile.bob.get("/v1/data", params={"path": path}).content == b"notes"

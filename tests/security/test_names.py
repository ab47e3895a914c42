"""Bad names are a 4xx naming the path and what is wrong, on every route and both mount kinds.

Against a real server over SeaweedFS (S3 root mount) and a local-directory mount. SeaweedFS turns
a backslash in a key into ``/``, which is why a backslash is refused on S3 mounts.
"""

from __future__ import annotations

import json
import logging
import urllib.parse

import httpx
import pytest

from tests.security.conftest import SECRET, Hostile

S3_DIR = "/shared"
LOCAL_DIR = "/mnt/local"

BAD_EVERYWHERE = {
    "nul": ("a\x00b", 400, "NUL"),
    "lone surrogate": ("a\ud800b", 400, "surrogate"),
    "path over PATH_MAX": ("/".join(["d" * 200] * 25), 414, "PATH_MAX"),
}
# Control characters can be read where a store already holds them, never created.
BAD_NEW_NAMES = {"tab": ("a\tb", 400, "control character"), "newline": ("a\nb", 400, "control character")}


def _routes(http: httpx.Client, path: str) -> dict[str, httpx.Response]:
    """Every route that takes a path, sent with ``path`` in a JSON body or a raw query string."""
    query = "path=" + urllib.parse.quote(path.encode("utf-8", "surrogatepass"), safe="/")
    body = json.dumps({"path": path, "source": path, "dest": path + "x", "mode": "0700"}).encode()
    headers = {"content-type": "application/json"}
    return {
        "stat": http.get(f"/v1/fs/stat?{query}"),
        "ls": http.get(f"/v1/fs/ls?{query}"),
        "get": http.get(f"/v1/data?{query}"),
        "put": http.put(f"/v1/data?{query}", content=b"x"),
        "delete": http.delete(f"/v1/data?{query}"),
        "mkdir": http.post("/v1/fs/mkdir", content=body, headers=headers),
        "rm": http.post("/v1/fs/rm", content=body, headers=headers),
        "mv": http.post("/v1/fs/mv", content=body, headers=headers),
        "chmod": http.post("/v1/fs/chmod", content=body, headers=headers),
        "vend": http.post("/v1/credentials", content=body, headers=headers),
    }


@pytest.mark.parametrize("directory", [S3_DIR, LOCAL_DIR])
@pytest.mark.parametrize("case", sorted(BAD_EVERYWHERE))
def test_bad_paths_are_refused_on_every_route(hostile: Hostile, directory: str, case: str) -> None:
    name, status, words = BAD_EVERYWHERE[case]
    for route, answer in _routes(hostile.admin, f"{directory}/{name}").items():
        assert answer.status_code in (status, 400), f"{route}: {answer.status_code} {answer.text}"
        message = answer.json()["error"]["message"]
        assert words in message or "UTF-8" in message or "not valid" in message, f"{route}: {message}"


@pytest.mark.parametrize("directory", [S3_DIR, LOCAL_DIR])
@pytest.mark.parametrize("case", sorted(BAD_NEW_NAMES))
def test_control_characters_are_never_created(hostile: Hostile, directory: str, case: str) -> None:
    name, status, words = BAD_NEW_NAMES[case]
    path = f"{directory}/{name}"
    for answer in (
        hostile.admin.post("/v1/fs/mkdir", json={"path": path}),
        hostile.admin.put("/v1/data", params={"path": path}, content=b"x"),
        hostile.admin.post("/v1/fs/mv", json={"source": f"{S3_DIR}/alice/secret.txt", "dest": path}),
    ):
        assert answer.status_code == status, answer.text
        assert words in answer.json()["error"]["message"]
    listed = hostile.admin.get("/v1/fs/ls", params={"path": directory}).json()["entries"]
    assert all("\t" not in e["path"] and "\n" not in e["path"] for e in listed)


def test_an_object_with_a_control_character_written_straight_to_s3_is_still_readable(
    hostile: Hostile, admin_s3: object
) -> None:
    admin_s3.put_object(Bucket=hostile.bucket, Key=hostile.key_of("/shared/tab\there"), Body=b"tab")  # type: ignore[attr-defined]
    answer = hostile.admin.get("/v1/data", params={"path": "/shared/tab\there"})
    assert answer.status_code == 200, answer.text
    assert answer.content == b"tab"


def test_a_backslash_is_refused_on_s3_mounts(hostile: Hostile) -> None:
    sneaky = "/shared/alice\\secret.txt"
    for answer in (
        hostile.bob.get("/v1/data", params={"path": sneaky}),
        hostile.bob.put("/v1/data", params={"path": sneaky}, content=b"overwritten"),
        hostile.bob.get("/v1/fs/stat", params={"path": sneaky}),
        hostile.bob.post("/v1/fs/mv", json={"source": sneaky, "dest": "/shared/stolen.txt"}),
        hostile.bob.post("/v1/credentials", json={"path": sneaky}),
    ):
        assert answer.status_code == 400, answer.text
        assert "backslash" in answer.json()["error"]["message"]
    assert hostile.alice.get("/v1/data", params={"path": "/shared/alice/secret.txt"}).content == SECRET


def test_a_backslash_is_an_ordinary_character_on_local_mounts(hostile: Hostile) -> None:
    path = "/mnt/local/back\\slash.txt"
    assert hostile.admin.put("/v1/data", params={"path": path}, content=b"ok").status_code == 201
    assert (hostile.local_dir / "back\\slash.txt").read_bytes() == b"ok"


def test_a_name_over_name_max_on_a_local_mount_is_414(hostile: Hostile) -> None:
    answer = hostile.admin.put("/v1/data", params={"path": "/mnt/local/" + "n" * 300}, content=b"x")
    assert answer.status_code == 414, answer.text
    assert "NAME_MAX" in answer.json()["error"]["message"]


def test_deeply_nested_json_is_400(hostile: Hostile) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    answer = hostile.admin.post("/v1/fs/mkdir", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text


def test_a_newline_in_a_path_cannot_forge_an_audit_line(
    hostile: Hostile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tierstore.audit")
    hostile.admin.put("/v1/data", params={"path": "/mnt/local/x"}, content=b"x")
    forged = "/mnt/local/x\nvend user=admin path=/ access=write"
    hostile.bob.post("/v1/credentials", json={"path": forged, "access": "read"})
    hostile.bob.post("/v1/credentials", json={"path": "/shared/", "access": "read"})
    lines = [r.getMessage() for r in caplog.records if r.name == "tierstore.audit"]
    assert lines, "no audit line was written"
    for line in lines:
        assert "\n" not in line
        entry = json.loads(line)
        assert entry["user"] in ("bob", "admin")

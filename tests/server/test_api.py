"""Every route of the API against a real server on the session's SeaweedFS: auth, mounts, file
system, data proxy (ranged and streaming), OpenAPI, metrics, health and readiness."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from openapi_spec_validator import validate

from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tierstore.local.info import StackInfo
from tierstore.server.app import ROUTES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    message: str = error["message"]
    return message


# -- authentication ------------------------------------------------------------------------------


def test_no_or_a_wrong_token_is_401_with_a_json_body(api: RunningServer) -> None:
    for headers in ({}, {"Authorization": "Bearer tsk_not-a-real-token"}, {"Authorization": "Basic eDp5"}):
        answer = httpx.get(f"{api.url}/v1/whoami", headers=headers, timeout=30)
        assert_error(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"].startswith("Bearer")
    for method, route in (("GET", "/v1/mounts"), ("POST", "/v1/credentials"), ("PUT", "/v1/data")):
        assert_error(httpx.request(method, f"{api.url}{route}", timeout=30), 401, "unauthorized")


def test_public_routes_need_no_token(api: RunningServer) -> None:
    assert httpx.get(f"{api.url}/v1/health", timeout=30).json()["status"] == "ok"
    assert httpx.get(f"{api.url}/v1/ready", timeout=30).json() == {"status": "ready"}
    assert "tierstore_http_requests_total" in httpx.get(f"{api.url}/metrics", timeout=30).text
    assert httpx.get(f"{api.url}/openapi.json", timeout=30).json()["openapi"].startswith("3.")


def test_whoami_and_a_removed_user(api: RunningServer, client: httpx.Client) -> None:
    assert client.get("/v1/whoami").json() == {"user": "admin", "groups": [], "admin": True}
    token = api.add_user("bob", ["staff", "eng"])
    answer = httpx.get(f"{api.url}/v1/whoami", headers=api.auth(token), timeout=30)
    assert answer.json() == {"user": "bob", "groups": ["eng", "staff"], "admin": False}
    api.state.users.remove("bob")  # also clears the lookup cache
    assert_error(httpx.get(f"{api.url}/v1/whoami", headers=api.auth(token), timeout=30), 401, "unauthorized")


def test_mount_changes_are_for_admins_only(
    api: RunningServer, client: httpx.Client, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    other = make_bucket()
    keys = stack.admin
    options = {
        "aws.accessKeyId": keys.access_key_id,
        "aws.secretKey": keys.secret_access_key.reveal(),
        "alluxio.underfs.s3.endpoint": stack.endpoint,
    }
    body = {"path": "/mnt/other", "uri": f"s3://{other}/base", "options": options}
    bob = api.auth(api.add_user("bob"))
    message = assert_error(
        httpx.post(f"{api.url}/v1/mounts", json=body, headers=bob, timeout=30), 403, "forbidden"
    )
    assert "admin" in message
    added = client.post("/v1/mounts", json=body)
    assert added.status_code == 201, added.text
    shown = added.json()
    assert shown["uri"] == f"s3://{other}/base/" and shown["readonly"] is False
    assert shown["options"]["aws.secretKey"] == "****"
    assert shown["options"]["aws.accessKeyId"] == keys.access_key_id[:4] + "…"
    listed = client.get("/v1/mounts").json()["mounts"]
    assert [mount["path"] for mount in listed] == ["/", "/mnt/other"]
    assert keys.secret_access_key.reveal() not in client.get("/v1/mounts").text
    assert_error(client.post("/v1/mounts", json=body), 400, "bad_request")  # already mounted
    assert_error(
        httpx.delete(f"{api.url}/v1/mounts", params={"path": "/mnt/other"}, headers=bob, timeout=30),
        403,
        "forbidden",
    )
    assert client.delete("/v1/mounts", params={"path": "/mnt/other"}).json()["path"] == "/mnt/other"
    assert [mount["path"] for mount in client.get("/v1/mounts").json()["mounts"]] == ["/"]


# -- file system ---------------------------------------------------------------------------------


def test_file_system_routes(
    api: RunningServer, client: httpx.Client, bucket: str, admin_s3: S3Client
) -> None:
    assert client.post("/v1/fs/mkdir", json={"path": "/d/e", "parents": True}).status_code == 201
    assert_error(client.post("/v1/fs/mkdir", json={"path": "/d/e"}), 409, "conflict")
    assert client.put("/v1/data", params={"path": "/d/e/f.txt"}, content=b"abc").status_code == 201
    assert admin_s3.get_object(Bucket=bucket, Key="root/d/e/f.txt")["Body"].read() == b"abc"
    status = client.get("/v1/fs/stat", params={"path": "/d/e/f.txt"}).json()
    assert (status["type"], status["size"], status["mount"]) == ("file", 3, "/")
    entries = client.get("/v1/fs/ls", params={"path": "/d", "recursive": "true"}).json()["entries"]
    assert [entry["path"] for entry in entries] == ["/d/e", "/d/e/f.txt"]
    moved = client.post("/v1/fs/mv", json={"source": "/d/e/f.txt", "dest": "/d/g.txt"}).json()
    assert moved["moved"] == 3
    assert_error(client.get("/v1/fs/stat", params={"path": "/d/e/f.txt"}), 404, "not_found")
    chmod = client.post("/v1/fs/chmod", json={"path": "/d/g.txt", "mode": "0640"}).json()
    assert chmod["mode"] == "0640"
    chown = client.post("/v1/fs/chown", json={"path": "/d/g.txt", "owner": "bob", "group": "eng"}).json()
    assert (chown["owner"], chown["group"]) == ("bob", "eng")
    # bob owns g.txt now (0640): bob may read it; carol may not. Both may search / and /d.
    assert client.post("/v1/fs/chmod", json={"path": "/", "mode": "0711"}).status_code == 200
    assert client.post("/v1/fs/chmod", json={"path": "/d", "mode": "0711"}).status_code == 200
    bob, carol = api.add_user("bob", ["eng"]), api.add_user("carol")
    assert (
        httpx.get(
            f"{api.url}/v1/data", params={"path": "/d/g.txt"}, headers=api.auth(bob), timeout=30
        ).content
        == b"abc"
    )
    denied = httpx.get(f"{api.url}/v1/data", params={"path": "/d/g.txt"}, headers=api.auth(carol), timeout=30)
    assert "permission denied for user carol" in assert_error(denied, 403, "forbidden")
    assert_error(client.post("/v1/fs/rm", json={"path": "/d"}), 400, "bad_request")  # a directory
    assert client.post("/v1/fs/rm", json={"path": "/d", "recursive": True}).json()["removed"] >= 2
    assert client.get("/v1/fs/ls", params={"path": "/"}).json()["entries"] == []


def test_bad_requests_name_what_is_wrong(client: httpx.Client) -> None:
    assert "'path'" in assert_error(client.get("/v1/fs/stat"), 400, "bad_request")
    assert "absolute" in assert_error(client.get("/v1/fs/stat", params={"path": "rel"}), 400, "bad_request")
    assert "JSON" in assert_error(client.post("/v1/fs/mkdir", content=b"{"), 400, "bad_request")
    message = assert_error(
        client.post("/v1/fs/rm", json={"path": "/x", "recursive": "yes"}), 400, "bad_request"
    )
    assert "'recursive' must be a bool" in message
    message = assert_error(
        client.post("/v1/credentials", json={"path": "/", "access": "all"}), 400, "bad_request"
    )
    assert "read or write" in message
    assert_error(client.get("/v1/nothing"), 404, "not_found")


# -- data proxy ----------------------------------------------------------------------------------


def test_streaming_put_and_ranged_get_of_a_large_file(
    client: httpx.Client, bucket: str, admin_s3: S3Client
) -> None:
    size = 20 * MiB + 12345
    data = os.urandom(size)

    def body() -> bytes:  # sent in 1 MiB pieces: the server never sees it as one piece
        yield from (data[start : start + MiB] for start in range(0, size, MiB))

    put = client.put("/v1/data", params={"path": "/big/file.bin"}, content=body())
    assert put.status_code == 201 and put.json()["size"] == size
    stored = admin_s3.head_object(Bucket=bucket, Key="root/big/file.bin")
    assert stored["ContentLength"] == size
    assert "-" in stored["ETag"]  # a multipart upload: the body was streamed in parts

    head = client.head("/v1/data", params={"path": "/big/file.bin"})
    assert head.status_code == 200 and head.headers["content-length"] == str(size) and head.content == b""
    digest = hashlib.sha256()
    with client.stream("GET", "/v1/data", params={"path": "/big/file.bin"}) as whole:
        assert whole.status_code == 200 and whole.headers["content-length"] == str(size)
        for chunk in whole.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()

    start, end = 5 * MiB - 7, 9 * MiB + 3
    ranged = client.get(
        "/v1/data", params={"path": "/big/file.bin"}, headers={"Range": f"bytes={start}-{end}"}
    )
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert ranged.headers["content-length"] == str(end - start + 1)
    assert ranged.content == data[start : end + 1]
    tail = client.get("/v1/data", params={"path": "/big/file.bin"}, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    beyond = client.get("/v1/data", params={"path": "/big/file.bin"}, headers={"Range": f"bytes={size}-"})
    assert_error(beyond, 416, "bad_request")
    assert beyond.headers["content-range"] == f"bytes */{size}"

    assert client.delete("/v1/data", params={"path": "/big/file.bin"}).json() == {"removed": 1}
    assert_error(client.get("/v1/data", params={"path": "/big/file.bin"}), 404, "not_found")


# -- description and metrics ---------------------------------------------------------------------


def test_openapi_describes_every_route_and_validates(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    validate(document)
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routed = {
        (route.path, method) for route in ROUTES for method in (route.methods or ()) if method != "HEAD"
    }
    assert described == routed
    assert document["paths"]["/v1/health"]["get"]["security"] == []
    assert "bearer" in document["components"]["securitySchemes"]


def test_metrics_count_requests_vends_and_sts_calls(api: RunningServer, client: httpx.Client) -> None:
    client.get("/v1/whoami")
    httpx.get(f"{api.url}/v1/whoami", timeout=30)
    client.put("/v1/data", params={"path": "/m.txt"}, content=b"12345")
    client.get("/v1/data", params={"path": "/m.txt"})
    client.post("/v1/credentials", json={"path": "/x/"})
    client.post("/v1/credentials", json={"path": "/x/"})
    text = httpx.get(f"{api.url}/metrics", timeout=30).text
    for line in (
        'tierstore_http_requests_total{method="GET",route="/v1/whoami",status="200"} 1.0',
        'tierstore_http_requests_total{method="GET",route="/v1/whoami",status="401"} 1.0',
        'tierstore_vended_credentials_total{access="read",cache="miss"} 1.0',
        'tierstore_vended_credentials_total{access="read",cache="hit"} 1.0',
        'tierstore_sts_calls_total{call="AssumeRole"} 1.0',
        'tierstore_data_bytes_total{direction="write"} 5.0',
        'tierstore_data_bytes_total{direction="read"} 5.0',
    ):
        assert line in text, line
    assert 'tierstore_http_request_seconds_bucket{le="0.005",method="POST",route="/v1/credentials"}' in text
    assert "tierstore_namespace_cache_hits" in text
    assert "tierstore_sts_failures_total" in text


def test_one_metadata_cache_serves_every_user(tmp_path: Path, stack: StackInfo, bucket: str) -> None:
    config = write_server_config(tmp_path / "server.yaml", stack, bucket)
    config.write_text(config.read_text().replace("cache.ttl: 0", "cache.ttl: 60"))
    server = start_api_server(config)
    try:
        admin = httpx.Client(base_url=server.url, headers=server.auth())
        bob = httpx.Client(base_url=server.url, headers=server.auth(server.add_user("bob")))
        admin.post("/v1/fs/chmod", json={"path": "/", "mode": "0711"})
        admin.post("/v1/fs/mkdir", json={"path": "/shared"})
        admin.post("/v1/fs/chmod", json={"path": "/shared", "mode": "0777"})
        admin.put("/v1/data", params={"path": "/shared/x.txt"}, content=b"x")

        def names() -> list[str]:
            listed = bob.get("/v1/fs/ls", params={"path": "/shared"})
            assert listed.status_code == 200, listed.text
            return [entry["path"] for entry in listed.json()["entries"]]

        assert names() == ["/shared/x.txt"]
        assert names() == ["/shared/x.txt"]  # from the cache
        hits = server.state.metrics.registry.get_sample_value("tierstore_namespace_cache_hits")
        assert hits is not None and hits >= 1
        # The cache's other counters are scraped too, read from the cache when asked.
        for name in ("entries", "misses"):
            value = server.state.metrics.registry.get_sample_value(f"tierstore_namespace_cache_{name}")
            assert value is not None and value >= 1, name
        for name in ("evictions", "expirations"):
            assert server.state.metrics.registry.get_sample_value(f"tierstore_namespace_cache_{name}") == 0
        # A write by another user drops the cached listing at once: no stale answer for 60 s.
        admin.put("/v1/data", params={"path": "/shared/y.txt"}, content=b"y")
        assert names() == ["/shared/x.txt", "/shared/y.txt"]
        bob.put("/v1/data", params={"path": "/shared/z.txt"}, content=b"z")
        assert [e["path"] for e in admin.get("/v1/fs/ls", params={"path": "/shared"}).json()["entries"]] == [
            "/shared/x.txt",
            "/shared/y.txt",
            "/shared/z.txt",
        ]
        admin.close()
        bob.close()
    finally:
        server.stop()


def test_an_upload_is_streamed_not_held(tmp_path: Path, stack: StackInfo, bucket: str) -> None:
    """A 96 MiB PUT through the proxy with 5 MiB parts, one at a time: the peak of memory traced in
    this process (server and client both) stays at half the body's size at most. Measured: 39 MiB,
    the same for 64 and 128 MiB bodies (parts in flight, the client's copies, boto3's buffers)."""
    config = write_server_config(tmp_path / "server.yaml", stack, bucket)
    config.write_text(config.read_text() + "s3.multipart.size: 5mb\ns3.multipart.concurrency: 1\n")
    size = 96 * MiB
    data = os.urandom(size)
    server = start_api_server(config)
    try:
        with httpx.Client(base_url=server.url, headers=server.auth(), timeout=60) as http:
            tracemalloc.start()
            try:
                pieces = (memoryview(data)[start : start + MiB] for start in range(0, size, MiB))
                put = http.put("/v1/data", params={"path": "/streamed.bin"}, content=pieces)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert put.status_code == 201 and put.json()["size"] == size
        assert peak < size // 2, f"peak {peak / MiB:.1f} MiB for a {size // MiB} MiB body"
    finally:
        server.stop()

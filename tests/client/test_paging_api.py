"""Paged listings through every client door: the JSON API (limits, tokens, streaming, the
OpenAPI description), ``Client.ls``/``iter_dir``, fsspec ``ls``/``find``/``walk`` and
``tierstore fs ls``, on a server over SeaweedFS with a local mount of 2,500 files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fsspec
import httpx
import pytest

from tests.client.conftest import serve_in
from tests.server.harness import RunningServer
from tierstore.client import Client
from tierstore.local import StackInfo

FILES = 2_500


@pytest.fixture
def server(tmp_path: Path, stack: StackInfo, bucket: str) -> Iterator[RunningServer]:
    running = serve_in(tmp_path / "server", stack, bucket, process=True)
    yield running
    running.stop()


@pytest.fixture
def local_mount(tmp_path: Path, server: RunningServer) -> str:
    directory = tmp_path / "many"
    (directory / "sub" / "deeper").mkdir(parents=True)
    for number in range(FILES):
        (directory / f"f{number:04d}.txt").write_bytes(b"x" * (number % 7))
    (directory / "sub" / "inner.txt").write_bytes(b"inner")
    (directory / "sub" / "deeper" / "leaf.txt").write_bytes(b"leaf")
    answer = httpx.post(
        f"{server.url}/v1/mounts",
        json={"path": "/many", "uri": f"file://{directory}"},
        headers=server.auth(),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return "/many"


def expected_names() -> list[str]:
    return [f"f{number:04d}.txt" for number in range(FILES)] + ["sub"]


def test_the_json_api_pages_with_limit_and_after(server: RunningServer, local_mount: str) -> None:
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=60) as http:
        first = http.get("/v1/fs/ls", params={"path": local_mount})
        assert first.status_code == 200, first.text
        page = first.json()
        assert len(page["entries"]) == 1000 and page["next"]  # the default limit
        names: list[str] = []
        after = None
        requests = 0
        while True:
            params = {"path": local_mount, "limit": 700}
            if after:
                params["after"] = after
            page = http.get("/v1/fs/ls", params=params).json()
            requests += 1
            assert len(page["entries"]) <= 700
            names.extend(entry["path"].rsplit("/", 1)[1] for entry in page["entries"])
            after = page["next"]
            if after is None:
                break
        assert names == expected_names()
        assert requests == 4  # 700 + 700 + 700 + 401, the last with next null

        # A page bigger than a store page is streamed out as it is fetched.
        big = http.get("/v1/fs/ls", params={"path": local_mount, "limit": 10_000, "sync": "true"})
        assert big.headers.get("transfer-encoding") == "chunked"
        assert [entry["path"].rsplit("/", 1)[1] for entry in big.json()["entries"]] == expected_names()
        assert big.json()["next"] is None

        recursive: list[str] = []
        after = None
        while True:
            params = {"path": f"{local_mount}/sub", "recursive": "true", "limit": 1}
            if after:
                params["after"] = after
            page = http.get("/v1/fs/ls", params=params).json()
            recursive.extend(entry["path"] for entry in page["entries"])
            after = page["next"]
            if after is None:
                break
        assert recursive == ["/many/sub/deeper", "/many/sub/deeper/leaf.txt", "/many/sub/inner.txt"]

        for bad, named in (
            ({"limit": "0"}, "limit 0 is out of range: use 1 to 10000"),
            ({"limit": "10001"}, "limit 10001 is out of range"),
            ({"limit": "many"}, "limit='many' must be a whole number"),
            ({"after": "not-a-token"}, "is not a token from a listing of /many"),
        ):
            answer = http.get("/v1/fs/ls", params={"path": local_mount, **bad})
            assert answer.status_code == 400, answer.text
            assert named in answer.json()["error"]["message"]


def test_the_openapi_description_documents_the_pages(server: RunningServer) -> None:
    description = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    listing = description["paths"]["/v1/fs/ls"]["get"]
    parameters = {parameter["name"]: parameter for parameter in listing["parameters"]}
    assert parameters["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 10000,
        "default": 1000,
    }
    assert "after" in parameters
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["entries", "next"]
    assert schema["properties"]["next"]["nullable"] is True


def test_client_and_fsspec_follow_the_pages(server: RunningServer, local_mount: str) -> None:
    with Client(server.url, server.admin_token) as client:
        assert [entry["path"].rsplit("/", 1)[1] for entry in client.ls(local_mount)] == expected_names()
        pages = iter(client.iter_dir(local_mount, page_size=100))
        assert next(pages)["path"] == "/many/f0000.txt"  # the first page, without the rest
        one = client.ls_page(local_mount, limit=3)
        assert [entry["path"] for entry in one["entries"]] == [
            "/many/f0000.txt",
            "/many/f0001.txt",
            "/many/f0002.txt",
        ]
        following = client.ls_page(local_mount, limit=2, after=one["next"])
        assert [entry["path"] for entry in following["entries"]] == ["/many/f0003.txt", "/many/f0004.txt"]
        tree = [entry["path"] for entry in client.iter_dir(local_mount, recursive=True, page_size=999)]
        assert len(tree) == FILES + 4 and len(set(tree)) == len(tree)

    fs = fsspec.filesystem("tierstore", server=server.url, token=server.admin_token, skip_instance_cache=True)
    assert len(fs.ls(local_mount, detail=False)) == FILES + 1
    found = fs.find(local_mount)
    assert len(found) == FILES + 2 and "/many/sub/deeper/leaf.txt" in found
    walked = {root: files for root, _, files in fs.walk(local_mount)}
    assert sorted(walked) == ["/many", "/many/sub", "/many/sub/deeper"]
    assert len(walked["/many"]) == FILES

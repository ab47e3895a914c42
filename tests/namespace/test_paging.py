"""Paged listings through FileSystem: a local mount of 25,000 files and an S3 prefix of 5,000
objects on SeaweedFS; pages within their limit, never overlapping nor skipping, stable while
files are added, recursive listings paged the same way, and tokens that open nothing new."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import put_objects
from tierstore.errors import AccessDeniedError, StoreError
from tierstore.local.info import StackInfo
from tierstore.namespace.config import load_server_config
from tierstore.namespace.filesystem import FileStatus, FileSystem
from tierstore.namespace.listing import START, Position, encode_token
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.permissions import Caller

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCAL_FILES = 25_000
S3_OBJECTS = 5_000


@pytest.fixture
def table(tmp_path: Path, stack: StackInfo, bucket: str) -> Iterator[MountTable]:
    admin = stack.admin
    config = tmp_path / "server.yaml"
    config.write_text(
        f"remote.data.dir: s3://{bucket}/root\n"
        f"s3.endpoint: {stack.endpoint}\ns3.region: us-east-1\n"
        f"s3.access-key: {admin.access_key_id}\n"
        f"s3.secret-key: {admin.secret_access_key.reveal()}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
        "tierstore.metadata.cache.ttl: 30\n"
    )
    loaded = load_server_config(config)
    table = MountTable(loaded, open_metadata(loaded.metadata_url))
    table.sync_root()
    yield table
    table.close()


def pages(fs: FileSystem, path: str, limit: int, *, recursive: bool = False) -> list[list[FileStatus]]:
    """Every page of a listing, checking each against its limit."""
    found: list[list[FileStatus]] = []
    after: str | None = None
    while True:
        page = fs.ls_page(path, limit=limit, after=after, recursive=recursive)
        entries = list(page)
        assert len(entries) <= limit
        found.append(entries)
        if page.next is None:
            return found
        assert entries, "a page with a next token holds entries"
        after = page.next


def flat(found: list[list[FileStatus]]) -> list[str]:
    return [entry.path for page in found for entry in page]


def test_a_local_directory_of_25000_files_pages_without_overlap_or_gap(
    tmp_path: Path, table: MountTable
) -> None:
    directory = tmp_path / "many"
    directory.mkdir()
    for number in range(LOCAL_FILES):
        (directory / f"f{number:05d}").write_bytes(b"")
    (directory / "sub").mkdir()
    (directory / "sub" / "inner").write_bytes(b"x")
    table.add("/local", f"file://{directory}")
    fs = FileSystem(table)

    found = pages(fs, "/local", 1000)
    listed = flat(found)
    expected = [f"/local/f{number:05d}" for number in range(LOCAL_FILES)] + ["/local/sub"]
    assert listed == expected  # key order, each entry once
    assert len(found) == 26 and all(len(page) == 1000 for page in found[:-1])
    # Exact end: the last page says there is nothing after it.
    assert len(found[-1]) == 1
    assert [len(page) for page in pages(fs, "/local", 7_000)] == [7000, 7000, 7000, 4001]
    assert fs.ls("/local") == [entry for page in found for entry in page]


def test_an_s3_prefix_of_5000_objects_pages_at_the_store(
    table: MountTable, bucket: str, stack: StackInfo
) -> None:
    keys = [f"root/big/obj-{number:04d}" for number in range(S3_OBJECTS)]
    keys += [f"root/big/dir-{number}/inner" for number in range(3)]
    put_objects(stack, bucket, ((key, b"1") for key in keys))
    fs = FileSystem(table, cache_ttl=0)

    # Each page after the first was fetched from the store while the one before it was read.
    assert fs.read_ahead_pages == 0
    assert len(flat(pages(fs, "/big", 1000))) == S3_OBJECTS + 3
    assert fs.read_ahead_pages == 5
    for limit in (1000, 333, 2500):
        found = pages(fs, "/big", limit)
        listed = flat(found)
        assert len(listed) == len(set(listed)) == S3_OBJECTS + 3
        assert listed[:3] == ["/big/dir-0", "/big/dir-1", "/big/dir-2"]  # "dir-" sorts before "obj-"
        assert listed[3:] == [f"/big/obj-{number:04d}" for number in range(S3_OBJECTS)]
        assert all(entry.is_dir == entry.name.startswith("dir-") for page in found for entry in page)


def test_a_listing_taken_while_files_are_added_gives_every_file_that_existed_throughout(
    tmp_path: Path, table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    directory = tmp_path / "growing"
    directory.mkdir()
    for number in range(0, 3000, 2):
        (directory / f"f{number:04d}").write_bytes(b"")
    table.add("/local", f"file://{directory}")
    for key in (f"root/grow/f{number:04d}" for number in range(0, 600, 2)):
        admin_s3.put_object(Bucket=bucket, Key=key, Body=b"")
    fs = FileSystem(table, cache_ttl=0)

    def listed_while_adding(path: str, limit: int, add: object) -> list[str]:
        seen: list[str] = []
        after: str | None = None
        added = 0
        while True:
            page = fs.ls_page(path, limit=limit, after=after)
            seen.extend(entry.name for entry in page)
            # Between pages, files appear before and after the position reached.
            assert callable(add)
            add(added)
            added += 1
            if page.next is None:
                return seen
            after = page.next

    def add_local(round_number: int) -> None:
        for number in (1 + 2 * round_number, 2999 - 2 * round_number):
            (directory / f"f{number:04d}").write_bytes(b"")

    seen = listed_while_adding("/local", 250, add_local)
    assert len(seen) == len(set(seen))
    assert {f"f{number:04d}" for number in range(0, 3000, 2)} <= set(seen)
    assert seen == sorted(seen)

    def add_s3(round_number: int) -> None:
        for number in (1 + 2 * round_number, 599 - 2 * round_number):
            admin_s3.put_object(Bucket=bucket, Key=f"root/grow/f{number:04d}", Body=b"")

    seen = listed_while_adding("/grow", 50, add_s3)
    assert len(seen) == len(set(seen))
    assert {f"f{number:04d}" for number in range(0, 600, 2)} <= set(seen)


def test_a_recursive_listing_pages_the_same_way_and_descends_only_where_allowed(
    tmp_path: Path, table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    for key in ("a/1", "a/b/2", "a/b/c/3", "a/b/c/4", "a-x", "d/5", "private/secret/6", "private/7", "z"):
        admin_s3.put_object(Bucket=bucket, Key=f"root/tree/{key}", Body=b"v")
    admin = FileSystem(table)
    admin.chmod("/", "0755")
    admin.chmod("/tree", "0755")
    admin.chown("/tree/private", "admin", "admin")
    admin.chmod("/tree/private", "0700")
    whole = [entry.path for entry in admin.ls("/tree", recursive=True)]
    # By name, as SeaweedFS orders a folder ("a" before "a-x"; S3 would put "a-x" first).
    assert whole == [
        "/tree/a",
        "/tree/a/1",
        "/tree/a/b",
        "/tree/a/b/2",
        "/tree/a/b/c",
        "/tree/a/b/c/3",
        "/tree/a/b/c/4",
        "/tree/a-x",
        "/tree/d",
        "/tree/d/5",
        "/tree/private",
        "/tree/private/7",
        "/tree/private/secret",
        "/tree/private/secret/6",
        "/tree/z",
    ]
    for limit in (1, 2, 3, 4, 100):
        assert flat(pages(admin, "/tree", limit, recursive=True)) == whole

    bob = FileSystem(table, caller=Caller("bob"), cache_ttl=0)
    seen_by_bob = [path for path in whole if not path.startswith("/tree/private/")]
    assert flat(pages(bob, "/tree", 2, recursive=True)) == seen_by_bob
    # A token crafted to lead into a directory bob may not enter continues after it instead.
    after_private = ("", Position("store", None, "private/"))
    for crafted in (
        [after_private, ("private", START)],
        [after_private, ("private", Position("store", None, "7")), ("private/secret", START)],
        [after_private, ("private", Position("mounts"))],
    ):
        token = encode_token(crafted)
        resumed = [entry.path for entry in bob.ls_page("/tree", limit=100, after=token, recursive=True)]
        assert resumed == ["/tree/z"], crafted
    # Bob cannot list the private directory itself at all.
    with pytest.raises(AccessDeniedError):
        list(bob.ls_page("/tree/private"))


def test_bad_limits_and_tokens_are_named_errors(table: MountTable, bucket: str, admin_s3: S3Client) -> None:
    admin_s3.put_object(Bucket=bucket, Key="root/d/one", Body=b"1")
    fs = FileSystem(table)
    for limit in (0, -1, 10_001):
        with pytest.raises(StoreError, match=f"limit {limit} is out of range: use 1 to 10000"):
            fs.ls_page("/d", limit=limit)
    nested = [("", Position("store", None, "a/")), ("a", START)]
    for token in (
        "not base64!",
        "x",
        encode_token([("..", START)]),
        encode_token([("", START), ("a/../b", START)]),
        encode_token([("", START), ("a/b", START)]),  # a level that skips one
        encode_token([("", Position("store", None, "../etc/"))]),
        encode_token(nested),  # nested levels, but this listing is not recursive
        "e" * 20_000,
    ):
        with pytest.raises(StoreError, match="is not a token from a listing of /d"):
            fs.ls_page("/d", after=token)
    # Nested levels are fine for a recursive listing: "a" does not exist, so it goes on after it.
    assert [entry.path for entry in fs.ls_page("/d", after=encode_token(nested), recursive=True)] == [
        "/d/one"
    ]


def test_listing_a_file_is_its_own_status(table: MountTable, bucket: str, admin_s3: S3Client) -> None:
    admin_s3.put_object(Bucket=bucket, Key="root/only.txt", Body=b"12345")
    page = FileSystem(table).ls_page("/only.txt")
    assert [(entry.path, entry.size) for entry in page] == [("/only.txt", 5)]
    assert page.next is None


def test_a_directory_with_its_own_marker_pages_one_entry_at_a_time(
    table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    # SeaweedFS answers max-keys=1 with the marker alone and "not truncated": a page of one
    # must still find what follows it (an empty first page made DeleteBucket think it empty).
    admin_s3.put_object(Bucket=bucket, Key="root/marked/", Body=b"")
    for key in ("root/marked/sub/a.txt", "root/marked/z.txt"):
        admin_s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    fs = FileSystem(table, cache_ttl=0)
    found = pages(fs, "/marked", 1)
    assert [[entry.name for entry in page] for page in found] == [["sub"], ["z.txt"]]


def test_mount_points_fall_on_the_page_their_key_belongs_to(
    tmp_path: Path, table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    for name in ("a", "c", "e", "g"):
        admin_s3.put_object(Bucket=bucket, Key=f"root/m/{name}", Body=b"")
    for name in ("b", "f"):
        local = tmp_path / name
        local.mkdir()
        table.add(f"/m/{name}", f"file://{local}")
    fs = FileSystem(table, cache_ttl=0)
    for limit in (1, 2, 3, 10):
        found = pages(fs, "/m", limit)
        # Mount points first, then the store's entries.
        assert [entry.name for entry in (e for page in found for e in page)] == ["b", "f", "a", "c", "e", "g"]
        assert [entry.is_dir for page in found for entry in page] == [True, True, False, False, False, False]


def test_a_store_entry_hidden_by_a_mount_point_never_ends_the_listing(
    tmp_path: Path, table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    # The store's "h/" is hidden by the mount at /hidden/h: a fetch that found only it (at the
    # end of a store page) must not be taken for the end of the directory.
    for name in ("a", "b", "i", "j"):
        admin_s3.put_object(Bucket=bucket, Key=f"root/hidden/{name}", Body=b"")
    local = tmp_path / "local"
    local.mkdir()
    table.add("/hidden/h", f"file://{local}")
    admin_s3.put_object(Bucket=bucket, Key="root/hidden/h/inside", Body=b"")
    fs = FileSystem(table, cache_ttl=0)
    for limit in (1, 2, 3, 4, 10):
        found = pages(fs, "/hidden", limit)
        assert [entry.name for page in found for entry in page] == ["h", "a", "b", "i", "j"], limit


def test_listings_give_etags_where_asked(
    tmp_path: Path, table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    local = tmp_path / "etags"
    local.mkdir()
    table.add("/local-etags", f"file://{local}")
    fs = FileSystem(table, cache_ttl=30)
    fs.write("/local-etags/written", [b"through tierstore"])
    (local / "beside").write_bytes(b"written beside it")
    admin_s3.put_object(Bucket=bucket, Key="root/s3-etags/object", Body=b"on S3")
    # A local directory reads ETags only for a view that asks (S3 lists them anyway); each view
    # keeps its own cached first page.
    assert [entry.etag for entry in fs.ls("/local-etags")] == [None, None]
    for path in ("/local-etags", "/s3-etags"):
        for entry in fs.with_etags().ls(path):
            assert entry.etag is not None and entry.etag == fs.stat(entry.path).etag, entry.path
    assert [entry.etag for entry in fs.ls("/local-etags")] == [None, None]


def test_changing_the_limit_between_pages_neither_repeats_nor_skips(
    table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    for number in range(40):
        admin_s3.put_object(Bucket=bucket, Key=f"root/sizes/f{number:02d}", Body=b"")
    for cache_ttl in (0, 30):  # cut from a cached first page, or read from the store each time
        fs = FileSystem(table, cache_ttl=cache_ttl)
        list(fs.ls_page("/sizes"))  # fills the cache with a first page of 1,000
        seen: list[str] = []
        after: str | None = None
        for limit in (3, 2, 7, 1, 1000):
            page = fs.ls_page("/sizes", limit=limit, after=after)
            seen.extend(entry.name for entry in page)
            after = page.next
            if after is None:
                break
        assert seen == [f"f{number:02d}" for number in range(40)]


def test_the_cli_prints_a_listing_page_by_page(tmp_path: Path, stack: StackInfo, bucket: str) -> None:
    from tests.namespace.test_filesystem import write_config
    from tests.namespace.test_fs_cli import tierstore

    config = write_config(tmp_path / "cli.yaml", stack, bucket, f"sqlite:///{tmp_path / 'cli.db'}")
    directory = tmp_path / "cli-many"
    directory.mkdir()
    for number in range(2_345):
        (directory / f"f{number:04d}").write_bytes(b"")
    assert tierstore(config, "fs", "mount", "/local", f"file://{directory}").returncode == 0
    plain = tierstore(config, "fs", "ls", "/local")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == [f"/local/f{number:04d}" for number in range(2_345)]
    as_json = tierstore(config, "fs", "ls", "/local", "--json")
    assert as_json.returncode == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    assert [entry["path"] for entry in listed] == [f"/local/f{number:04d}" for number in range(2_345)]
    assert listed[0]["type"] == "file"
    assert json.loads(tierstore(config, "fs", "ls", "/", "--json").stdout)[0]["path"] == "/local"


def test_a_cached_first_page_is_handed_out_as_the_same_list(
    table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    # The server reuses a page's encoded answer while the cache hands out the same list.
    for name in ("a", "b", "c"):
        admin_s3.put_object(Bucket=bucket, Key=f"root/warm/{name}", Body=b"")
    fs = FileSystem(table)
    first = fs.ls_page("/warm")
    assert [entry.name for entry in first] == ["a", "b", "c"] and first.next is None
    again = fs.ls_page("/warm")
    assert [entry.name for entry in again] == ["a", "b", "c"]
    assert first.source is not None and again.source is first.source
    part = fs.ls_page("/warm", limit=2)
    assert len(list(part)) == 2 and part.next is not None
    assert part.source is not first.source  # a cut of the page is a page of its own

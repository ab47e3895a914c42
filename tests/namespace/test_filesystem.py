"""The namespace against the real SeaweedFS, on SQLite and on PostgreSQL (``metadata_url``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tierstore.errors import AccessDeniedError, ConflictError, NotFoundError, StoreError
from tierstore.local.info import StackInfo
from tierstore.namespace.config import load_server_config
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.mounts import MountError, MountTable
from tierstore.namespace.permissions import Caller

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024


def write_config(path: Path, stack: StackInfo, bucket: str, metadata_url: str) -> Path:
    admin = stack.admin
    path.write_text(
        f"remote.data.dir: s3://{bucket}/root\n"
        f"s3.endpoint: {stack.endpoint}\n"
        "s3.region: us-east-1\n"
        f"s3.access-key: {admin.access_key_id}\n"
        f"s3.secret-key: {admin.secret_access_key.reveal()}\n"
        f"tierstore.metadata.url: {metadata_url}\n"
        "tierstore.metadata.cache.ttl: 30\n"
    )
    return path


@pytest.fixture
def table(namespace_config: Path) -> Iterator[MountTable]:
    config = load_server_config(namespace_config)
    table = MountTable(config, open_metadata(config.metadata_url))
    table.sync_root()
    yield table
    table.close()


def user_options(stack: StackInfo, user: str) -> dict[str, str]:
    keys = stack.users[user]
    return {
        "aws.accessKeyId": keys.access_key_id,
        "aws.secretKey": keys.secret_access_key.reveal(),
        "alluxio.underfs.s3.endpoint": stack.endpoint,
        "alluxio.underfs.s3.region": "us-east-1",
    }


def test_root_and_two_nested_mounts_with_their_own_credentials(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str], admin_s3: S3Client
) -> None:
    shared_data, reports = make_bucket(), make_bucket()
    admin_s3.put_object(Bucket=reports, Key="q1/summary.csv", Body=b"a,b\n1,2\n")
    table.add("/mnt/data", f"s3://{shared_data}/dir", user_options(stack, "admin"))
    table.add("/mnt/reports", f"s3a://{reports}", user_options(stack, "reader"))
    fs = FileSystem(table)

    fs.write("/top.txt", [b"in the root mount"])
    fs.write("/mnt/data/a/b.txt", [b"nested, admin keys"])
    assert b"".join(fs.read("/mnt/reports/q1/summary.csv")) == b"a,b\n1,2\n"
    with pytest.raises(AccessDeniedError) as caught:
        fs.write("/mnt/reports/q1/new.csv", [b"no"])
    assert f"s3://{reports}/q1/new.csv" in str(caught.value)

    assert admin_s3.get_object(Bucket=shared_data, Key="dir/a/b.txt")["Body"].read() == b"nested, admin keys"
    names = [entry.path for entry in fs.ls("/")]
    assert names == ["/mnt", "/top.txt"]
    assert [entry.path for entry in fs.ls("/mnt")] == ["/mnt/data", "/mnt/reports"]
    assert table.resolve("/mnt/data/a/b.txt")[0].path == "/mnt/data"
    assert table.resolve("/mnt/datax")[0].path == "/"


def test_mode_follows_the_bucket_acl(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str], admin_s3: S3Client
) -> None:
    full, read_only = make_bucket(), make_bucket()
    owner = admin_s3.get_bucket_acl(Bucket=read_only)["Owner"]
    admin_s3.put_bucket_acl(
        Bucket=read_only,
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "READ"}],
        },  # type: ignore[typeddict-item]
    )
    # Admin keys: the ACL's grants are to the mount's own identity (read-only keys:
    # test_mount_modes.py). SeaweedFS lets the admin write, yet the READ grant caps the mode.
    assert table.add("/full", f"s3://{full}", user_options(stack, "admin")).mode == 0o700
    assert table.add("/ro", f"s3://{read_only}", user_options(stack, "admin")).mode == 0o500
    shared = table.add("/ro-shared", f"s3://{read_only}", user_options(stack, "admin"), shared=True)
    assert shared.mode == 0o555


def test_mount_rules_each_give_a_clear_error(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    fs = FileSystem(table)
    fs.write("/existing/file.txt", [b"x"])
    other = make_bucket()
    with pytest.raises(MountError, match="already exists in the mount /"):
        table.add("/existing", f"s3://{other}", user_options(stack, "admin"))
    with pytest.raises(MountError, match="already exists in the mount /"):
        table.add("/existing/file.txt", f"s3://{other}", user_options(stack, "admin"))
    bad = user_options(stack, "admin") | {"aws.secretKey": "definitely-not-the-secret-000000000000000"}
    with pytest.raises(MountError) as caught:
        table.add("/bad", f"s3://{other}", bad)
    assert "cannot be reached" in str(caught.value)
    assert "definitely-not-the-secret" not in str(caught.value)
    table.add("/ro", f"s3://{other}/a", user_options(stack, "admin"), readonly=True)
    with pytest.raises(MountError, match="inside the read-only mount /ro"):
        table.add("/ro/inner", f"s3://{make_bucket()}", user_options(stack, "admin"))
    with pytest.raises(MountError, match="overlaps"):
        table.add("/again", f"s3://{other}/a/deeper", user_options(stack, "admin"))
    table.add("/again", f"s3://{other}/a/deeper", user_options(stack, "admin"), shared=True)
    with pytest.raises(MountError, match="root mount cannot be removed"):
        table.remove("/")
    with pytest.raises(MountError, match="a mount already exists there"):
        table.add("/again", f"s3://{make_bucket()}", user_options(stack, "admin"))
    with pytest.raises(AccessDeniedError, match="read-only"):
        fs.write("/ro/x.txt", [b"refused"])
    table.remove("/again")
    assert [record.path for record in table.records()] == ["/", "/ro"]


def test_named_user_needs_the_write_bit(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    table.add("/team", f"s3://{make_bucket()}", user_options(stack, "admin"))
    admin = FileSystem(table)
    admin.write("/team/shared.txt", [b"owned by the mount owner"])
    admin.chmod("/", "0711")
    admin.chmod("/team", "0755")
    admin.chmod("/team/shared.txt", "0644")
    bob = FileSystem(table, caller=Caller(user="bob"))
    assert b"".join(bob.read("/team/shared.txt")) == b"owned by the mount owner"
    with pytest.raises(AccessDeniedError) as caught:
        bob.write("/team/shared.txt", [b"overwrite"])
    assert "permission denied for user bob" in str(caught.value)
    assert "needs the write bit" in str(caught.value)
    with pytest.raises(AccessDeniedError):
        bob.write("/team/new.txt", [b"create"])
    admin.chmod("/team", "o+w")
    bob.write("/team/new.txt", [b"create"])
    with pytest.raises(AccessDeniedError, match="only its owner"):
        bob.chmod("/team/shared.txt", "0777")


def test_chmod_changes_ls_and_nothing_in_s3(table: MountTable, bucket: str, admin_s3: S3Client) -> None:
    fs = FileSystem(table)
    fs.write("/doc.txt", [b"content"])
    before = admin_s3.head_object(Bucket=bucket, Key="root/doc.txt")
    acl_before = admin_s3.get_object_acl(Bucket=bucket, Key="root/doc.txt")["Grants"]
    assert fs.stat("/doc.txt").mode == 0o700
    fs.chmod("/doc.txt", "0640")
    fs.chown("/doc.txt", "alice", "analysts")
    status = fs.stat("/doc.txt")
    assert (status.mode, status.owner, status.group) == (0o640, "alice", "analysts")
    after = admin_s3.head_object(Bucket=bucket, Key="root/doc.txt")
    assert after["ETag"] == before["ETag"]
    assert after.get("Metadata") == before.get("Metadata")
    assert after["LastModified"] == before["LastModified"]
    assert admin_s3.get_object_acl(Bucket=bucket, Key="root/doc.txt")["Grants"] == acl_before


def test_directories_copies_moves_and_removal(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str], tmp_path: Path
) -> None:
    table.add("/other", f"s3://{make_bucket()}", user_options(stack, "admin"))
    fs = FileSystem(table)
    fs.mkdir("/empty")
    assert fs.stat("/empty").is_dir
    with pytest.raises(ConflictError):
        fs.mkdir("/empty")
    with pytest.raises(NotFoundError, match="use -p"):
        fs.mkdir("/a/b/c")
    fs.mkdir("/a/b/c", parents=True)
    payload = os.urandom(12 * MiB + 5)
    local = tmp_path / "big.bin"
    local.write_bytes(payload)
    fs.put(local, "/a/b/big.bin")
    fs.write("/a/small.txt", [b"small"])
    assert fs.du("/a") == (len(payload) + 5, 2)
    assert fs.copy("/a", "/other/copied", recursive=True) == len(payload) + 5  # across mounts, streaming
    fs.get("/other/copied/b/big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == payload
    fs.move("/a/small.txt", "/other/moved.txt")
    with pytest.raises(NotFoundError):
        fs.stat("/a/small.txt", sync=True)
    assert b"".join(fs.read("/other/moved.txt")) == b"small"
    with pytest.raises(StoreError, match="is a directory; use -r"):
        fs.remove("/a")
    assert fs.remove("/a", recursive=True) >= 2
    with pytest.raises(NotFoundError):
        fs.stat("/a", sync=True)
    with pytest.raises(StoreError, match="mount point"):
        fs.remove("/other", recursive=True)


def test_listings_are_cached_until_sync_and_writes_update_them(
    table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    fs = FileSystem(table)
    fs.write("/c/one.txt", [b"1"])
    assert [entry.name for entry in fs.ls("/c")] == ["one.txt"]
    admin_s3.put_object(Bucket=bucket, Key="root/c/behind-our-back.txt", Body=b"2")
    assert [entry.name for entry in fs.ls("/c")] == ["one.txt"]  # cached
    hits = fs.cache_hits
    assert hits >= 1
    assert [entry.name for entry in fs.ls("/c", sync=True)] == ["behind-our-back.txt", "one.txt"]
    fs.write("/c/three.txt", [b"3"])  # a write through tierstore is seen at once
    assert [entry.name for entry in fs.ls("/c")] == ["behind-our-back.txt", "one.txt", "three.txt"]


def test_a_directory_whose_first_entry_was_removed_is_still_a_directory(table: MountTable) -> None:
    fs = FileSystem(table, cache_ttl=0)
    fs.write("/d/a/x", [b"gone"])
    fs.remove("/d/a/x")
    fs.write("/d/f1", [b"kept"])
    assert fs.stat("/d", sync=True).is_dir
    assert [entry.name for entry in fs.ls("/d", sync=True)] == ["f1"]


def test_removing_the_last_file_of_a_directory_removes_the_directory(table: MountTable) -> None:
    # SeaweedFS keeps the folder of a deleted object ("a/b/") and lists it as a sub-directory;
    # tierstore's delete removes the folders it leaves empty, up to one that holds something.
    fs = FileSystem(table, cache_ttl=0)
    fs.write("/a/b/c/last.txt", [b"1"])
    fs.write("/a/keep.txt", [b"2"])
    fs.remove("/a/b/c/last.txt")
    assert [entry.name for entry in fs.ls("/a", sync=True)] == ["keep.txt"]
    with pytest.raises(NotFoundError):
        fs.stat("/a/b", sync=True)


def test_a_directory_emptied_straight_on_the_store_is_an_empty_directory(
    table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    # Deleted behind tierstore's back, the folder stays on SeaweedFS and its parent lists it: it is
    # an empty directory until removed (on AWS it would be gone with its last object).
    fs = FileSystem(table, cache_ttl=0)
    fs.write("/e/sub/only.txt", [b"1"])
    fs.write("/e/keep.txt", [b"2"])
    admin_s3.delete_object(Bucket=bucket, Key="root/e/sub/only.txt")
    assert [(entry.name, entry.is_dir) for entry in fs.ls("/e", sync=True)] == [
        ("keep.txt", False),
        ("sub", True),
    ]
    assert fs.stat("/e/sub", sync=True).is_dir
    assert fs.ls("/e/sub", sync=True) == []
    with pytest.raises(StoreError, match="is a directory"):
        fs.remove("/e/sub")
    fs.remove("/e/sub", recursive=True)
    assert [entry.name for entry in fs.ls("/e", sync=True)] == ["keep.txt"]
    with pytest.raises(NotFoundError):
        fs.stat("/e/sub", sync=True)


def test_what_a_directory_holds_takes_its_owner_and_mode(
    table: MountTable, bucket: str, admin_s3: S3Client
) -> None:
    # A file written straight to the store (a client with vended credentials, the sink) has no
    # attributes of its own: it shows, and is checked against, its directory's.
    FileSystem(table).chmod("/", "0711")
    FileSystem(table).mkdir("/team")
    FileSystem(table).chown("/team", "alice", "eng")
    FileSystem(table).chmod("/team", "0750")
    admin_s3.put_object(Bucket=bucket, Key="root/team/sub/report.csv", Body=b"a,b\n")
    alice = FileSystem(table, caller=Caller("alice"), cache_ttl=0)
    status = alice.stat("/team/sub/report.csv")
    assert (status.owner, status.group, status.mode) == ("alice", "eng", 0o750)
    assert b"".join(alice.read("/team/sub/report.csv")) == b"a,b\n"
    listed = {entry.path: (entry.owner, entry.mode) for entry in alice.ls("/team", recursive=True)}
    assert listed == {"/team/sub": ("alice", 0o750), "/team/sub/report.csv": ("alice", 0o750)}
    bob = FileSystem(table, caller=Caller("bob"), cache_ttl=0)
    with pytest.raises(AccessDeniedError, match="bob"):
        b"".join(bob.read("/team/sub/report.csv"))
    # Its own attributes win over the inherited ones.
    FileSystem(table).chmod("/team/sub/report.csv", "0644")
    assert alice.stat("/team/sub/report.csv").mode == 0o644


def store_calls(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The store operations logged since the last ``caplog.clear()``, by the LoggingLayer every
    mount's store has: ``head``, ``list``, ``open_write``..."""
    return [
        record.getMessage().split(" ", 1)[0]
        for record in caplog.records
        if record.name == "tierstore.storage"
    ]


def test_a_status_asks_the_store_once(table: MountTable, caplog: pytest.LogCaptureFixture) -> None:
    # What finds a file is a file (on S3 one listing) also gives its size and time: nothing is
    # asked again for them.
    fs = FileSystem(table, cache_ttl=0)
    fs.write("/once/old.txt", [b"old"])
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    caplog.clear()
    status = fs.write("/once/old.txt", [b"abcd"])
    assert (status.size, status.is_dir) == (4, False) and status.etag
    assert store_calls(caplog) == ["kind", "open_write", "head"]  # a file there; the write; its status
    caplog.clear()
    assert fs.stat("/once/old.txt").size == 4
    assert store_calls(caplog) == ["head"]  # a file that exists: its HEAD says all
    with pytest.raises(NotFoundError):
        fs.stat("/once/missing.txt")
    assert fs.stat("/once", sync=True).is_dir


def test_a_new_file_is_looked_for_with_one_listing(
    table: MountTable, caplog: pytest.LogCaptureFixture
) -> None:
    # One question to the store says that neither the file nor its directory is there
    # (Store.kind: on S3 one listing, tests/storage/test_listing.py counts its requests).
    fs = FileSystem(table, cache_ttl=0)
    fs.mkdir("/looked/empty", parents=True)
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    caplog.clear()
    fs.write("/looked/new.txt", [b"abc"])
    assert store_calls(caplog) == ["kind", "open_write", "head"]
    caplog.clear()
    with pytest.raises(NotFoundError):
        fs.stat("/looked/missing")
    assert store_calls(caplog) == ["head", "kind"]  # a status tries the HEAD first
    caplog.clear()
    assert fs.stat("/looked/empty").is_dir  # found by its marker in that listing
    assert store_calls(caplog) == ["head", "kind"]
    with pytest.raises(StoreError, match="is a directory"):
        fs.write("/looked/empty", [b"x"])


def test_mkdir_asks_the_store_only_what_it_must(table: MountTable, caplog: pytest.LogCaptureFixture) -> None:
    # Is the name free, is the parent there, the marker: the status it answers is made from
    # what it did (a directory's status holds no size or time), not asked of the store again.
    fs = FileSystem(table, cache_ttl=0)
    fs.mkdir("/made", parents=True)
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    caplog.clear()
    status = fs.mkdir("/made/sub")
    assert (status.path, status.is_dir, status.size) == ("/made/sub", True, 0)
    assert store_calls(caplog) == ["kind", "kind", "put_directory_marker"]
    assert fs.stat("/made/sub", sync=True).is_dir  # the marker is there for the next caller
    with pytest.raises(ConflictError, match="already exists"):
        fs.mkdir("/made/sub")


def test_a_file_just_written_is_known_a_file_to_the_next_write(
    table: MountTable, caplog: pytest.LogCaptureFixture
) -> None:
    fs = FileSystem(table, cache_ttl=30)
    assert fs.write_object("/again/f.txt", [b"one"])
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    caplog.clear()
    assert fs.write_object("/again/f.txt", [b"two"])
    assert store_calls(caplog) == ["open_write"]  # no HEAD to learn that a file is there
    assert b"".join(fs.read("/again/f.txt")) == b"two"


@pytest.mark.parametrize("etags", [False, True], ids=["listing", "listing with etags"])
def test_a_cached_listing_shows_the_writes_made_since(table: MountTable, etags: bool) -> None:
    # The S3 gateway lists with each file's ETag (a cache entry of its own kind): a write or a
    # removal below must drop that listing as it drops the plain one.
    plain = FileSystem(table, cache_ttl=60)
    fs = plain.with_etags() if etags else plain
    plain.write("/fresh/dir/a.txt", [b"a"])

    def names(path: str) -> list[str]:
        return [entry.path for entry in fs.ls(path)]

    assert names("/fresh/dir") == ["/fresh/dir/a.txt"]
    assert names("/fresh") == ["/fresh/dir"]
    plain.write("/fresh/dir/b.txt", [b"b"])
    plain.write("/fresh/new/c.txt", [b"c"])
    assert names("/fresh/dir") == ["/fresh/dir/a.txt", "/fresh/dir/b.txt"]
    assert names("/fresh") == ["/fresh/dir", "/fresh/new"]
    plain.remove("/fresh/dir/a.txt")
    assert names("/fresh/dir") == ["/fresh/dir/b.txt"]


def test_a_listing_that_a_move_overtook_is_not_kept(
    table: MountTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rsync writes a temporary name and renames it. A listing the store answered just before the
    # rename, kept just after it, showed the temporary name for the cache's ttl (a FUSE test saw
    # it on CI, and an I/O error reading it). Here the move lands between the two.
    fs = FileSystem(table, cache_ttl=60)
    fs.write("/raced/.f.txt.tmp", [b"data"])
    fill_page = FileSystem._fill_page
    moves: list[int] = []

    def answer_then_move(self: FileSystem, path: str, position: Any, limit: int) -> Any:
        answer = fill_page(self, path, position, limit)
        if not moves:
            moves.append(0)  # first: the move's own listings come through here too
            moves.append(fs.move("/raced/.f.txt.tmp", "/raced/f.txt"))
        return answer

    monkeypatch.setattr(FileSystem, "_fill_page", answer_then_move)
    assert [entry.path for entry in fs.ls("/raced")] == ["/raced/.f.txt.tmp"]  # asked before the move
    monkeypatch.undo()
    assert moves == [0, 4]  # the move's bytes
    assert [entry.path for entry in fs.ls("/raced")] == ["/raced/f.txt"]
    assert b"".join(fs.read("/raced/f.txt")) == b"data"


def test_new_files_in_a_small_directory_need_no_listing_each(
    table: MountTable, caplog: pytest.LogCaptureFixture
) -> None:
    # The directory's names are listed once (one page) and kept, with this server's own writes
    # added: a burst of new files there asks the store nothing before each write.
    # (write_object: the S3 gateway's PUT, which asks no status after the write.)
    fs = FileSystem(table, cache_ttl=30)
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    assert fs.write_object("/names/first.txt", [b"1"])
    assert store_calls(caplog) == ["list", "open_write"]  # the directory's one page
    caplog.clear()
    assert fs.write_object("/names/second.txt", [b"2"])
    assert fs.write_object("/names/third.txt", [b"3"])
    assert store_calls(caplog) == ["open_write", "open_write"]
    caplog.clear()
    assert fs.write_object("/names/sub/a.txt", [b"a"])  # a directory the write makes: listed once
    assert fs.write_object("/names/sub/b.txt", [b"b"])
    assert store_calls(caplog) == ["list", "open_write", "open_write"]
    caplog.clear()
    with pytest.raises(StoreError, match="is a directory"):
        fs.write("/names/sub", [b"x"])  # known a directory in its parent's names
    assert store_calls(caplog) == []
    fs.mkdir("/names/made")  # any other change drops the names: asked again
    caplog.clear()
    with pytest.raises(StoreError, match="is a directory"):
        fs.write("/names/made", [b"x"])
    assert store_calls(caplog) == ["list"]
    assert sorted(entry.path for entry in fs.ls("/names")) == [
        "/names/first.txt",
        "/names/made",
        "/names/second.txt",
        "/names/sub",
        "/names/third.txt",
    ]


def test_a_crowded_directory_is_asked_per_name(table: MountTable, caplog: pytest.LogCaptureFixture) -> None:
    filler = FileSystem(table, cache_ttl=0)
    for number in range(101):  # one more than a directory whose names are kept (here)
        filler.write(f"/crowded/f{number:03d}", [b"x"])
    fs = FileSystem(table, cache_ttl=30, names_limit=100)
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    caplog.clear()
    assert fs.write_object("/crowded/new1", [b"1"])
    assert store_calls(caplog) == ["list", "kind", "open_write"]
    caplog.clear()
    assert fs.write_object("/crowded/new2", [b"2"])
    assert store_calls(caplog) == ["kind", "open_write"]  # known crowded: not listed again
    fs.chmod("/crowded/new2", "0600")  # owners and modes do not change what the store holds
    caplog.clear()
    assert fs.write_object("/crowded/new3", [b"3"])
    assert store_calls(caplog) == ["kind", "open_write"]


def test_names_are_read_over_several_pages(table: MountTable, caplog: pytest.LogCaptureFixture) -> None:
    # A directory of a few thousand files (a Spark job's output) keeps its names too: read once
    # in pages of 1,000, then a burst of new files asks the store nothing before each write.
    names_page = 1000
    filler = FileSystem(table, cache_ttl=0)
    target = filler._target("/paged/x")
    prefix = target.key.rpartition("/")[0]
    put_objects_of(target.store, [f"{prefix}/f{number:04d}" for number in range(names_page + 5)])
    target.store.put(f"{prefix}/sub/inner", b"d")  # a directory, after the first page
    fs = FileSystem(table, cache_ttl=30)
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    caplog.clear()
    assert fs.write_object("/paged/new1", [b"1"])
    assert store_calls(caplog) == ["list", "open_write"]  # the LoggingLayer logs one line a listing
    caplog.clear()
    assert fs.write_object("/paged/new2", [b"2"])
    assert store_calls(caplog) == ["open_write"]
    with pytest.raises(StoreError, match="is a directory"):
        fs.write("/paged/sub", [b"x"])  # from the second page
    assert fs.write_object("/paged/f0003", [b"again"])  # known a file from the first page
    assert store_calls(caplog) == ["open_write", "open_write"]
    small = FileSystem(table, cache_ttl=30, names_limit=names_page)  # one page short
    caplog.clear()
    assert small.write_object("/paged/new3", [b"3"])
    assert store_calls(caplog) == ["list", "kind", "open_write"]


def put_objects_of(store: Any, keys: list[str]) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: store.put(key, b"x"), keys))


def test_kept_names_say_what_the_store_says(table: MountTable) -> None:
    # Each kind of entry, answered from the directory's kept names (read checks the kind) and
    # by a view without a cache, which asks Store.kind: they agree.
    plain = FileSystem(table, cache_ttl=0)
    plain.write("/agree/file.txt", [b"file"])
    plain.write("/agree/by-content/x", [b"x"])
    plain.mkdir("/agree/by-marker")
    plain.write("/agree/both", [b"both"])
    both = plain._target("/agree/both/inner")
    both.store.put(both.key, b"inner")  # straight on the store: S3 allows a key and a prefix alike
    emptied = plain._target("/agree/emptied/x")
    emptied.store.put(emptied.key, b"x")
    emptied.store.delete(emptied.key)  # SeaweedFS keeps the emptied folder

    def outcome(fs: FileSystem, name: str) -> str:
        try:
            return b"".join(fs.read(f"/agree/{name}")).decode()
        except NotFoundError:
            return "missing"
        except StoreError as error:
            return "directory" if "is a directory" in str(error) else str(error)

    kept = FileSystem(table, cache_ttl=30)
    names = ["file.txt", "by-content", "by-marker", "both", "emptied", "missing"]
    assert [outcome(kept, name) for name in names] == [outcome(plain, name) for name in names]
    assert [outcome(plain, name) for name in names][:4] == ["file", "directory", "directory", "both"]


def test_later_pages_of_a_directory_held_whole_come_from_its_cached_first_page(
    table: MountTable, caplog: pytest.LogCaptureFixture
) -> None:
    # An S3 listing resumes each open directory from a token, page after page: once the
    # directory's first page held it whole, the rest is cut from that page, not listed again.
    fs = FileSystem(table)
    names = [f"f{number}.txt" for number in range(6)]
    for name in names:
        fs.write(f"/whole/{name}", [b"x"])
    fs.mkdir("/whole/sub")
    whole = [status.name for status in fs.ls_page("/whole", limit=50)]
    assert whole == [*names, "sub"]
    caplog.set_level(logging.DEBUG, logger="tierstore.storage")
    given: list[str] = []
    token: str | None = None
    caplog.clear()
    while True:
        page = fs.ls_page("/whole", limit=2, after=token)  # pages read in another size
        given += [status.name for status in page]
        token = page.next
        if token is None:
            break
    assert given == whole
    assert store_calls(caplog) == []
    # A directory its first page does not hold whole is still asked for what follows.
    crowded = FileSystem(table)
    first = crowded.ls_page("/whole", limit=3)
    assert [status.name for status in first] == whole[:3]
    caplog.clear()
    rest = crowded.ls_page("/whole", limit=50, after=first.next)
    assert [status.name for status in rest] == whole[3:]
    assert "list" in store_calls(caplog)

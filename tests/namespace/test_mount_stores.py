"""The mount table's open stores: one per mount, kept across reads of the database, replaced
when the mount at a path is a new one (on SQLite and on PostgreSQL).

The two-process case, a running server and another process remounting on one PostgreSQL, is
tests/server/test_remount_shared.py; this checks the same rule in one process, and that records
read back from either database keep finding the store they opened (else every request would
open a store of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.namespace.test_filesystem import user_options, write_config
from tierstore.local.info import StackInfo
from tierstore.namespace.config import load_server_config
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.mounts import MountTable


def test_a_mount_keeps_its_store_until_another_table_mounts_the_path_again(
    tmp_path: Path, stack: StackInfo, bucket: str, make_bucket: Callable[[], str], metadata_url: str
) -> None:
    config = load_server_config(write_config(tmp_path / "server.yaml", stack, bucket, metadata_url))
    # Two tables on one database, as two servers sharing it have.
    here = MountTable(config, open_metadata(config.metadata_url))
    there = MountTable(config, open_metadata(config.metadata_url))
    try:
        here.sync_root()
        uri = f"s3://{make_bucket()}/data"
        there.add("/data", uri, user_options(stack, "reader"))
        first = here.store_for(here.resolve("/data/a")[0])
        assert here.store_for(here.resolve("/data/b")[0]) is first  # rows read again, same mount
        root = here.store_for(here.resolve("/top")[0])
        there.sync_root()  # another server starting rewrites the root's row
        assert here.store_for(here.resolve("/top")[0]) is root

        there.remove("/data")
        there.add("/data", uri, user_options(stack, "writer"))
        again = here.store_for(here.resolve("/data/a")[0])
        assert again is not first
        assert here.store_for(here.resolve("/data/b")[0]) is again
        with again.open_write("made-here.txt") as out:  # the writer's keys: the reader's would fail
            out.write(b"written with the new mount's keys")
        assert b"".join(first.iter_read("made-here.txt")) == b"written with the new mount's keys"
    finally:
        here.close()
        there.close()

"""A mount's mode follows its own keys' access, on the real SeaweedFS (issue 15, point 5).

SeaweedFS gives access by each identity's actions, not by ACLs: GetBucketAcl shows one
FULL_CONTROL grant to the bucket's creator (the admin) whoever asks, ListBuckets' Owner.ID is the
asking identity's account id (``reader``, ``writer``), and a Read/List identity gets
AccessDenied on every write (all measured). So the mode comes from what the mount's keys really
may do: the access probe at mount time.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers.loopback import Forwarder
from tierstore.credentials.resolve import credential_source_for
from tierstore.local.info import StackInfo
from tierstore.namespace.acl import permissions_for
from tierstore.namespace.config import load_server_config
from tierstore.namespace.filesystem import FileSystem
from tierstore.namespace.metadata import open_metadata
from tierstore.namespace.mounts import MountTable
from tierstore.namespace.probe import WRITE_PROBE_PREFIX
from tierstore.settings.model import (
    AccessKeys,
    PermissionDefaults,
    RetrySettings,
    StoreLocation,
    StoreSettings,
)
from tierstore.settings.secret import Secret
from tierstore.storage.s3.store import S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PROBE_OFF = {"alluxio.underfs.s3.access.probe": "false"}


@pytest.fixture
def table(tmp_path: Path, stack: StackInfo, bucket: str, sqlite_url: str) -> Iterator[MountTable]:
    admin = stack.admin
    config_file = tmp_path / "server.yaml"
    config_file.write_text(
        f"remote.data.dir: s3://{bucket}/root\n"
        f"s3.endpoint: {stack.endpoint}\n"
        "s3.region: us-east-1\n"
        f"s3.access-key: {admin.access_key_id}\n"
        f"s3.secret-key: {admin.secret_access_key.reveal()}\n"
        f"tierstore.metadata.url: {sqlite_url}\n"
    )
    config = load_server_config(config_file)
    table = MountTable(config, open_metadata(config.metadata_url))
    table.sync_root()
    yield table
    table.close()


def keys_of(stack: StackInfo, user: str, endpoint: str | None = None) -> dict[str, str]:
    keys = stack.users[user]
    return {
        "aws.accessKeyId": keys.access_key_id,
        "aws.secretKey": keys.secret_access_key.reveal(),
        "alluxio.underfs.s3.endpoint": endpoint or stack.endpoint,
        "alluxio.underfs.s3.region": "us-east-1",
    }


def s3_store(stack: StackInfo, user: str, bucket: str) -> S3Store:
    """An S3Store on ``bucket``'s ``p/`` with ``user``'s keys."""
    keys = stack.users[user]
    settings = StoreSettings(
        location=StoreLocation(scheme="s3", bucket=bucket, prefix="p/"),
        endpoint=stack.endpoint,
        region=stack.region,
        path_style=True,
        keys=AccessKeys(keys.access_key_id, keys.secret_access_key),
    )
    return S3Store(settings, credential_source_for(settings))


def s3_port(stack: StackInfo) -> int:
    return int(stack.endpoint.rsplit(":", 1)[1])


def probe_puts(forwarder: Forwarder) -> list[str]:
    return [request.target for request in forwarder.requests if request.method == "PUT"]


def every_version(admin_s3: S3Client, bucket: str) -> list[str]:
    listing = admin_s3.list_object_versions(Bucket=bucket)
    return [entry["Key"] for entry in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]]


def test_read_only_keys_give_0500_and_writer_keys_0700(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    data = make_bucket()
    reader = table.add("/ro", f"s3://{data}/a", keys_of(stack, "reader"))
    writer = table.add("/rw", f"s3://{data}/b", keys_of(stack, "writer"))
    admin = table.add("/full", f"s3://{data}/c", keys_of(stack, "admin"))
    assert (reader.mode, writer.mode, admin.mode) == (0o500, 0o700, 0o700)
    shared = table.add("/ro-shared", f"s3://{data}/a", keys_of(stack, "reader"), shared=True)
    assert shared.mode == 0o555
    fs = FileSystem(table)
    assert fs.stat("/ro").mode == 0o500
    assert fs.stat("/rw").mode == 0o700


def test_why_the_mode_is_what_it_is(stack: StackInfo, bucket: str) -> None:
    def source(user: str) -> str:
        store = s3_store(stack, user, bucket)
        try:
            return permissions_for(store, PermissionDefaults(), shared=False).source
        finally:
            store.close()

    # The reader sees the admin's ACL, which says nothing about the reader: the probes decide.
    assert source("reader") == (
        "bucket ACL (no grant to mount identity, AllUsers or AuthenticatedUsers); "
        "access probe: list allowed, write refused (AccessDenied)"
    )
    # The writer cannot read the ACL (no ReadAcp): the default mode, which the probes keep.
    assert source("writer") == (
        "default mode: ACL not readable (AccessDenied); access probe: list allowed, write allowed"
    )
    assert source("admin") == (
        "bucket ACL (FULL_CONTROL grant to mount identity); access probe: list allowed, write allowed"
    )


def test_chmod_still_wins_over_the_probed_mode(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str], admin_s3: S3Client
) -> None:
    data = make_bucket()
    admin_s3.put_object(Bucket=data, Key="ro/report.csv", Body=b"a,b\n")
    table.add("/ro", f"s3://{data}/ro", keys_of(stack, "reader"))
    table.add("/rw", f"s3://{data}/rw", keys_of(stack, "writer"))
    fs = FileSystem(table)
    assert (fs.stat("/ro").mode, fs.stat("/ro/report.csv").mode) == (0o500, 0o500)
    fs.chmod("/ro", "0755")
    fs.chmod("/rw", "0550")
    assert (fs.stat("/ro").mode, fs.stat("/rw").mode) == (0o755, 0o550)
    # Paths without a mode of their own take the chmod'ed mount's, not the probed one.
    assert fs.stat("/ro/report.csv").mode == 0o755


def test_the_probe_writes_under_the_prefix_and_leaves_nothing(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str], admin_s3: S3Client
) -> None:
    plain, versioned = make_bucket(), make_bucket()
    admin_s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
    with Forwarder(s3_port(stack)) as forwarder:
        table.add("/plain", f"s3://{plain}/team", keys_of(stack, "writer", forwarder.endpoint))
        table.add("/versioned", f"s3://{versioned}/team", keys_of(stack, "writer", forwarder.endpoint))
        puts = probe_puts(forwarder)
    # One probe PUT per mount, under the mount's prefix, with tierstore's reserved name.
    assert [target.split("?")[0].rsplit("-", 1)[0] for target in puts] == [
        f"/{plain}/team/{WRITE_PROBE_PREFIX.rstrip('-')}",
        f"/{versioned}/team/{WRITE_PROBE_PREFIX.rstrip('-')}",
    ]
    assert every_version(admin_s3, plain) == []
    # Deleted by version: no version and no delete marker left.
    assert every_version(admin_s3, versioned) == []


def test_a_read_only_mount_is_never_written_to(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str]
) -> None:
    with Forwarder(s3_port(stack)) as forwarder:
        record = table.add(
            "/ro", f"s3://{make_bucket()}", keys_of(stack, "writer", forwarder.endpoint), readonly=True
        )
        assert probe_puts(forwarder) == []
    assert record.mode == 0o700  # the writer cannot read the ACL: the default mode


def test_turning_the_probe_off_gives_the_acl_mode_and_writes_nothing(
    table: MountTable, stack: StackInfo, make_bucket: Callable[[], str], admin_s3: S3Client
) -> None:
    granted = make_bucket()
    # An ACL granting the reader everything, which SeaweedFS does not enforce: only the probe
    # finds the reader cannot write.
    owner = admin_s3.get_bucket_acl(Bucket=granted)["Owner"]
    admin_s3.put_bucket_acl(
        Bucket=granted,
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "reader"}, "Permission": "FULL_CONTROL"}],
        },  # type: ignore[typeddict-item]
    )
    assert table.add("/probed", f"s3://{granted}/a", keys_of(stack, "reader")).mode == 0o500
    with Forwarder(s3_port(stack)) as forwarder:
        off = keys_of(stack, "reader", forwarder.endpoint) | PROBE_OFF
        assert table.add("/acl-only", f"s3://{granted}/b", off).mode == 0o700
        # Alluxio's rule alone: the admin's default ACL has no grant to the reader.
        assert table.add("/silent", f"s3://{make_bucket()}", off).mode == 0o000
        assert probe_puts(forwarder) == []


def test_a_refused_delete_is_reported_and_the_object_hidden(
    stack: StackInfo, admin_s3: S3Client, caplog: pytest.LogCaptureFixture
) -> None:
    # Object lock with a default retention: the probe's version cannot be deleted (measured:
    # AccessDenied), but a delete marker can still hide it.
    locked = f"t-probe-locked-{secrets.token_hex(4)}"
    admin_s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    try:
        admin_s3.put_object_lock_configuration(
            Bucket=locked,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
            },
        )
        store = s3_store(stack, "writer", locked)
        with caplog.at_level(logging.WARNING, logger="tierstore.namespace.probe"):
            result = permissions_for(store, PermissionDefaults(), shared=False)
        store.close()
        assert result.mode == 0o700
        assert result.source.endswith("; probe object left behind (delete refused: AccessDenied)")
        kept = admin_s3.list_object_versions(Bucket=locked)
        [version] = kept.get("Versions", [])
        assert version["Key"].startswith(f"p/{WRITE_PROBE_PREFIX}")
        assert f"s3://{locked}/{version['Key']}" in caplog.text
        assert "hidden behind a delete marker" in caplog.text
        assert admin_s3.list_objects_v2(Bucket=locked).get("Contents") is None
    finally:
        listing = admin_s3.list_object_versions(Bucket=locked)
        for entry in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]:
            admin_s3.delete_object(
                Bucket=locked, Key=entry["Key"], VersionId=entry["VersionId"], BypassGovernanceRetention=True
            )
        admin_s3.delete_bucket(Bucket=locked)


def test_an_unreachable_store_falls_back_to_the_default_mode_without_probing() -> None:
    # A port nothing listens on: connection refused at once; one attempt keeps the test short.
    settings = StoreSettings(
        location=StoreLocation(scheme="s3", bucket="nowhere"),
        endpoint="http://127.0.0.1:9",
        region="us-east-1",
        path_style=True,
        keys=AccessKeys("AKIAEXAMPLEEXAMPLE00", Secret("s" * 40)),
        retry=RetrySettings(max_attempts=1),
    )
    store = S3Store(settings, credential_source_for(settings))
    try:
        result = permissions_for(store, PermissionDefaults(default_mode=0o750), shared=False)
    finally:
        store.close()
    assert (result.mode, result.source) == (0o750, "default mode: ACL not readable (EndpointConnectionError)")

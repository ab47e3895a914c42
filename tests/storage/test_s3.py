"""S3 backend behaviour against the real SeaweedFS of the local stack."""

from __future__ import annotations

import os
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from tests.storage.conftest import SettingsFactory
from tierstore.credentials.resolve import credential_source_for
from tierstore.errors import AccessDeniedError, InvalidCredentialsError, StoreError
from tierstore.local.info import StackInfo
from tierstore.settings.model import AccessKeys, Encryption, StoreSettings
from tierstore.settings.secret import Secret
from tierstore.storage.s3.store import S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024


def open_s3(settings: StoreSettings) -> S3Store:
    return S3Store(settings, credential_source_for(settings))


def test_path_style_addresses_bucket_in_the_path(
    s3_settings: SettingsFactory, admin_s3: S3Client, bucket: str
) -> None:
    settings = s3_settings(prefix="data/")
    assert settings.uses_path_style
    with open_s3(settings) as store:
        url = store.presign("GET", "k.txt", expires_seconds=60)
        store.put("k.txt", b"v")
    assert url.startswith(f"{settings.endpoint}/{bucket}/data/k.txt?")
    assert admin_s3.get_object(Bucket=bucket, Key="data/k.txt")["Body"].read() == b"v"


def test_path_style_is_the_default_for_an_ip_endpoint(stack: StackInfo, s3_settings: SettingsFactory) -> None:
    assert s3_settings(path_style=None).uses_path_style
    virtual = s3_settings(path_style=None, endpoint="https://s3.eu-west-1.amazonaws.com")
    assert not virtual.uses_path_style


def test_presigned_get_serves_the_object(s3_store: S3Store) -> None:
    s3_store.put("shared.txt", b"presigned body")
    url = s3_store.presign("GET", "shared.txt", expires_seconds=120)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"presigned body"


def test_sse_s3_is_sent_on_put_multipart_and_copy(
    s3_settings: SettingsFactory, admin_s3: S3Client, bucket: str
) -> None:
    with open_s3(s3_settings(encryption=Encryption("AES256"))) as store:
        store.put("single", b"secret data")
        with store.open_write("multi") as writer:
            writer.write(os.urandom(12 * MiB))
        store.copy("single", "copied")
    for key in ("single", "multi", "copied"):
        head = admin_s3.head_object(Bucket=bucket, Key=key)
        assert head.get("ServerSideEncryption") == "AES256", key
    assert admin_s3.head_object(Bucket=bucket, Key="multi")["ETag"].endswith('-3"')


def test_sse_kms_with_a_key_id(s3_settings: SettingsFactory, admin_s3: S3Client, bucket: str) -> None:
    encryption = Encryption("aws:kms", kms_key_id="tierstore-test-key")
    with open_s3(s3_settings(encryption=encryption)) as store:
        store.put("kms.txt", b"kms protected")
        assert store.get("kms.txt") == b"kms protected"
    head = admin_s3.head_object(Bucket=bucket, Key="kms.txt")
    assert head.get("ServerSideEncryption") == "aws:kms"
    assert "tierstore-test-key" in head.get("SSEKMSKeyId", "")


def test_multipart_failing_half_way_leaves_no_upload(
    s3_store: S3Store, admin_s3: S3Client, bucket: str
) -> None:
    with pytest.raises(RuntimeError), s3_store.open_write("half.bin") as writer:
        writer.write(os.urandom(16 * MiB))  # three parts already sent
        raise RuntimeError("source broke")
    assert admin_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert "Contents" not in admin_s3.list_objects_v2(Bucket=bucket)


def test_multipart_refused_by_the_store_leaves_no_upload(
    s3_settings: SettingsFactory, admin_s3: S3Client, bucket: str
) -> None:
    with (
        open_s3(s3_settings(user="reader")) as store,
        pytest.raises(AccessDeniedError) as caught,
        store.open_write("denied.bin") as writer,
    ):
        writer.write(os.urandom(11 * MiB))
    assert f"s3://{bucket}/denied.bin" in str(caught.value)
    assert admin_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_read_only_user_is_denied_naming_bucket_and_key(
    s3_settings: SettingsFactory, stack: StackInfo, bucket: str
) -> None:
    with open_s3(s3_settings(user="reader", prefix="ro/")) as store:
        with pytest.raises(AccessDeniedError) as caught:
            store.put("file.txt", b"nope")
        with pytest.raises(AccessDeniedError):
            store.delete_many(["a", "b"])
        with pytest.raises(AccessDeniedError):
            store.copy("a", "b")
    error = caught.value
    assert error.bucket == bucket
    assert error.key == "ro/file.txt"
    assert f"s3://{bucket}/ro/file.txt" in str(error)
    assert "not allowed" in str(error)
    assert stack.users["reader"].secret_access_key.reveal() not in str(error)


def test_reader_can_read_what_admin_wrote(s3_settings: SettingsFactory) -> None:
    with open_s3(s3_settings()) as admin:
        admin.put("public.txt", b"readable")
    with open_s3(s3_settings(user="reader")) as reader:
        assert reader.get("public.txt") == b"readable"
        assert [info.key for info in reader.list()] == ["public.txt"]


def test_wrong_secret_is_invalid_credentials_without_the_secret(
    s3_settings: SettingsFactory, stack: StackInfo
) -> None:
    wrong = Secret("not-the-right-secret-0123456789abcdefghij")
    settings = s3_settings()
    bad = StoreSettings(
        **{**settings.__dict__, "keys": AccessKeys(stack.users["admin"].access_key_id, wrong)}
    )
    with open_s3(bad) as store, pytest.raises(StoreError) as caught:
        store.get("anything")
    assert isinstance(caught.value, InvalidCredentialsError | AccessDeniedError)
    assert wrong.reveal() not in str(caught.value)
    assert stack.users["admin"].access_key_id not in str(caught.value)


def test_unknown_key_id_is_invalid_credentials(s3_settings: SettingsFactory) -> None:
    settings = s3_settings()
    bad = StoreSettings(**{**settings.__dict__, "keys": AccessKeys("AKIANOTAREALKEY00000", Secret("x" * 40))})
    with open_s3(bad) as store, pytest.raises(InvalidCredentialsError) as caught:
        store.get("anything")
    assert "InvalidAccessKeyId" in str(caught.value)


def test_repr_shows_no_secret(s3_store: S3Store, stack: StackInfo) -> None:
    text = repr(s3_store) + repr(s3_store.settings)
    assert stack.users["admin"].secret_access_key.reveal() not in text
    assert stack.users["admin"].access_key_id not in text


def test_an_empty_object_is_read_at_once_whole_or_by_range(
    s3_store: S3Store, caplog: pytest.LogCaptureFixture
) -> None:
    s3_store.put("empty", b"")
    with caplog.at_level("INFO", logger="tierstore.storage.s3.retry"):
        assert s3_store.get("empty") == b""
        assert s3_store.get("empty", start=0, end=100) == b""
    # A 416 is the store's answer, not a failure to reach it: nothing is tried again.
    assert not [record.message for record in caplog.records if "attempt" in record.message]


def test_threads_sharing_a_store_make_its_clients_once(s3_settings: SettingsFactory) -> None:
    # A tree copy's workers share one store: each lazily made client must be made once, or all
    # but one are never closed.
    with open_s3(s3_settings()) as store:
        start = threading.Barrier(8)

        def first_use(_: int) -> tuple[object, object]:
            start.wait()
            return store.control, store.journal

        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(first_use, range(8)))
    assert len({id(control) for control, _ in made}) == 1
    assert len({id(journal) for _, journal in made}) == 1

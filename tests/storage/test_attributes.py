"""Content type and user metadata: stored by every write, given back by head, kept or replaced by copy."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
import pytest
from obstore.store import S3Store as ObstoreS3Store

from tierstore.local.info import StackInfo
from tierstore.storage.interface import ObjectAttributes, ObjectInfo, Store
from tierstore.storage.local import LocalStore
from tierstore.storage.s3.store import S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
CSV = ObjectAttributes("text/csv; charset=utf-8", {"Owner": "ada", "batch-id": "42", "note": "a b=c;d"})


def _attributes(info: ObjectInfo) -> tuple[str | None, dict[str, str]]:
    return info.content_type, dict(info.metadata)


EXPECTED = ("text/csv; charset=utf-8", {"owner": "ada", "batch-id": "42", "note": "a b=c;d"})


def test_attributes_are_checked_and_names_lower_cased() -> None:
    given = ObjectAttributes("text/plain", {"X-Colour": "Blue"})
    assert dict(given.metadata) == {"x-colour": "Blue"}
    assert given == ObjectAttributes("text/plain", {"x-colour": "Blue"})
    assert hash(given) == hash(ObjectAttributes("text/plain", {"x-COLOUR": "Blue"}))
    assert ObjectAttributes().empty and not given.empty
    with pytest.raises(TypeError):
        given.metadata["x-colour"] = "red"  # type: ignore[index]
    # Read-only, yet an info or attributes holding it still pickles and copies (asdict too).
    info = ObjectInfo("k", 1, metadata=given.metadata)
    assert pickle.loads(pickle.dumps(info)) == info
    assert pickle.loads(pickle.dumps(given)) == given
    assert dataclasses.asdict(given) == {
        "content_type": "text/plain",
        "metadata": {"x-colour": "Blue"},
        "headers": {},
    }
    for bad, named in [
        ({"a b": "1"}, "'a b'"),
        ({"colour": "bl\u00fce"}, "'colour'"),
        ({"colour": "two\nlines"}, "'colour'"),
        ({"A": "1", "a": "2"}, "twice"),
        ({"big": "x" * 2100}, "2048"),
        ({"": "1"}, "''"),
    ]:
        with pytest.raises(ValueError, match=named):
            ObjectAttributes(metadata=bad)
    with pytest.raises(ValueError, match="content type"):
        ObjectAttributes("text/\u00e9")


def test_kept_headers_are_checked_and_named_canonically() -> None:
    given = ObjectAttributes(headers={"cache-control": "max-age=5", "CONTENT-LANGUAGE": "fr"})
    assert dict(given.headers) == {"Cache-Control": "max-age=5", "Content-Language": "fr"}
    assert not given.empty
    for bad, named in [
        ({"Expires": "Wed, 21 Oct 2037 07:28:00 GMT"}, "keeps only"),
        ({"X-Other": "1"}, "keeps only"),
        ({"Cache-Control": "two\nlines"}, "Cache-Control"),
        ({"Content-Encoding": ""}, "Content-Encoding"),
        ({"cache-control": "a", "Cache-Control": "b"}, "twice"),
        ({"Content-Disposition": "x" * 2049}, "2048"),
    ]:
        with pytest.raises(ValueError, match=named):
            ObjectAttributes(headers=bad)


HEADERS = {
    "Cache-Control": "max-age=60",
    "Content-Disposition": 'attachment; filename="a.csv"',
    "Content-Encoding": "gzip",
    "Content-Language": "fr",
}


def test_kept_headers_are_stored_read_back_and_copied(store: Store) -> None:
    given = ObjectAttributes("text/csv", {"origin": "test"}, HEADERS)
    store.put("small", b"x,y\n", attributes=given)
    with store.open_write("streamed", attributes=given) as writer:
        writer.write(os.urandom(6 * MiB))
    for key in ("small", "streamed"):
        assert dict(store.head(key).headers) == HEADERS, key
        with store.open_read(key, start=0, end=1) as opened:
            assert dict(opened.info.headers) == HEADERS, key
    store.copy("small", "copied")
    assert dict(store.head("copied").headers) == HEADERS
    store.copy("small", "replaced", attributes=ObjectAttributes("text/csv"))
    assert dict(store.head("replaced").headers) == {}
    store.put("plain", b"none")
    assert dict(store.head("plain").headers) == {}


def test_put_stores_them_and_head_gives_them_back(store: Store) -> None:
    store.put("a.csv", b"x,y\n", attributes=CSV)
    assert _attributes(store.head("a.csv")) == EXPECTED
    store.put("plain", b"no attributes")
    info = store.head("plain")
    assert info.metadata == {}
    store.put("a.csv", b"x,y\n")  # a new version without them has none
    assert store.head("a.csv").metadata == {}


def test_streamed_multipart_write_stores_them(store: Store) -> None:
    payload = os.urandom(20 * MiB)
    with store.open_write("big.bin", attributes=CSV) as writer:
        for offset in range(0, len(payload), 3 * MiB):
            writer.write(payload[offset : offset + 3 * MiB])
    info = store.head("big.bin")
    assert info.size == len(payload)
    assert _attributes(info) == EXPECTED
    if not isinstance(store, LocalStore):
        assert info.etag is not None and info.etag.endswith('-4"')  # 5 MiB parts: four of them


def test_upload_and_put_of_more_than_a_part_store_them(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(7 * MiB))
    store.upload("from-path", source, attributes=CSV)
    store.put("big-put", source.read_bytes(), attributes=CSV)
    store.upload("small-upload", b"tiny", attributes=CSV)
    for key in ("from-path", "big-put", "small-upload"):
        assert _attributes(store.head(key)) == EXPECTED, key


def test_copy_keeps_them_or_replaces_them(store: Store) -> None:
    store.put("src", b"payload", attributes=CSV)
    store.copy("src", "kept")
    assert _attributes(store.head("kept")) == EXPECTED
    store.copy("src", "replaced", attributes=ObjectAttributes("image/png", {"shape": "round"}))
    assert _attributes(store.head("replaced")) == ("image/png", {"shape": "round"})
    assert store.get("replaced") == b"payload"
    # Replacing with none leaves no metadata; S3 stores give their default type then.
    store.copy("src", "bare", attributes=ObjectAttributes())
    bare = store.head("bare")
    assert bare.metadata == {}
    assert bare.content_type in (None, "binary/octet-stream", "application/octet-stream")
    # In place, as S3 clients change an object's metadata.
    store.copy("src", "src", attributes=ObjectAttributes("text/plain", {"v": "2"}))
    assert _attributes(store.head("src")) == ("text/plain", {"v": "2"})
    assert store.get("src") == b"payload"


def test_the_store_really_keeps_them(s3_store: S3Store, admin_s3: S3Client, bucket: str) -> None:
    """Seen by another client (botocore's HeadObject): obstore's attributes map as intended."""
    s3_store.put("single", b"1", attributes=CSV)
    with s3_store.open_write("multi") as writer:
        writer.write(os.urandom(6 * MiB))
    s3_store.open_write("multi-attrs", attributes=CSV).close()  # nothing written: one PUT
    with s3_store.open_write("multi-attrs", attributes=CSV) as writer:
        writer.write(os.urandom(6 * MiB))
    s3_store.copy("single", "replaced", attributes=ObjectAttributes("image/gif", {"k": "v"}))
    for key in ("single", "multi-attrs"):
        head = admin_s3.head_object(Bucket=bucket, Key=f"base/{key}")
        assert head["ContentType"] == EXPECTED[0]
        assert head["Metadata"] == EXPECTED[1]
    replaced = admin_s3.head_object(Bucket=bucket, Key="base/replaced")
    assert (replaced["ContentType"], replaced["Metadata"]) == ("image/gif", {"k": "v"})
    assert admin_s3.head_object(Bucket=bucket, Key="base/multi")["Metadata"] == {}


def test_metadata_named_like_a_header_stays_metadata(
    s3_store: S3Store, admin_s3: S3Client, bucket: str
) -> None:
    """obstore would send these as the headers themselves; they go through botocore instead."""
    odd = ObjectAttributes("text/plain", {"cache-control": "mine", "Content-Type": "also-mine"})
    s3_store.put("odd", b"1", attributes=odd)
    head = admin_s3.head_object(Bucket=bucket, Key="base/odd")
    assert head["Metadata"] == {"cache-control": "mine", "content-type": "also-mine"}
    assert head["ContentType"] == "text/plain"
    assert "CacheControl" not in head
    assert _attributes(s3_store.head("odd")) == (
        "text/plain",
        {"cache-control": "mine", "content-type": "also-mine"},
    )


def test_non_ascii_metadata_another_client_wrote_is_read_through_botocore(
    s3_store: S3Store, stack: StackInfo, bucket: str
) -> None:
    """obstore refuses such an answer as a whole; head and open_read still work.

    botocore refuses to send such metadata; obstore sends it as UTF-8 bytes, and SeaweedFS keeps them.
    """
    admin = stack.admin
    other = ObstoreS3Store(
        bucket,
        endpoint=stack.endpoint,
        region=stack.region,
        access_key_id=admin.access_key_id,
        secret_access_key=admin.secret_access_key.reveal(),
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    obstore.put(other, "base/intl", b"hello", attributes={"name": "J\u00fcrgen"})
    info = s3_store.head("intl")
    assert (info.size, dict(info.metadata)) == (5, {"name": "J\u00fcrgen"})
    with s3_store.open_read("intl", start=1) as opened:
        assert b"".join(opened.chunks) == b"ello"
        assert dict(opened.info.metadata) == {"name": "J\u00fcrgen"}

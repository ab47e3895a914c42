"""Timeouts, attempts and checksum modes reach the data path (obstore and part uploads).

Loopback servers stand in where no real store fails on demand: a black hole that accepts and
never answers, and a one-object S3 that answers 503 SlowDown a given number of times first.
Checksum headers are read at a TCP forwarder in front of the real SeaweedFS, which verifies them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.servers.loopback import OBJECT_BODY, OBJECT_KEY, BlackHole, FlakyS3, Forwarder
from tierstore.credentials.resolve import credential_source_for
from tierstore.errors import StoreError, StoreUnavailableError, ThrottledError
from tierstore.local.info import StackInfo
from tierstore.settings.loader import settings_from_mapping
from tierstore.settings.model import StoreSettings
from tierstore.storage.s3.store import S3Store

MiB = 1024 * 1024


def _fluss(endpoint: str, bucket: str, **keys: object) -> StoreSettings:
    values: dict[str, object] = {
        "remote.data.dir": f"s3://{bucket}/",
        "s3.endpoint": endpoint,
        "s3.access-key": "AKIALOOPBACK",
        "s3.secret-key": "loopback-secret",
        "s3.path-style-access": "true",
    }
    values.update(keys)
    return settings_from_mapping(values, "fluss", "test.yaml").settings


def _store(settings: StoreSettings) -> S3Store:
    return S3Store(settings, credential_source_for(settings))


def _calls(store: S3Store) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: store.get(OBJECT_KEY),
        "put": lambda: store.put("written.bin", b"x" * 1024),
        "list": lambda: list(store.list("")),
        # The delimiter listing: tierstore's own signed requests on urllib3, not obstore.
        "list_dir": lambda: store.list_dir("").objects,
    }


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    with BlackHole() as server:
        yield server


@pytest.mark.parametrize("call", ["get", "put", "list", "list_dir"])
def test_a_black_holed_store_fails_within_the_configured_time(black_hole: BlackHole, call: str) -> None:
    settings = _fluss(
        black_hole.endpoint,
        "flaky",
        **{"s3.connection.timeout": "2s", "s3.connection.establish.timeout": "2s", "s3.attempts.maximum": 1},
    )
    store = _store(settings)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        _calls(store)[call]()
    elapsed = time.monotonic() - started
    # One attempt, cut by the 2 s read timeout (obstore's own defaults would wait minutes).
    assert 1.5 < elapsed < 6, elapsed
    message = str(caught.value)
    assert black_hole.endpoint in message
    assert "after 1 attempt" in message


def test_the_attempts_are_spaced_and_bounded(black_hole: BlackHole) -> None:
    settings = _fluss(
        black_hole.endpoint,
        "flaky",
        **{
            "s3.connection.timeout": "1s",
            "s3.attempts.maximum": 3,
            "s3.retry.interval": "400ms",
        },
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="after 3 attempts"):
        _store(settings).get(OBJECT_KEY)
    elapsed = time.monotonic() - started
    # 3 x 1 s of waiting for an answer, and waits of 0.2-0.4 s then 0.4-0.8 s between them.
    assert 3.5 < elapsed < 6, elapsed


@pytest.mark.parametrize("call", ["get", "put", "list", "list_dir"])
def test_503_twice_then_200_costs_two_retries(call: str) -> None:
    with FlakyS3(failures=2) as server:
        store = _store(_fluss(server.endpoint, server.bucket, **{"s3.retry.interval": "50ms"}))
        result = _calls(store)[call]()
        assert sum(server.seen.values()) == 3, server.seen
    if call == "get":
        assert result == OBJECT_BODY
    if call in ("list", "list_dir"):
        assert [info.key for info in result] == [OBJECT_KEY]


@pytest.mark.parametrize("call", ["get", "put", "list", "list_dir"])
def test_one_attempt_gives_up_on_the_first_503(call: str) -> None:
    with FlakyS3(failures=2) as server:
        store = _store(_fluss(server.endpoint, server.bucket, **{"s3.attempts.maximum": 1}))
        with pytest.raises(ThrottledError, match="after 1 attempt") as caught:
            _calls(store)[call]()
        assert sum(server.seen.values()) == 1, server.seen
    assert server.endpoint in str(caught.value)


def test_a_lasting_outage_ends_with_the_named_error_after_every_attempt() -> None:
    with FlakyS3(failures=100) as server:
        store = _store(_fluss(server.endpoint, server.bucket, **{"s3.retry.interval": "20ms"}))
        with pytest.raises(StoreError, match="after 10 attempts"):
            store.get(OBJECT_KEY)
        assert server.seen["GET"] == 10  # the default: 10 attempts per request


@pytest.mark.parametrize(("mode", "sent"), [("when_supported", True), ("when_required", False)])
def test_checksum_mode_reaches_the_data_path(stack: StackInfo, bucket: str, mode: str, sent: bool) -> None:
    port = int(stack.endpoint.rsplit(":", 1)[1])
    admin = stack.admin
    with Forwarder(port) as forwarder:
        settings = settings_from_mapping(
            {
                "remote.data.dir": f"s3://{bucket}/",
                "s3.endpoint": forwarder.endpoint,
                "s3.access-key": admin.access_key_id,
                "s3.secret-key": admin.secret_access_key.reveal(),
                "s3.checksum.calculation": mode,
                "s3.multipart.size": "5MiB",
            },
            "fluss",
            "test.yaml",
        ).settings
        store = _store(settings)
        store.put("small.bin", b"s" * 1000)
        big = bytes(range(256)) * (48 * 1024)  # 12 MiB: three parts
        store.put("big.bin", big)
        with store.open_write("streamed.bin") as writer:
            writer.write(big)
        assert store.get("big.bin") == big
        assert store.get("streamed.bin") == big
        store.close()
    puts = [r for r in forwarder.requests if r.method == "PUT"]
    single = [r for r in puts if r.target.endswith("/small.bin")]
    parts = [r for r in puts if "partNumber=" in r.target]
    assert len(single) == 1 and len(parts) == 6, [r.target for r in puts]
    if sent:
        assert "x-amz-checksum-sha256" in single[0].headers
        assert all("x-amz-checksum-crc32" in part.headers for part in parts)
    else:
        assert not any(name.startswith("x-amz-checksum-") for r in puts for name in r.headers)


def test_a_wrong_part_checksum_is_refused_by_the_store(stack: StackInfo, bucket: str) -> None:
    """SeaweedFS verifies the CRC32 a part carries: the checksum is not decoration."""
    import base64

    import urllib3

    admin = stack.admin
    settings = settings_from_mapping(
        {
            "remote.data.dir": f"s3://{bucket}/",
            "s3.endpoint": stack.endpoint,
            "s3.access-key": admin.access_key_id,
            "s3.secret-key": admin.secret_access_key.reveal(),
        },
        "fluss",
        "test.yaml",
    ).settings
    store = _store(settings)
    upload = store.control.create_multipart_upload(Bucket=bucket, Key="bad.bin", ChecksumAlgorithm="CRC32")
    wrong = base64.b64encode(b"\0\0\0\1").decode()
    url = store.control.generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": bucket,
            "Key": "bad.bin",
            "UploadId": upload["UploadId"],
            "PartNumber": 1,
            "ChecksumCRC32": wrong,
        },
    )
    answer = urllib3.request("PUT", url, body=b"p" * MiB, headers={"x-amz-checksum-crc32": wrong})
    assert answer.status == 400 and b"BadDigest" in answer.data
    store.abort_multipart_upload("bad.bin", upload["UploadId"])
    store.close()


def test_a_create_whose_answer_was_lost_leaves_no_upload(stack: StackInfo, bucket: str) -> None:
    """CreateMultipartUpload reaches SeaweedFS but its answer is lost: botocore tries again and
    gets a second upload. The first, whose id never reached us, is aborted when the write ends."""
    port = int(stack.endpoint.rsplit(":", 1)[1])
    admin = stack.admin
    with Forwarder(port, lose_answer_to=lambda request: request.target.endswith("?uploads")) as forwarder:
        settings = settings_from_mapping(
            {
                "remote.data.dir": f"s3://{bucket}/",
                "s3.endpoint": forwarder.endpoint,
                "s3.access-key": admin.access_key_id,
                "s3.secret-key": admin.secret_access_key.reveal(),
                "s3.multipart.size": "5MiB",
            },
            "fluss",
            "test.yaml",
        ).settings
        store = _store(settings)
        data = bytes(range(256)) * (48 * 1024)
        store.put("object.bin", data)
        assert forwarder.lost_answers == 1
        # The forwarder notes a request on its own thread after passing it on: under load the
        # retry's note can come after the put has returned.
        deadline = time.monotonic() + 5
        while True:
            creates = [r for r in forwarder.requests if r.method == "POST" and r.target.endswith("?uploads")]
            if len(creates) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(creates) == 2  # the lost one and botocore's retry
        assert store.get("object.bin") == data
        assert store.unfinished_uploads("") == []
        store.close()


@pytest.mark.parametrize("read", ["iter_read", "get", "ranged get"])
def test_a_read_cut_mid_body_goes_on_from_the_byte_it_reached(
    stack: StackInfo, bucket: str, read: str
) -> None:
    """The connection is cut twice mid-body (after 10 MiB each time): the read asks for the rest
    (Range from where it stopped, If-Match on the ETag) and returns exactly the object."""
    port = int(stack.endpoint.rsplit(":", 1)[1])
    admin = stack.admin
    values = {
        "remote.data.dir": f"s3://{bucket}/",
        "s3.access-key": admin.access_key_id,
        "s3.secret-key": admin.secret_access_key.reveal(),
        "s3.retry.interval": "50ms",
    }
    data = os.urandom(24 * MiB)
    writer = _store(
        settings_from_mapping({**values, "s3.endpoint": stack.endpoint}, "fluss", "t.yaml").settings
    )
    writer.put("object.bin", data)
    writer.close()
    with Forwarder(port, cut_answers=(2, 10 * MiB)) as forwarder:
        settings = settings_from_mapping(
            {**values, "s3.endpoint": forwarder.endpoint}, "fluss", "t.yaml"
        ).settings
        store = _store(settings)
        if read == "iter_read":
            got = b"".join(store.iter_read("object.bin"))
        elif read == "get":
            got = store.get("object.bin")
        else:  # one range is asked for again whole: it is bounded, as fsspec's blocks are
            got = store.get("object.bin", start=MiB, end=23 * MiB)
            data = data[MiB : 23 * MiB]
        store.close()
    assert forwarder.cuts == 2
    assert got == data
    if read == "ranged get":
        return
    gets = [r for r in forwarder.requests if r.method == "GET"]
    resumed = [r for r in gets if r.headers.get("range", "").startswith("bytes=") and "if-match" in r.headers]
    assert any(int(r.headers["range"][6:].split("-")[0]) > 0 for r in resumed), [
        (r.target[:40], r.headers.get("range"), r.headers.get("if-match")) for r in gets
    ]

"""Delimiter listings on the real SeaweedFS: one request per page, lazily, with nothing added per
sub-directory; keys XML cannot carry; the folders deletes leave empty.

Requests are counted at a TCP forwarder in front of the store (tests/servers/loopback.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from tests.servers.loopback import Forwarder, RequestHead
from tests.storage.conftest import SettingsFactory
from tierstore.credentials.resolve import credential_source_for
from tierstore.errors import NotFoundError, StoreError
from tierstore.local.info import StackInfo
from tierstore.settings.model import AccessKeys, RetrySettings, StoreLocation
from tierstore.settings.secret import Secret
from tierstore.storage.interface import Store
from tierstore.storage.s3.store import S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

QUICK_RETRIES = RetrySettings(interval_seconds=0.05)


@pytest.fixture
def forwarder(stack: StackInfo) -> Iterator[Forwarder]:
    with Forwarder(int(stack.endpoint.rsplit(":", 1)[1])) as relay:
        yield relay


@pytest.fixture
def counted(s3_settings: SettingsFactory, forwarder: Forwarder) -> Iterator[S3Store]:
    """A store under ``base/`` whose every request passes the forwarder."""
    settings = s3_settings(prefix="base/", endpoint=forwarder.endpoint, retry=QUICK_RETRIES)
    store = S3Store(settings, credential_source_for(settings))
    yield store
    store.close()


def _is_list(request: RequestHead) -> bool:
    return request.method == "GET" and "list-type=2" in request.target


def _lists(forwarder: Forwarder) -> int:
    return sum(1 for request in forwarder.requests if _is_list(request))


def _put_all(store: S3Store, keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.put(key, b"x"), keys))


def test_300_sub_directories_list_in_one_request_and_a_page_per_request(
    counted: S3Store, forwarder: Forwarder
) -> None:
    directories = [f"d/day={index:03d}/" for index in range(300)]
    _put_all(counted, [f"{directory}part-0" for directory in directories])
    before = len(forwarder.requests)
    pages = list(counted.list_pages("d", delimiter="/"))
    asked = forwarder.requests[before:]
    assert [page.prefixes for page in pages] == [directories]
    assert len(asked) == 1 and _is_list(asked[0]), asked  # nothing per sub-directory

    before = len(forwarder.requests)
    pages = list(counted.list_pages("d/", delimiter="/", page_size=100))
    asked = forwarder.requests[before:]
    assert [prefix for page in pages for prefix in page.prefixes] == directories
    assert all(len(page.prefixes) <= 100 for page in pages)
    # Three full pages, and a fourth, empty one when the store says "truncated" after the third.
    assert 3 <= len(asked) <= 4 and all(_is_list(request) for request in asked), asked


def test_pages_come_one_request_at_a_time_and_never_overlap_nor_skip(
    counted: S3Store, forwarder: Forwarder
) -> None:
    names = [f"e-{index:03d}" for index in range(60)]
    # Every third name a sub-directory, the others objects: pages mix both kinds.
    keys = [f"m/{name}/inner" if index % 3 == 0 else f"m/{name}" for index, name in enumerate(names)]
    _put_all(counted, keys)
    start_after = "m/e-010"
    expected = sorted(
        f"m/{name}/" if index % 3 == 0 else f"m/{name}"
        for index, name in enumerate(names)
        if f"m/{name}" > start_after
    )
    before = _lists(forwarder)
    pages = counted.list_pages("m", delimiter="/", start_after=start_after, page_size=7)
    seen: list[str] = []
    for number, page in enumerate(pages, start=1):
        assert _lists(forwarder) - before == number  # fetched as consumed, not ahead
        entries = [info.key for info in page.objects] + page.prefixes
        assert len(entries) <= 7
        seen.extend(entries)
    assert len(seen) == len(set(seen)), "an entry came twice"
    assert sorted(seen) == expected


def test_a_listing_resumed_from_a_pages_token_goes_on_with_the_page_after_it(
    counted: S3Store, forwarder: Forwarder
) -> None:
    _put_all(counted, [f"r/{index:02d}" for index in range(20)] + [f"r/d{index}/x" for index in range(5)])
    whole = list(counted.list_pages("r", delimiter="/", page_size=6))
    assert whole[-1].resume is None and all(page.resume for page in whole[:-1])
    before = _lists(forwarder)
    rest = list(counted.list_pages("r", delimiter="/", page_size=6, resume=whole[1].resume))
    assert rest == whole[2:]
    assert _lists(forwarder) - before == len(rest)
    assert "continuation-token=" in forwarder.requests[-len(rest)].target


def test_keys_xml_cannot_carry_still_list(counted: S3Store, admin_s3: S3Client, bucket: str) -> None:
    # Control characters are not allowed in XML 1.0: only url-encoded answers can carry them.
    odd = ["k/ctl\x01\x1fz", "k/a b+c%20d", "k/amp&<>\"'", "k/uni-é€😀", "k/dir with space/f", "k/plus+dir/f"]
    for key in odd:
        admin_s3.put_object(Bucket=bucket, Key=f"base/{key}", Body=b"1")
    try:
        level = counted.list_dir("k")
        assert sorted(info.key for info in level.objects) == sorted(key for key in odd if key.count("/") == 1)
        assert level.prefixes == ["k/dir with space/", "k/plus+dir/"]
        assert counted.list_dir("k/dir with space/").objects[0].key == "k/dir with space/f"
    finally:
        # DeleteObjects (the bucket fixture's clean-up) is XML too: the odd one goes alone.
        admin_s3.delete_object(Bucket=bucket, Key=f"base/{odd[0]}")


def test_a_listing_cut_mid_answer_is_asked_again_and_gives_each_entry_once(
    s3_settings: SettingsFactory, stack: StackInfo
) -> None:
    keys = [f"big/part-{index:05d}" for index in range(2500)]
    direct = s3_settings(prefix="base/")
    writer = S3Store(direct, credential_source_for(direct))
    _put_all(writer, keys)
    writer.close()
    port = int(stack.endpoint.rsplit(":", 1)[1])
    # A 1,000-entry page is ~200 kB: the first answer is cut half-way.
    with Forwarder(port, cut_answers=(1, 100_000)) as relay:
        settings = s3_settings(prefix="base/", endpoint=relay.endpoint, retry=QUICK_RETRIES)
        store = S3Store(settings, credential_source_for(settings))
        listed = [info.key for page in store.list_pages("big", delimiter="/") for info in page.objects]
        store.close()
    assert relay.cuts == 1
    assert listed == keys
    assert _lists(relay) == 4  # three pages, one of them twice


def test_a_listing_error_names_the_bucket_and_prefix(s3_settings: SettingsFactory) -> None:
    settings = s3_settings(location=StoreLocation(scheme="s3", bucket="no-such-bucket-here", prefix="p/"))
    store = S3Store(settings, credential_source_for(settings))
    with pytest.raises(NotFoundError) as caught:
        store.list_dir("some/dir")
    assert "s3://no-such-bucket-here/p/some/dir/" in str(caught.value)
    store.close()


# -- the folders deletes leave empty ------------------------------------------------------------


def _requests_of(forwarder: Forwarder, action: Callable[[], object]) -> list[RequestHead]:
    before = len(forwarder.requests)
    action()
    return forwarder.requests[before:]


def test_a_delete_removes_the_folders_it_empties_and_stops_at_one_that_holds_something(
    counted: S3Store, forwarder: Forwarder
) -> None:
    _put_all(counted, ["a/b/c/f", "a/keep"])
    asked = _requests_of(forwarder, lambda: counted.delete("a/b/c/f"))
    assert counted.list_dir("a").prefixes == []
    assert [info.key for info in counted.list_dir("a").objects] == ["a/keep"]
    assert counted.list_dir("").prefixes == ["a/"]
    # The delete (obstore sends a DeleteObjects); a one-key LIST for a/b/c/, a/b/ and a/ (which
    # holds a/keep: nothing above it is asked); one DeleteObjects for the two emptied folders.
    assert [request.method for request in asked] == ["POST", "GET", "GET", "GET", "POST"], asked
    checks = asked[1:4]
    assert all(_is_list(check) and "max-keys=1&" in check.target for check in checks)
    assert not any("delimiter" in check.target for check in checks)  # recursive: markers count
    assert asked[4].target.endswith("?delete")


def test_deleting_a_whole_tree_asks_once_whether_its_top_is_empty(
    counted: S3Store, forwarder: Forwarder
) -> None:
    keys = [f"t/{folder:02d}/{sub}/f{index}" for folder in range(10) for sub in "xy" for index in range(3)]
    _put_all(counted, [*keys, "other"])
    asked = _requests_of(forwarder, lambda: counted.delete_many(keys))
    assert sum(1 for request in asked if _is_list(request)) == 1
    assert counted.list_dir("").prefixes == []
    assert [info.key for info in counted.list()] == ["other"]


def test_a_folder_emptied_straight_on_the_store_lists_as_an_empty_directory(
    counted: S3Store, admin_s3: S3Client, bucket: str
) -> None:
    counted.put("t/u/f", b"1")
    admin_s3.delete_object(Bucket=bucket, Key="base/t/u/f")  # not through tierstore
    assert counted.list_dir("t").prefixes == ["t/u/"]
    assert counted.head("t/u/").size == 0  # what the listing shows is there
    assert counted.list_dir("t/u").objects == [] and counted.list_dir("t/u").prefixes == []
    assert [info.key for info in counted.list()] == []
    counted.delete_many(["t/u/"])
    assert counted.list_dir("").prefixes == []
    with pytest.raises(NotFoundError):
        counted.head("t/u/")


def test_a_listing_from_the_start_says_whether_the_directory_has_its_own_key(
    counted: S3Store, forwarder: Forwarder, admin_s3: S3Client, bucket: str
) -> None:
    # What head("dir/") would list again: the directory's marker, or SeaweedFS's emptied folder.
    counted.put_directory_marker("made")
    counted.put("full/x", b"1")
    counted.put("emptied/f", b"1")
    admin_s3.delete_object(Bucket=bucket, Key="base/emptied/f")  # not through tierstore
    expected = {"made": "made/", "emptied": "emptied/", "full": None, "none": None}
    for directory, marker in expected.items():
        before = _lists(forwarder)
        first = next(iter(counted.list_pages(directory, delimiter="/", page_size=100)))
        assert _lists(forwarder) - before == 1
        assert first.marker_known, directory
        assert (first.marker.key if first.marker else None) == marker, directory
        assert all(info.key != f"{directory}/" for info in first.objects)  # still not an entry
        if marker:
            assert first.marker == counted.head(marker)  # what head finds, size and all
    # Only a listing from the start can tell: one resumed or started later says nothing.
    later = next(iter(counted.list_pages("made", delimiter="/", start_after="made/a")))
    assert (later.marker, later.marker_known) == (None, False)
    paged = list(counted.list_pages("full", delimiter="/", page_size=1))
    assert paged[0].marker_known and not any(page.marker_known for page in paged[1:])
    root = next(iter(counted.list_pages("", delimiter="/")))
    assert (root.marker, root.marker_known) == (None, False)


# -- what a key is (Store.kind): one listing --------------------------------------------------


def test_what_a_key_is_takes_one_listing_and_agrees_with_the_generic_answer(
    counted: S3Store, forwarder: Forwarder, admin_s3: S3Client, bucket: str
) -> None:
    # A file, a directory by what is below it, by its marker, by a SeaweedFS folder emptied on the
    # store, a key that is both (a file, as a HEAD says first), siblings sorting between a key and
    # its directory, and nothing.
    _put_all(counted, ["file", "full/x", "both", "both/y", "near", "near.txt", "near-1", "near/z"])
    counted.put_directory_marker("made")
    counted.put("emptied/f", b"1")
    admin_s3.delete_object(Bucket=bucket, Key="base/emptied/f")  # not through tierstore
    expected = {
        "file": "file",
        "full": "dir",
        "made": "dir",
        "emptied": "dir",
        "both": "file",
        "near": "file",
        "near.txt": "file",
        "full/x": "file",
        "none": None,
        "ful": None,
        "near/z/deeper": None,
    }
    for key, kind in expected.items():
        asked = _requests_of(forwarder, lambda key=key: counted.kind(key))  # type: ignore[misc]
        found = counted.kind(key)
        assert (found[0] if found else None) == kind, key
        assert [request.method for request in asked] == ["GET"] and _is_list(asked[0]), (key, asked)
        # The generic answer (a HEAD, then the directory's listing) is the same.
        generic = Store.kind(counted, key)
        assert (generic[0] if generic else None) == kind, key
    found = counted.kind("file")
    assert found is not None and found[1] is not None
    assert (found[1].size, found[1].etag) == (counted.head("file").size, counted.head("file").etag)


def test_a_directory_past_a_page_of_siblings_is_asked_for_on_its_own(
    counted: S3Store, forwarder: Forwarder
) -> None:
    # More names between "k" and "k/" than one page holds ("k.000" ... "k.119" sort before "/").
    _put_all(counted, [*(f"k.{index:03d}" for index in range(120)), "k/inside"])
    # SeaweedFS puts the prefix k/ on the first page though it sorts after the page's last name:
    # one request then (S3 would need the second).
    asked = _requests_of(forwarder, lambda: counted.kind("k"))
    assert counted.kind("k") == ("dir", None)
    assert 1 <= len(asked) <= 2 and all(_is_list(request) for request in asked)
    counted.delete("k/inside")
    # No k/ any more: the page ends at k.098, before where k/ would be, so it is asked for.
    asked = _requests_of(forwarder, lambda: counted.kind("k"))
    assert counted.kind("k") is None
    assert len(asked) == 2 and all(_is_list(request) for request in asked)
    assert "prefix=base%2Fk%2F" in asked[1].target.split("&"), asked[1].target
    found = counted.kind("k.119")
    assert found is not None and found[0] == "file"


def test_listings_are_signed_in_the_header_and_keep_no_secret_in_their_url_or_repr(
    counted: S3Store, forwarder: Forwarder, s3_settings: SettingsFactory
) -> None:
    # botocore presigns one listing, unsent, to tell where the bucket is; tierstore signs every
    # listing itself, and SeaweedFS checks each signature (a wrong secret is refused).
    counted.put("signed/a", b"1")
    for _ in range(2):
        asked = _requests_of(forwarder, lambda: counted.list_dir("signed"))
        assert [info.key for info in counted.list_dir("signed").objects] == ["signed/a"]
    assert "authorization" in asked[0].headers and "X-Amz-Signature" not in asked[0].target
    request = counted._sign_list({"Bucket": "b", "Prefix": "p", "MaxKeys": 1}, 60)
    secret = s3_settings().keys.secret_access_key.reveal()  # type: ignore[union-attr]
    assert secret not in repr(request) and "Signature=" not in repr(request)
    wrong = s3_settings(keys=AccessKeys(s3_settings().keys.access_key_id, Secret("not-the-secret")))  # type: ignore[union-attr]
    store = S3Store(wrong, credential_source_for(wrong))
    try:
        for _ in range(2):
            with pytest.raises(StoreError):
                store.list_dir("signed")
    finally:
        store.close()

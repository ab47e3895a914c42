"""ListObjectsV2 and ListObjects through the gateway, with boto3 and the AWS CLI, over a bucket on
SeaweedFS (the root mount) and over a bucket that is a local mount.

Keys are written straight to the store where many are needed (and where the namespace would
refuse the name), so the listing is what is tested. They are chosen where S3's order (binary,
a directory ``a`` sorting as ``a/``) and the stores' order (by name, ``a`` before ``a-b``) part.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from lxml import etree

from tests.conftest import put_objects
from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tests.server.s3.conftest import admin_of, gateway_client
from tests.tools import run_aws
from tierstore.local import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MiB = 1024 * 1024
# Names around a directory "a": those that extend it with a character below "/" sort before
# "a/" in S3's order and after "a" in the stores'.
TOPS = ("t", "t-1", "t 2", "t+3", "t%4", "t.5", "t0", "té")
MIDS = ("a", "a-b", "a b", "a+", "a%", "a0", "aé")
BESIDE = ("a-file", "a file", "a!", "a+b", "a%25", "a.txt", "a0.txt", "日本", "ü")
AT_ROOT = ("t!", "t-file", "t file", "t,", "a", "é", "~", "Z")


def tricky_keys(per_directory: int) -> list[str]:
    keys = [f"{top}/{mid}/{number}" for top in TOPS for mid in MIDS for number in range(per_directory)]
    keys += [f"{top}/{name}" for top in TOPS for name in BESIDE]
    return keys + list(AT_ROOT)


@dataclass
class Listed:
    """The bucket under test, and a way to write keys straight into its store."""

    name: str
    kind: str
    put: Callable[[str, bytes], None]
    root: Path | None = None
    # Many at once, where the store has a faster way than ``put`` one by one.
    put_all: Callable[[Iterable[tuple[str, bytes]]], None] | None = None

    def put_many(self, keys: Iterable[str], *, plain_names: bool = False) -> None:
        """``plain_names``: no control characters, so the faster ``put_all`` may write them."""
        objects = [(key, b"" if key.endswith("/") else key.encode()) for key in keys]
        if plain_names and self.put_all is not None:
            self.put_all(objects)
            return
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: self.put(*item), objects))


@pytest.fixture
def gateway(
    request: pytest.FixtureRequest, tmp_path: Path, stack: StackInfo, bucket: str
) -> Iterator[RunningServer]:
    """The tests' usual gateway (the namespace cache off); a test parametrized indirectly with a
    ttl gets the cache on, where a listing reads directories' first store pages whole and
    resumes in them from memory (``CACHED``)."""
    ttl = getattr(request, "param", 0)
    extra = {"tierstore.metadata.cache.ttl": ttl} if ttl else None
    server = start_api_server(write_server_config(tmp_path / "server.yaml", stack, bucket, extra=extra))
    yield server
    server.stop()


# Without and with the namespace cache: the walk over kept pages gives the same listing.
CACHED = pytest.mark.parametrize("gateway", [0, 60], ids=["uncached", "cached"], indirect=True)


@pytest.fixture(params=["seaweedfs", "local"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def admin(s3_for: Callable[[str], S3Client], gateway_admin: str) -> S3Client:
    return s3_for(gateway_admin)


def mount(gateway: RunningServer, path: str, root: Path) -> None:
    answer = httpx.post(
        f"{gateway.url}/v1/mounts",
        json={"path": path, "uri": root.as_uri()},
        headers=gateway.auth(),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text


@dataclass
class RootStore:
    """Writes keys straight into the root mount's store (SeaweedFS, ``s3://BUCKET/root/``)."""

    admin_s3: S3Client
    stack: StackInfo
    bucket: str

    def put(self, key: str, body: bytes) -> None:
        """With boto3, which sends any name (obstore refuses control characters)."""
        self.admin_s3.put_object(Bucket=self.bucket, Key=f"root/{key}", Body=body)

    def put_all(self, objects: Iterable[tuple[str, bytes]]) -> None:
        """Many at once, with obstore: a tenth of boto3's time."""
        put_objects(self.stack, self.bucket, ((f"root/{key}", body) for key, body in objects))


@pytest.fixture
def root_store(admin_s3: S3Client, stack: StackInfo, bucket: str) -> RootStore:
    return RootStore(admin_s3, stack, bucket)


@pytest.fixture
def listed(
    kind: str,
    gateway: RunningServer,
    admin: S3Client,
    root_store: RootStore,
    tmp_path: Path,
) -> Listed:
    """A bucket on the root mount (SeaweedFS: ``s3://BUCKET/root/listed``), or one that is a local
    mount (a directory of ``tmp_path``)."""
    if kind == "seaweedfs":
        admin.create_bucket(Bucket="listed")
        return Listed(
            "listed",
            kind,
            lambda key, body: root_store.put(f"listed/{key}", body),
            put_all=lambda objects: root_store.put_all((f"listed/{key}", body) for key, body in objects),
        )
    root = tmp_path / "local-bucket"
    root.mkdir()
    mount(gateway, "/listed", root)

    def write(key: str, body: bytes) -> None:
        target = root / key
        if key.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)

    return Listed("listed", kind, write, root)


def s3_entries(
    keys: Iterable[str], prefix: str = "", delimiter: str | None = None, after: str | None = None
) -> list[tuple[str, bool]]:
    """What S3 lists for ``keys``: (key or common prefix, is a common prefix), in order."""
    found: list[tuple[str, bool]] = []
    for key in sorted(keys):
        if not key.startswith(prefix):
            continue
        entry = (key, False)
        if delimiter:
            at = key.find(delimiter, len(prefix))
            if at >= 0:
                entry = (key[: at + len(delimiter)], True)
        if (after is not None and entry[0] <= after) or (found and found[-1] == entry):
            continue
        found.append(entry)
    return found


def page_entries(page: Any) -> list[tuple[str, bool]]:
    """One page's keys and common prefixes, merged back into key order (S3 sends them apart)."""
    entries = [(item["Key"], False) for item in page.get("Contents", [])]
    entries += [(item["Prefix"], True) for item in page.get("CommonPrefixes", [])]
    return sorted(entries)


def paged(client: S3Client, operation: str, page_size: int, **parameters: Any) -> list[tuple[str, bool]]:
    pages = client.get_paginator(operation).paginate(  # type: ignore[call-overload]
        **parameters, PaginationConfig={"PageSize": page_size}
    )
    found: list[tuple[str, bool]] = []
    for page in pages:
        entries = page_entries(page)
        assert len(entries) <= page_size
        if "KeyCount" in page:
            assert page["KeyCount"] == len(entries)
        found += entries
    return found


def code_of(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def raw_list(
    gateway: RunningServer, key: tuple[str, Any], bucket: str, query: Sequence[tuple[str, str]]
) -> httpx.Response:
    """A GET of the bucket with exactly ``query``, signed by botocore's signer (boto3 would check
    or rewrite some of these parameters first)."""
    assert gateway.s3_url is not None
    text = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in query)
    request = AWSRequest(method="GET", url=f"{gateway.s3_url}/{bucket}?{text}")
    S3SigV4Auth(Credentials(key[0], key[1].reveal()), "s3", "us-east-1").add_auth(request)
    return httpx.get(request.url, headers=dict(request.headers.items()), timeout=30)


def xml_of(answer: httpx.Response) -> etree._Element:
    return etree.fromstring(answer.content)


def texts(document: etree._Element, path: str) -> list[str]:
    return [element.text or "" for element in document.iterfind(_ns(path))]


def _ns(path: str) -> str:
    return "/".join(NS + part for part in path.split("/"))


# -- order and paging ------------------------------------------------------------------------------


@CACHED
def test_every_key_comes_once_in_s3_order_at_every_page_size(admin: S3Client, listed: Listed) -> None:
    keys = tricky_keys(per_directory=44)
    assert len(keys) > 2500
    listed.put_many(keys, plain_names=True)
    expected = s3_entries(keys)
    # Pages of SeaweedFS's own size, and smaller ones cutting its 44-key directories anywhere
    # (sizes prime to 44; not smaller: each page is a request, and pages of 7 took 40 s).
    for v2_size, v1_size in ((1000, 1000), (37, 41)):
        assert paged(admin, "list_objects_v2", v2_size, Bucket=listed.name) == expected
        assert paged(admin, "list_objects", v1_size, Bucket=listed.name) == expected
    # One directory level, with a prefix that is a directory and one that ends mid-name.
    for prefix in ("", "t-1/", "t", "t 2/a"):
        delimited = s3_entries(keys, prefix, "/")
        assert (
            paged(admin, "list_objects_v2", 3, Bucket=listed.name, Prefix=prefix, Delimiter="/") == delimited
        )
        assert paged(admin, "list_objects", 2, Bucket=listed.name, Prefix=prefix, Delimiter="/") == delimited
    # Recursive under a prefix; and another delimiter than "/".
    assert paged(admin, "list_objects_v2", 100, Bucket=listed.name, Prefix="t+") == s3_entries(keys, "t+")
    assert paged(admin, "list_objects_v2", 5, Bucket=listed.name, Delimiter="a") == s3_entries(keys, "", "a")
    assert paged(admin, "list_objects", 5, Bucket=listed.name, Prefix="t", Delimiter="-") == s3_entries(
        keys, "t", "-"
    )


@CACHED
def test_start_after_and_marker_begin_after_any_key(admin: S3Client, listed: Listed) -> None:
    keys = tricky_keys(per_directory=3)
    listed.put_many(keys)
    for after in ("t 2/a", "t 2/a/", "t 2/a+/1", "t-1/a0/9", "t/", "t", "a", "", "zzz", "t.5/ü"):
        expected = s3_entries(keys, after=after or None)
        first = admin.list_objects_v2(Bucket=listed.name, StartAfter=after, MaxKeys=5)
        assert page_entries(first) == expected[:5], after
        assert first.get("StartAfter", "") == after
        assert paged(admin, "list_objects", 13, Bucket=listed.name, Marker=after) == expected
        delimited = s3_entries(keys, "t 2/", "/", after=after or None)
        page = admin.list_objects_v2(Bucket=listed.name, Prefix="t 2/", Delimiter="/", StartAfter=after)
        assert page_entries(page) == delimited, after


def test_v1_gives_next_marker_only_with_a_delimiter(admin: S3Client, listed: Listed) -> None:
    listed.put_many(["d/x", "d/y", "e", "f", "g"])
    plain = admin.list_objects(Bucket=listed.name, MaxKeys=2)
    assert [item["Key"] for item in plain["Contents"]] == ["d/x", "d/y"]
    assert plain["IsTruncated"] and "NextMarker" not in plain
    assert all("Owner" in item for item in plain["Contents"])  # V1 always gives owners
    delimited = admin.list_objects(Bucket=listed.name, MaxKeys=2, Delimiter="/")
    assert page_entries(delimited) == [("d/", True), ("e", False)]
    assert delimited["IsTruncated"] and delimited["NextMarker"] == "e"
    rest = admin.list_objects(Bucket=listed.name, Delimiter="/", Marker="d/")
    assert page_entries(rest) == [("e", False), ("f", False), ("g", False)]
    assert not rest["IsTruncated"] and "NextMarker" not in rest and rest["Marker"] == "d/"


# -- parameters and errors ------------------------------------------------------------------------


def error_of(answer: httpx.Response) -> tuple[int, str, str]:
    """(status, code, ArgumentName) of an error answer."""
    document = etree.fromstring(answer.content)
    return answer.status_code, document.findtext("Code") or "", document.findtext("ArgumentName") or ""


def test_parameters_are_answered_as_s3_answers_them(
    admin: S3Client, listed: Listed, gateway: RunningServer, gateway_admin: str
) -> None:
    listed.put_many(["logs/2024-01", "logs/2024-02", "logs/2025-01", "logs/old/x", "top"])
    page = admin.list_objects_v2(Bucket=listed.name, Prefix="logs/2024-0", MaxKeys=5000)
    assert page["MaxKeys"] == 1000 and page["KeyCount"] == 2 and page["Prefix"] == "logs/2024-0"
    assert [item["Key"] for item in page["Contents"]] == ["logs/2024-01", "logs/2024-02"]
    assert "Owner" not in page["Contents"][0] and page["Contents"][0]["Size"] == len(b"logs/2024-01")
    owned = admin.list_objects_v2(Bucket=listed.name, Prefix="top", FetchOwner=True)
    assert set(owned["Contents"][0]["Owner"]) == {"ID", "DisplayName"}
    nothing = admin.list_objects_v2(Bucket=listed.name, MaxKeys=0)
    assert nothing["KeyCount"] == 0 and not nothing["IsTruncated"] and "Contents" not in nothing
    assert "NextContinuationToken" not in nothing
    levels = admin.list_objects_v2(Bucket=listed.name, Prefix="logs/", Delimiter="/", MaxKeys=3)
    assert page_entries(levels) == [("logs/2024-01", False), ("logs/2024-02", False), ("logs/2025-01", False)]
    assert levels["IsTruncated"] and levels["Delimiter"] == "/"
    rest = admin.list_objects_v2(
        Bucket=listed.name, Prefix="logs/", Delimiter="/", ContinuationToken=levels["NextContinuationToken"]
    )
    assert page_entries(rest) == [("logs/old/", True)] and not rest["IsTruncated"]
    assert rest["ContinuationToken"] == levels["NextContinuationToken"]
    # An empty token starts the listing (and is given back), as the conformance suites expect.
    empty = admin.list_objects_v2(Bucket=listed.name, Prefix="logs/", Delimiter="/", ContinuationToken="")
    assert page_entries(empty) == page_entries(levels) + page_entries(rest)
    assert empty["ContinuationToken"] == ""

    key = gateway.add_s3_key(gateway_admin)
    for query, name in (
        ([("list-type", "2"), ("max-keys", "-1")], "max-keys"),
        ([("list-type", "2"), ("max-keys", "ten")], "max-keys"),
        ([("max-keys", "1.5")], "max-keys"),
        ([("list-type", "2"), ("max-keys", "99999999999")], "max-keys"),
        ([("list-type", "2"), ("encoding-type", "base64")], "encoding-type"),
        ([("encoding-type", "")], "encoding-type"),
        ([("list-type", "3")], "list-type"),
    ):
        answer = raw_list(gateway, key, listed.name, query)
        assert error_of(answer) == (400, "InvalidArgument", name), (query, answer.text)
        assert name in answer.text
    for call in (admin.list_objects_v2, admin.list_objects):
        with pytest.raises(ClientError) as missing:
            call(Bucket="no-such-bucket")
        assert code_of(missing) == "NoSuchBucket"


def test_a_crafted_continuation_token_is_invalid_argument(
    admin: S3Client, listed: Listed, s3_for: Callable[[str], S3Client], gateway_admin: str
) -> None:
    listed.put_many([f"k{number:02}" for number in range(10)])
    token = admin.list_objects_v2(Bucket=listed.name, MaxKeys=3)["NextContinuationToken"]
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    other_key = s3_for(gateway_admin)  # the same user, another access key
    for client, candidate, prefix in (
        (admin, "not a token", ""),
        (admin, "AAAA", ""),
        (admin, flipped, ""),
        (admin, token[:-4], ""),
        (admin, token + "AAAA", ""),
        (admin, "x" * 10_000, ""),
        (admin, token, "k0"),  # another listing's
        (other_key, token, ""),
    ):
        with pytest.raises(ClientError) as refused:
            client.list_objects_v2(Bucket=listed.name, ContinuationToken=candidate, Prefix=prefix)
        assert code_of(refused) == "InvalidArgument", candidate[:40]
        assert "continuation token" in str(refused.value)
    rest = admin.list_objects_v2(Bucket=listed.name, ContinuationToken=token)
    assert [item["Key"] for item in rest["Contents"]] == [f"k{number:02}" for number in range(3, 10)]


# -- names -----------------------------------------------------------------------------------------

ODD_NAMES = (
    "sp ace",
    "plus+sign",
    "per%25cent",
    "ünï/cödé",
    "amp&<>'\"",
    "tab\there",
    "new\nline",
    "cr\rkey",
)


def test_names_come_back_whole_with_and_without_url_encoding(
    admin: S3Client, listed: Listed, gateway: RunningServer, gateway_admin: str
) -> None:
    # Control characters: written straight to the store (the namespace creates no such name).
    listed.put_many(ODD_NAMES)
    expected = sorted(ODD_NAMES)
    assert [item["Key"] for item in admin.list_objects_v2(Bucket=listed.name)["Contents"]] == expected
    assert [item["Key"] for item in admin.list_objects(Bucket=listed.name)["Contents"]] == expected
    key = gateway.add_s3_key(gateway_admin)
    query = [("list-type", "2"), ("encoding-type", "url"), ("prefix", ""), ("start-after", "a b+")]
    encoded = xml_of(raw_list(gateway, key, listed.name, [*query, ("delimiter", "/")]))
    assert encoded.findtext(NS + "EncodingType") == "url"
    assert encoded.findtext(NS + "StartAfter") == "a%20b%2B"
    assert encoded.findtext(NS + "Delimiter") == "/"
    names = texts(encoded, "Contents/Key")
    assert "sp%20ace" in names and "plus%2Bsign" in names and "per%2525cent" in names
    assert "new%0Aline" in names and "cr%0Dkey" in names
    assert texts(encoded, "CommonPrefixes/Prefix") == ["%C3%BCn%C3%AF/"]
    assert sorted([unquote(name) for name in names] + ["ünï/cödé"]) == expected
    plain = xml_of(raw_list(gateway, key, listed.name, [("list-type", "2")]))
    assert texts(plain, "Contents/Key") == expected
    v1 = xml_of(raw_list(gateway, key, listed.name, [("encoding-type", "url"), ("marker", "plus+sign")]))
    assert v1.findtext(NS + "Marker") == "plus%2Bsign"
    assert [unquote(name) for name in texts(v1, "Contents/Key")] == [
        name for name in expected if name > "plus+sign"
    ]
    # As ceph/s3-tests' *_unreadable tests read them through boto3 (which asks for url encoding):
    # prefixes, markers and delimiters holding a control character come back as sent.
    for call, echoed in ((admin.list_objects, "Marker"), (admin.list_objects_v2, "StartAfter")):
        parameter = "Marker" if echoed == "Marker" else "StartAfter"
        prefixed = call(Bucket=listed.name, Prefix="\n", Delimiter="\n", **{parameter: "\n"})  # type: ignore[operator]
        assert (prefixed["Prefix"], prefixed["Delimiter"], prefixed[echoed]) == ("\n", "\n", "\n")
        assert "Contents" not in prefixed


# -- directories and permissions -------------------------------------------------------------------


@CACHED
def test_empty_directories_are_keys_and_others_are_prefixes(admin: S3Client, listed: Listed) -> None:
    admin.put_object(Bucket=listed.name, Key="empty/", Body=b"")
    admin.put_object(Bucket=listed.name, Key="nest/deeper/", Body=b"")
    for key in ("full/x", "nest/f", "nest-file"):
        admin.put_object(Bucket=listed.name, Key=key, Body=b"data")
    everything = admin.list_objects_v2(Bucket=listed.name)["Contents"]
    assert [item["Key"] for item in everything] == ["empty/", "full/x", "nest-file", "nest/deeper/", "nest/f"]
    marker = everything[0]
    assert marker["Size"] == 0
    assert marker["ETag"] == admin.head_object(Bucket=listed.name, Key="empty/")["ETag"]
    level = admin.list_objects_v2(Bucket=listed.name, Delimiter="/")
    assert page_entries(level) == [("empty/", True), ("full/", True), ("nest-file", False), ("nest/", True)]
    inside = admin.list_objects_v2(Bucket=listed.name, Prefix="empty/", Delimiter="/")
    assert page_entries(inside) == [("empty/", False)]  # the folder's own marker, as S3 lists it
    assert page_entries(admin.list_objects_v2(Bucket=listed.name, Prefix="full/")) == [("full/x", False)]
    assert page_entries(admin.list_objects(Bucket=listed.name, Prefix="nest/")) == [
        ("nest/deeper/", False),
        ("nest/f", False),
    ]
    # A prefix naming nothing, or a file as if it were a directory: no keys, no error.
    for prefix in ("missing/", "missing/deeper/x", "nest-file/", "full/x/"):
        assert "Contents" not in admin.list_objects_v2(Bucket=listed.name, Prefix=prefix), prefix


@CACHED
def test_listing_follows_the_namespace_permissions(
    admin: S3Client, listed: Listed, gateway: RunningServer, s3_for: Callable[[str], S3Client]
) -> None:
    for key in ("open/a", "open/closed/secret", "open/closed/more/deep", "open/sub/b", "open/zz"):
        admin.put_object(Bucket=listed.name, Key=key, Body=b"x")
    gateway.add_user("bob")
    bob = s3_for("bob")
    http = httpx.Client(base_url=gateway.url, headers=gateway.auth())

    def chmod(path: str, mode: str) -> None:
        assert http.post("/v1/fs/chmod", json={"path": path, "mode": mode}).status_code == 200

    chmod("/", "0711")
    chmod("/listed", "0755")
    chmod("/listed/open/closed", "0700")
    chmod("/listed/open/sub", "0755")  # its own bits: those of /listed change below
    # Recursive: what bob may not list is left out, as find leaves it out.
    assert [item["Key"] for item in bob.list_objects_v2(Bucket=listed.name)["Contents"]] == [
        "open/a",
        "open/sub/b",
        "open/zz",
    ]
    assert paged(bob, "list_objects", 1, Bucket=listed.name) == [
        ("open/a", False),
        ("open/sub/b", False),
        ("open/zz", False),
    ]
    # One level: the name shows, as ls shows it in its parent.
    level = bob.list_objects_v2(Bucket=listed.name, Prefix="open/", Delimiter="/")
    assert page_entries(level) == [
        ("open/a", False),
        ("open/closed/", True),
        ("open/sub/", True),
        ("open/zz", False),
    ]
    # Listing inside it is refused, whatever the prefix; a missing directory is just empty.
    for prefix in ("open/closed/", "open/closed/s", "open/closed/more/"):
        with pytest.raises(ClientError) as refused:
            bob.list_objects_v2(Bucket=listed.name, Prefix=prefix)
        assert code_of(refused) == "AccessDenied", prefix
    assert "Contents" not in bob.list_objects_v2(Bucket=listed.name, Prefix="open/nothing/")
    # Search but no read on the bucket: a listing of it is refused, one of a directory inside it is not.
    chmod("/listed", "0711")
    with pytest.raises(ClientError) as bucket_refused:
        bob.list_objects_v2(Bucket=listed.name)
    assert code_of(bucket_refused) == "AccessDenied"
    with pytest.raises(ClientError) as mid_name:
        bob.list_objects(Bucket=listed.name, Prefix="op")
    assert code_of(mid_name) == "AccessDenied"
    assert [
        item["Key"] for item in bob.list_objects_v2(Bucket=listed.name, Prefix="open/sub/")["Contents"]
    ] == ["open/sub/b"]
    # Read without search on a directory: not listed (ls -l and find need both).
    chmod("/listed", "0755")
    chmod("/listed/open/sub", "0744")
    with pytest.raises(ClientError) as no_search:
        bob.list_objects_v2(Bucket=listed.name, Prefix="open/sub/")
    assert code_of(no_search) == "AccessDenied"
    assert [item["Key"] for item in bob.list_objects_v2(Bucket=listed.name)["Contents"]] == [
        "open/a",
        "open/zz",
    ]


def test_owner_is_the_namespace_owner(
    admin: S3Client, listed: Listed, gateway: RunningServer, s3_for: Callable[[str], S3Client]
) -> None:
    gateway.add_user("carol")
    carol = s3_for("carol")
    http = httpx.Client(base_url=gateway.url, headers=gateway.auth())
    for path, mode in (("/", "0711"), ("/listed", "0777")):
        assert http.post("/v1/fs/chmod", json={"path": path, "mode": mode}).status_code == 200
    carol.put_object(Bucket=listed.name, Key="hers", Body=b"c")
    owned = carol.list_objects_v2(Bucket=listed.name, FetchOwner=True)["Contents"]
    assert owned[0]["Owner"] == {"ID": "carol", "DisplayName": "carol"}
    assert admin.list_objects(Bucket=listed.name)["Contents"][0]["Owner"]["ID"] == "carol"
    assert "Owner" not in carol.list_objects_v2(Bucket=listed.name)["Contents"][0]


def test_head_and_list_give_the_same_etag(admin: S3Client, listed: Listed) -> None:
    admin.put_object(Bucket=listed.name, Key="through/gateway", Body=b"hello")
    listed.put("straight/to-store", b"written beside tierstore")
    admin.put_object(Bucket=listed.name, Key="folder/", Body=b"")
    parts = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    admin.upload_fileobj(io.BytesIO(b"m" * (11 * MiB)), listed.name, "multi/part", Config=parts)
    listed_etags = {
        item["Key"]: item["ETag"] for item in admin.list_objects_v2(Bucket=listed.name)["Contents"]
    }
    assert set(listed_etags) == {"through/gateway", "straight/to-store", "folder/", "multi/part"}
    assert listed_etags["multi/part"].endswith('-3"')
    for key, etag in listed_etags.items():
        assert admin.head_object(Bucket=listed.name, Key=key)["ETag"] == etag, key
    v1 = {item["Key"]: item["ETag"] for item in admin.list_objects(Bucket=listed.name)["Contents"]}
    assert v1 == listed_etags
    # The MD5 of a single-part object, as S3 gives it, on both kinds of mount.
    assert listed_etags["through/gateway"] == '"5d41402abc4b2a76b9719d911017c592"'


@CACHED
def test_mount_points_inside_a_bucket_come_in_key_order(
    admin: S3Client, gateway: RunningServer, tmp_path: Path, root_store: RootStore
) -> None:
    admin.create_bucket(Bucket="mounted")
    for key in ("m-1", "m 2", "m0", "l"):
        admin.put_object(Bucket="mounted", Key=key, Body=b"s3")
    for number, name in enumerate(("m", "m+", "n/deep")):
        # Plain directory names: file:// URIs are read without percent-decoding (file:///m%2B).
        root = tmp_path / f"mount-{number}"
        root.mkdir()
        (root / "inside").write_bytes(b"local")
        mount(gateway, f"/mounted/{name}", root)
    # Hidden by the mount at m: the namespace shows the mount there.
    root_store.put("mounted/m/hidden", b"s3")
    keys = ["m-1", "m 2", "m0", "l", "m/inside", "m+/inside", "n/deep/inside"]
    assert paged(admin, "list_objects_v2", 2, Bucket="mounted") == s3_entries(keys)
    assert paged(admin, "list_objects", 1, Bucket="mounted", Delimiter="/") == s3_entries(keys, "", "/")


# -- the AWS CLI -------------------------------------------------------------------------------------


def test_aws_s3_ls_lists_levels_and_everything(
    admin: S3Client, listed: Listed, gateway: RunningServer, gateway_admin: str
) -> None:
    keys = ["a-b", "a b", "a/b", "a/c/d", "a0", "empty/", "z"]
    for key in keys:
        admin.put_object(Bucket=listed.name, Key=key, Body=b"" if key.endswith("/") else b"12345")
    assert gateway.s3_url is not None
    key_id, secret = gateway.add_s3_key(gateway_admin)
    level = run_aws(gateway.s3_url, key_id, secret.reveal(), "s3", "ls", f"s3://{listed.name}/")
    assert level.returncode == 0, level.stderr
    lines = level.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.split()[0] == "PRE"] == ["a/", "empty/"]
    assert [line[31:] for line in lines if line.split()[0] != "PRE"] == ["a b", "a-b", "a0", "z"]
    everything = run_aws(
        gateway.s3_url, key_id, secret.reveal(), "s3", "ls", "--recursive", f"s3://{listed.name}/"
    )
    assert everything.returncode == 0, everything.stderr
    names = [line[31:] for line in everything.stdout.splitlines()]
    assert names == sorted(keys)
    sizes = [int(line[19:30]) for line in everything.stdout.splitlines()]
    assert sizes == [0 if key.endswith("/") else 5 for key in sorted(keys)]


def test_aws_s3_sync_copies_once_and_then_finds_nothing_to_do(
    admin: S3Client, listed: Listed, gateway: RunningServer, gateway_admin: str, tmp_path: Path
) -> None:
    # sync walks the bucket's listing and the local tree side by side: both must be in key order.
    keys = ["a-b", "a b", "a/b", "a/c/d", "a0", "a.txt", "b+c", "sub-dir/x", "sub/x", "sub/y/z"]
    for key in keys:
        admin.put_object(Bucket=listed.name, Key=key, Body=key.encode())
    assert gateway.s3_url is not None
    key_id, secret = gateway.add_s3_key(gateway_admin)
    target = tmp_path / "copy"
    for attempt in range(2):
        synced = run_aws(
            gateway.s3_url,
            key_id,
            secret.reveal(),
            "s3",
            "sync",
            "--no-progress",
            f"s3://{listed.name}/",
            str(target),
        )
        assert synced.returncode == 0, synced.stderr
        copied = [line for line in synced.stdout.splitlines() if line.startswith("download:")]
        assert len(copied) == (len(keys) if attempt == 0 else 0), synced.stdout
    assert sorted(
        path.relative_to(target).as_posix() for path in target.rglob("*") if path.is_file()
    ) == sorted(keys)


def test_a_paged_listing_asks_the_store_for_each_directory_once(
    stack: StackInfo, bucket: str, root_store: RootStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # With the namespace's cache on (the tests' servers run without it): pages that cut the
    # directories anywhere, and each directory's store listing is made once, its first page
    # kept whole and the next gateway page resumed in it from memory, the directory after the
    # one being listed read ahead. The server runs in this process: its store calls log here.
    config = write_server_config(
        tmp_path / "server.yaml", stack, bucket, extra={"tierstore.metadata.cache.ttl": 60}
    )
    assert config.read_text().count("tierstore.metadata.cache.ttl") == 2  # the later one wins
    server = start_api_server(config)
    try:
        assert server.s3_url is not None
        key_id, secret = server.add_s3_key(admin_of(server))
        admin = gateway_client(server.s3_url, key_id, secret.reveal())
        admin.create_bucket(Bucket="dirs")
        keys = [f"d{number}/k{key}" for number in range(6) for key in range(5)]
        root_store.put_all((f"dirs/{key}", b"x") for key in keys)
        caplog.set_level(logging.DEBUG, logger="tierstore.storage")
        caplog.clear()
        assert paged(admin, "list_objects_v2", 4, Bucket="dirs") == s3_entries(keys)
    finally:
        server.stop()
    listings = [
        record.getMessage().split()[1].rsplit("/root/", 1)[1]
        for record in caplog.records
        if record.name == "tierstore.storage" and record.getMessage().startswith("list ")
    ]
    assert sorted(listings) == ["/dirs/", *(f"/dirs/d{number}/" for number in range(6))], listings

"""Delimiter listings: which XML parser, and what a whole listing costs next to its peers.

One run starts the local stack (SeaweedFS), writes a directory of 10,000 objects and one of
10,000 sub-directories (one object each), and prints, side by side (medians of the rounds, and
the fastest round, since other processes share the machine):

1. Parsing one real 1,000-entry ListObjectsV2 page (objects; common prefixes), already fetched:
   lxml (``tierstore.storage.s3.list_xml``), the standard library's ElementTree (expat) read
   the same way, and botocore's own parser (what ``list_objects_v2`` runs).
2. A whole 10,000-entry delimiter listing of each directory, wall and client CPU seconds:
   tierstore's ``list_pages(delimiter="/")`` (botocore signs, urllib3 sends, lxml reads), the
   old path (botocore's ``list_objects_v2``, plus the one LIST per common prefix it made to
   hide empty folders), and obstore's ``list_with_delimiter`` (the reference; it cannot page,
   so it holds the whole directory at once).

Every parser's output is checked against lxml's, and every listing's entries against what was
written, so a broken candidate cannot look fast.

    .venv/bin/python bench/list_parsers.py [--rounds N] [--entries N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus
from xml.etree import ElementTree

import botocore.parsers
import obstore
import urllib3
from obstore.store import S3Store as ObstoreS3Store

from tierstore.credentials.resolve import credential_source_for
from tierstore.local.stack import start_stack, stop_stack
from tierstore.settings.model import AccessKeys, StoreLocation, StoreSettings
from tierstore.storage.interface import ObjectInfo
from tierstore.storage.s3.list_xml import ListAnswer, parse_list_answer
from tierstore.storage.s3.listing import botocore_pages
from tierstore.storage.s3.store import S3Store

BUCKET = "listbench"
PAGE = 1000


# -- the candidate parsers ----------------------------------------------------------------------


def parse_expat(body: bytes) -> ListAnswer:
    """The same reading as list_xml's, on the standard library's ElementTree (expat)."""
    root = ElementTree.fromstring(body)
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    key_tag, size_tag, etag_tag, modified_tag = (
        namespace + name for name in ("Key", "Size", "ETag", "LastModified")
    )
    entries: list[tuple[str, int, str | None, datetime | None]] = []
    prefixes: list[str] = []
    truncated, token, encoded = False, None, False
    for child in root:
        name = child.tag[len(namespace) :]
        if name == "Contents":
            key = size = etag = modified = None
            for field in child:
                tag = field.tag
                if tag == key_tag:
                    key = field.text
                elif tag == size_tag:
                    size = field.text
                elif tag == etag_tag:
                    etag = field.text
                elif tag == modified_tag:
                    modified = field.text
            assert key is not None and size is not None
            entries.append((key, int(size), etag, datetime.fromisoformat(modified) if modified else None))
        elif name == "CommonPrefixes":
            prefixes.extend(entry.text or "" for entry in child)
        elif name == "IsTruncated":
            truncated = child.text == "true"
        elif name == "NextContinuationToken":
            token = child.text
        elif name == "EncodingType":
            encoded = child.text == "url"
    decode: Callable[[str], str] = unquote_plus if encoded else str
    objects = [ObjectInfo(decode(key), size, etag, at) for key, size, etag, at in entries]
    return ListAnswer(objects, [decode(prefix) for prefix in prefixes], truncated, token)


def botocore_parser(store: S3Store) -> Callable[[bytes], Any]:
    """botocore's rest-xml parser on ListObjectsV2's output shape: what list_objects_v2 runs."""
    model = store.control.meta.service_model.operation_model("ListObjectsV2")
    parser = botocore.parsers.create_parser("rest-xml")
    shape = model.output_shape
    assert shape is not None

    def parse(body: bytes) -> Any:
        response = {"status_code": 200, "headers": {}, "body": body}
        return parser.parse(response, shape)

    return parse


# -- set-up ---------------------------------------------------------------------------------


def store_for(endpoint: str, region: str, key_id: str, secret: str) -> S3Store:
    from tierstore.settings.secret import Secret

    settings = StoreSettings(
        location=StoreLocation(scheme="s3", bucket=BUCKET, prefix=""),
        endpoint=endpoint,
        region=region,
        path_style=True,
        keys=AccessKeys(key_id, Secret(secret)),
    )
    return S3Store(settings, credential_source_for(settings))


def obstore_for(endpoint: str, region: str, key_id: str, secret: str) -> ObstoreS3Store:
    return ObstoreS3Store(
        BUCKET,
        config={
            "endpoint": endpoint,
            "region": region,
            "access_key_id": key_id,
            "secret_access_key": secret,
            "virtual_hosted_style_request": False,
        },
        client_options={"allow_http": True},
    )


def seed(store: S3Store, entries: int) -> tuple[list[str], list[str]]:
    objects = [f"flat/part-{index:06d}.parquet" for index in range(entries)]
    directories = [f"dirs/date={index:06d}/" for index in range(entries)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: store.put(key, b"x"), objects))
        list(pool.map(lambda prefix: store.put(f"{prefix}data.parquet", b"x"), directories))
    return objects, directories


def raw_page(store: S3Store, prefix: str) -> bytes:
    url = store.control.generate_presigned_url(
        "list_objects_v2",
        Params={"Bucket": BUCKET, "Prefix": prefix, "Delimiter": "/", "MaxKeys": PAGE, "EncodingType": "url"},
    )
    body: bytes = urllib3.request("GET", url).data
    return body


# -- the whole listings -----------------------------------------------------------------------


def tierstore_listing(store: S3Store, prefix: str) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    prefixes: list[str] = []
    for page in store.list_pages(prefix, delimiter="/", page_size=PAGE):
        keys.extend(info.key for info in page.objects)
        prefixes.extend(page.prefixes)
    return keys, prefixes


def old_listing(store: S3Store, prefix: str) -> tuple[list[str], list[str]]:
    """What list_pages(delimiter="/") did before: botocore's list_objects_v2 page by page, and for
    each common prefix one more LIST (obstore, one key) to see whether it held anything."""
    obstore_store: ObstoreS3Store = store._store  # the old path listed through the store's own
    keys: list[str] = []
    prefixes: list[str] = []
    pages = botocore_pages(
        store.control,
        lambda action: action(),
        bucket=BUCKET,
        base_prefix="",
        prefix=prefix,
        delimiter="/",
        start_after=None,
        page_size=PAGE,
    )
    for page in pages:
        keys.extend(info.key for info in page.objects)
        for common in page.prefixes:
            if next(iter(obstore.list(obstore_store, common.rstrip("/"), chunk_size=1)), None):
                prefixes.append(common)
    return keys, prefixes


def obstore_listing(store: ObstoreS3Store, prefix: str) -> tuple[list[str], list[str]]:
    result = obstore.list_with_delimiter(store, prefix.rstrip("/"))
    return [str(meta["path"]) for meta in result["objects"]], [f"{p}/" for p in result["common_prefixes"]]


# -- measuring --------------------------------------------------------------------------------


def timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the whole listings (5)")
    parser.add_argument("--parse-rounds", type=int, default=50, help="parses of each page per parser")
    parser.add_argument("--entries", type=int, default=10_000, help="entries in each directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}; cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="list-bench-", ignore_cleanup_errors=True) as tmp:
        directory = Path(tmp) / "stack"
        try:
            info = start_stack(directory)
            admin = info.users["admin"]
            keys = (info.endpoint, info.region, admin.access_key_id, admin.secret_access_key.reveal())
            store = store_for(*keys)
            store.ensure_bucket()
            started = time.perf_counter()
            objects, directories = seed(store, args.entries)
            print(
                f"seeded {len(objects):,} objects and {len(directories):,} sub-directories "
                f"in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            parse_pages(store, args.parse_rounds)
            whole_listings(store, obstore_for(*keys), objects, directories, args.rounds)
            store.close()
        finally:
            stop_stack(directory)
    return 0


def parse_pages(store: S3Store, rounds: int) -> None:
    pages = {"1,000 objects": raw_page(store, "flat/"), "1,000 common prefixes": raw_page(store, "dirs/")}
    parsers: dict[str, Callable[[bytes], Any]] = {
        "lxml (chosen)": parse_list_answer,
        "ElementTree (expat)": parse_expat,
        "botocore": botocore_parser(store),
    }
    for label, body in pages.items():
        expected = parse_list_answer(body)
        assert len(expected.objects) + len(expected.prefixes) == PAGE, label
        assert parse_expat(body) == expected, f"ElementTree read {label} differently"
        parsed = parsers["botocore"](body)
        assert len(parsed.get("Contents", [])) + len(parsed.get("CommonPrefixes", [])) == PAGE
    times: dict[tuple[str, str], list[float]] = {(p, label): [] for p in parsers for label in pages}
    for _ in range(rounds):  # interleaved, so a busy moment of the machine hits every candidate
        for name, parse in parsers.items():
            for label, body in pages.items():
                times[(name, label)].append(timed(lambda: parse(body))[1])  # noqa: B023
    print(
        f"\nparsing one {PAGE:,}-entry page ({len(pages['1,000 objects']):,} and "
        f"{len(pages['1,000 common prefixes']):,} bytes), CPU ms: median (fastest) of {rounds}"
    )
    print(f"{'parser':24s} " + " ".join(f"{label:>24s}" for label in pages))
    for name in parsers:
        cells = [_cell(times[(name, label)], 1000, "ms") for label in pages]
        print(f"{name:24s} " + " ".join(f"{cell:>24s}" for cell in cells))


def whole_listings(
    store: S3Store, reference: ObstoreS3Store, objects: list[str], directories: list[str], rounds: int
) -> None:
    listings: dict[str, Callable[[str], tuple[list[str], list[str]]]] = {
        "tierstore list_pages": lambda prefix: tierstore_listing(store, prefix),
        "old path (botocore)": lambda prefix: old_listing(store, prefix),
        "obstore list_with_delimiter": lambda prefix: obstore_listing(reference, prefix),
    }
    expected = {"flat/": (objects, []), "dirs/": ([], directories)}
    wall: dict[tuple[str, str], list[float]] = {(n, p): [] for n in listings for p in expected}
    cpu: dict[tuple[str, str], list[float]] = {(n, p): [] for n in listings for p in expected}
    for _ in range(rounds):
        for name, listing in listings.items():
            for prefix, want in expected.items():
                spent, used, got = timed(lambda: listing(prefix))  # noqa: B023
                assert got == want, (
                    f"{name} listed {prefix} wrong: {len(got[0])} keys, {len(got[1])} prefixes"
                )
                wall[(name, prefix)].append(spent)
                cpu[(name, prefix)].append(used)
    count = len(objects)
    print(f"\na whole delimiter listing, {count:,} entries, seconds: median (fastest) of {rounds}")
    columns = ("objects wall", "objects CPU", "prefixes wall", "prefixes CPU")
    print(f"{'client':30s} " + " ".join(f"{column:>16s}" for column in columns))
    for name in listings:
        cells = [_cell(series[(name, prefix)], 1, "s") for prefix in expected for series in (wall, cpu)]
        print(f"{name:30s} " + " ".join(f"{cell:>16s}" for cell in cells))


def _cell(values: list[float], scale: float, unit: str) -> str:
    digits = 3 if unit == "s" else 2
    return f"{statistics.median(values) * scale:.{digits}f} ({min(values) * scale:.{digits}f})"


if __name__ == "__main__":
    sys.exit(main())

"""The S3 gateway's library choices, measured: XML parsing and rendering, and body checksums.

- **Parsing** a DeleteObjects body of 1,000 keys and a CompleteMultipartUpload body of 10,000
  parts (as botocore writes them): lxml with the gateway's safe parser
  (``tierstore.server.s3.xml``), the standard library's C parser (no DTD guard: the floor), and
  defusedxml (the standard library's pure-Python parser with DTDs forbidden).
- **Rendering** a 1,000-key ListObjectsV2 page: the gateway's string writer, lxml's tree and
  serializer, and the standard library's ElementTree.
- **Checksums** over 64 MiB in 1 MiB pieces: CRC32 by zlib and zlib-ng, CRC32C by google-crc32c,
  crc32c and awscrt, CRC64NVME by anycrc and awscrt (those installed: awscrt is not, as botocore
  switches to CRT signing when it can import it), and SHA-1 / SHA-256 by hashlib for scale.

Each figure is the best of ``--repeat`` runs (the machine is shared; the best is the least
disturbed).

    .venv/bin/python bench/s3_xml_checksum_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import importlib.util
import os
import time
import zlib
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import botocore.session
from botocore.serialize import create_serializer
from lxml import etree
from zlib_ng import zlib_ng

from tierstore.server.s3 import xml
from tierstore.server.s3.checksums import algorithm_for

NAMESPACE = xml.NAMESPACE
WHEN = dt.datetime(2024, 5, 1, 12, 30, 45, tzinfo=dt.UTC)


def best(repeat: int, run: Callable[[], object], number: int = 1) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            run()
        times.append((time.perf_counter() - started) / number)
    return min(times)


def bodies() -> dict[str, bytes]:
    model = botocore.session.get_session().get_service_model("s3")
    serializer = create_serializer("rest-xml")
    objects = [{"Key": f"warehouse/events/date=2024-05-01/part-{n:05d}.parquet"} for n in range(1000)]
    delete = serializer.serialize_to_request(
        {"Bucket": "b", "Delete": {"Objects": objects, "Quiet": True}}, model.operation_model("DeleteObjects")
    )["body"]
    parts = [{"PartNumber": n, "ETag": f'"{n:032x}"'} for n in range(1, 10001)]
    complete = serializer.serialize_to_request(
        {"Bucket": "b", "Key": "k", "UploadId": "u", "MultipartUpload": {"Parts": parts}},
        model.operation_model("CompleteMultipartUpload"),
    )["body"]
    return {"Delete, 1,000 keys": delete, "Complete, 10,000 parts": complete}


def walk(root: Any) -> list[str | None]:
    """The texts of the grandchildren (keys, part numbers, ETags): what any parse must reach."""
    return [leaf.text for child in root for leaf in child]


def lxml_parse(body: bytes) -> list[str | None]:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True
    )
    return walk(etree.fromstring(body, parser))


def gateway_parse(body: bytes) -> object:
    if body.startswith(b"<Delete"):
        return xml.parse_delete(body)
    return xml.parse_complete_multipart_upload(body)


def parsing(repeat: int) -> None:
    print("parsing, and reaching every key or part (ms)")
    candidates: dict[str, Callable[[bytes], object]] = {
        "lxml, the gateway's options": lxml_parse,
        "stdlib C parser, unguarded": lambda body: walk(ElementTree.fromstring(body)),
    }
    if importlib.util.find_spec("defusedxml") is not None:
        from defusedxml import ElementTree as DefusedElementTree

        candidates["defusedxml"] = lambda body: walk(DefusedElementTree.fromstring(body, forbid_dtd=True))
    candidates["the gateway's parse, checks included"] = gateway_parse
    for label, body in bodies().items():
        for name, parse in candidates.items():
            seconds = best(repeat, functools.partial(parse, body), 5)
            print(f"  {label:24s} {name:38s} {seconds * 1e3:8.2f}")


def rendering(repeat: int) -> None:
    entries = [
        xml.ObjectEntry(f"warehouse/events/part-{n:05d}.parquet", WHEN, f"{n:032x}", 123_456)
        for n in range(1000)
    ]
    page = xml.Listing("bucket", prefix="warehouse/", max_keys=1000, contents=entries)

    def tree(module: Any) -> bytes:
        root = module.Element("ListBucketResult", xmlns=NAMESPACE)
        for tag, text in (("Name", "bucket"), ("Prefix", "warehouse/"), ("KeyCount", "1000")):
            module.SubElement(root, tag).text = text
        for entry in entries:
            contents = module.SubElement(root, "Contents")
            module.SubElement(contents, "Key").text = entry.key
            module.SubElement(contents, "LastModified").text = xml.timestamp(entry.last_modified)
            module.SubElement(contents, "ETag").text = xml.quoted_etag(entry.etag)
            module.SubElement(contents, "Size").text = str(entry.size)
            module.SubElement(contents, "StorageClass").text = "STANDARD"
        result: bytes = module.tostring(root, encoding="UTF-8", xml_declaration=True)
        return result

    print("rendering a 1,000-key ListObjectsV2 page (ms)")
    for name, render in (
        ("the gateway's string writer", lambda: xml.list_objects_v2(page)),
        ("lxml tree + tostring", lambda: tree(etree)),
        ("stdlib ElementTree + tostring", lambda: tree(ElementTree)),
    ):
        print(f"  {name:32s} {best(repeat, render, 5) * 1e3:8.2f}")


def checksums(repeat: int) -> None:
    data = os.urandom(64 * 1024 * 1024)
    pieces = [data[start : start + (1 << 20)] for start in range(0, len(data), 1 << 20)]

    def folded(step: Callable[[bytes, int], int]) -> Callable[[], int]:
        def run() -> int:
            value = 0
            for piece in pieces:
                value = step(piece, value)
            return value

        return run

    def hashed(new: Callable[[], Any]) -> Callable[[], object]:
        def run() -> object:
            digest = new()
            for piece in pieces:
                digest.update(piece)
            return digest.digest()

        return run

    candidates: dict[str, Callable[[], object]] = {
        "CRC32 zlib": folded(zlib.crc32),
        "CRC32 zlib-ng (chosen)": folded(zlib_ng.crc32),
    }
    import google_crc32c

    candidates["CRC32C google-crc32c (chosen)"] = hashed(google_crc32c.Checksum)
    if importlib.util.find_spec("crc32c") is not None:
        import crc32c

        candidates["CRC32C crc32c (LGPL)"] = folded(crc32c.crc32c)
    if importlib.util.find_spec("awscrt") is not None:
        from awscrt import checksums as crt

        candidates["CRC32C awscrt"] = folded(crt.crc32c)
    crc64nvme = algorithm_for("x-amz-checksum-crc64nvme")
    assert crc64nvme is not None
    candidates["CRC64NVME anycrc (chosen)"] = hashed(crc64nvme.new)
    if importlib.util.find_spec("awscrt") is not None:
        from awscrt import checksums as crt

        candidates["CRC64NVME awscrt"] = folded(crt.crc64nvme)
    candidates["SHA-1 hashlib"] = hashed(hashlib.sha1)
    candidates["SHA-256 hashlib"] = hashed(hashlib.sha256)
    print("checksums over 64 MiB in 1 MiB pieces (GB/s)")
    for name, run in candidates.items():
        print(f"  {name:32s} {len(data) / best(repeat, run) / 1e9:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    parsing(repeat)
    rendering(repeat)
    checksums(repeat)


if __name__ == "__main__":
    main()

"""The arguments every multipart request carries: the key of a file, the upload id, a part number."""

from __future__ import annotations

from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.storage.uploads import MAX_PART_NUMBER


def file_key(call: S3Call) -> str:
    """The key, which must name a file: a key ending in ``/`` is a directory."""
    key = call.key
    if key.endswith("/"):
        raise S3Error(
            "InvalidArgument",
            f"Key {key!r} ends in '/': it names a directory, which a multipart upload cannot make",
            details=[("ArgumentName", "key")],
        )
    return key


def upload_id_of(call: S3Call) -> str:
    given = call.query.get("uploadId", "")
    if not given:
        raise S3Error(
            "InvalidArgument",
            f"The request on {call.resource} needs the uploadId of a multipart upload",
            details=[("ArgumentName", "uploadId"), ("ArgumentValue", given)],
        )
    return given


def part_number_of(call: S3Call) -> int:
    text = call.query.get("partNumber", "")
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PART_NUMBER:
        raise S3Error(
            "InvalidArgument",
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive: {text[:20]!r}",
            details=[("ArgumentName", "partNumber"), ("ArgumentValue", text[:20])],
        )
    return int(text)

"""S3's conditional writes as each client says them: ``If-None-Match: *`` (create only) and
``If-Match: "<etag>"`` (replace only that version), which the store judges with the write."""

from __future__ import annotations

from tierstore.storage.interface import WriteCondition


def quoted(etag: str) -> str:
    """An ETag as S3 sends and compares it: in double quotes."""
    return etag if etag.startswith('"') else f'"{etag}"'


def botocore_condition(condition: WriteCondition | None) -> dict[str, str]:
    """PutObject's (and CompleteMultipartUpload's) fields for ``condition``."""
    if condition is None:
        return {}
    if condition.absent:
        return {"IfNoneMatch": "*"}
    return {"IfMatch": quoted(condition.etag or "")}

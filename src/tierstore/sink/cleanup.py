"""Uploads a crashed sink left behind: found and aborted when their partition is assigned.

A sink that dies mid-file leaves an incomplete multipart upload: invisible to readers, but its
parts are stored (and billed) until someone aborts it. Object keys name their topic-partition
(``FileNameTemplate.owner_of``), so when partitions are assigned to a worker, every upload under
the sink's location whose key maps to one of them is aborted. That is safe: with the group's
assignment a partition has one owner, and the previous owner completed or aborted its own files
before giving the partition up (or died); an upload of the partition is therefore left over.
Uploads that do not belong to this sink's partitions are never touched.

This needs ``s3:ListBucketMultipartUploads`` and ``s3:AbortMultipartUpload``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Protocol, runtime_checkable

from tierstore.storage.interface import Store
from tierstore.storage.layers import StoreLayer

LOGGER = logging.getLogger("tierstore.sink")

TopicPartition = tuple[str, int]


@runtime_checkable
class MultipartControl(Protocol):
    def list_multipart_uploads(self, prefix: str = "") -> list[tuple[str, str]]: ...

    def abort_multipart_upload(self, key: str, upload_id: str) -> None: ...


def multipart_control(store: Store) -> MultipartControl | None:
    """The store's multipart listing and abort calls, through its layers; None if it has none."""
    inner: Store = store
    while isinstance(inner, StoreLayer):
        inner = inner.inner
    return inner if isinstance(inner, MultipartControl) else None


def abort_orphan_uploads(
    control: MultipartControl,
    owner_of: Callable[[str], TopicPartition | None],
    partitions: Collection[TopicPartition],
    *,
    sink_name: str,
    prefix: str = "",
) -> list[str]:
    """Abort the in-progress uploads under ``prefix`` that belong to ``partitions``; their keys."""
    if not partitions:
        return []
    wanted = set(partitions)
    aborted: list[str] = []
    for key, upload_id in control.list_multipart_uploads(prefix):
        owner = owner_of(key)
        if owner is None or owner not in wanted:
            continue
        control.abort_multipart_upload(key, upload_id)
        aborted.append(key)
        LOGGER.info(
            "left-over upload aborted sink=%s topic=%s partition=%d key=%s",
            sink_name,
            owner[0],
            owner[1],
            key,
        )
    return aborted

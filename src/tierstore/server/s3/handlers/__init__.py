"""The S3 operations, one module per resource family (as SeaweedFS's ``weed/s3api`` and MinIO's
``cmd/*-handlers.go`` split them): buckets, objects (with ``copying`` and ``deleting``, and the
helpers they share: ``conditions``, ``headers``, ``ranges``), listings, multipart uploads.

Each module's ``HANDLERS`` maps operation names (:mod:`tierstore.server.s3.routing`) to
coroutines taking an :class:`~tierstore.server.s3.context.S3Call`; :data:`ALL` joins them.
"""

from __future__ import annotations

from collections.abc import Mapping

from tierstore.server.s3.context import Handler
from tierstore.server.s3.handlers import buckets, copying, deleting, listing, multipart, objects

ALL: Mapping[str, Handler] = {
    **buckets.HANDLERS,
    **listing.HANDLERS,
    **objects.HANDLERS,
    **copying.HANDLERS,
    **deleting.HANDLERS,
    **multipart.HANDLERS,
}

"""Buckets: the namespace's top-level directories (mount points included).

- ListBuckets: the top-level directories the caller may read (list), in name order.
- HeadBucket: the directory exists, and the caller may read it.
- GetBucketLocation: the gateway's region (``tierstore.s3.region``).
- CreateBucket: an admin's ``mkdir`` at the top level, with S3's rules for the name; a name
  already taken is ``BucketAlreadyExists`` to anyone, and the owner's own bucket is answered as
  S3 answers it (200 in us-east-1, else ``BucketAlreadyOwnedByYou``).
- DeleteBucket: ``rmdir`` of an empty top-level directory that is not a mount point.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tierstore.errors import AccessDeniedError, NotFoundError
from tierstore.namespace.filesystem import FileStatus, FileSystem
from tierstore.server.s3 import xml
from tierstore.server.s3.context import S3Call
from tierstore.server.s3.errors import S3Error
from tierstore.server.s3.failures import missing

# Directories carry no creation time: ListBuckets says the epoch rather than invent one.
NO_DATE = datetime.fromtimestamp(0, UTC)
# S3's rules for a new bucket's name (general purpose buckets).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# Names S3 keeps for its own kinds of bucket and access point aliases.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# A CreateBucket body (CreateBucketConfiguration) is a few hundred bytes.
MAX_CREATE_BODY = 64 * 1024


def xml_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/xml")


def owner_of(call: S3Call) -> xml.Owner:
    return xml.Owner(call.user.name, call.user.name)


def bucket_status(fs: FileSystem, bucket: str, resource: str) -> FileStatus:
    """The bucket's directory, or NoSuchBucket (a file at the top level is no bucket either)."""
    try:
        status = fs.stat("/" + bucket)
    except NotFoundError:
        raise missing("NoSuchBucket", bucket, resource) from None
    if not status.is_dir:
        raise missing("NoSuchBucket", bucket, resource)
    return status


async def list_buckets(call: S3Call) -> Response:
    def readable() -> list[xml.Bucket]:
        # The top level is listed with the server's own view, then each directory offered only
        # when the caller may read it: a user who may not list / still sees their buckets.
        found = []
        for status in call.fs.as_caller(None).iter_ls("/"):
            if not status.is_dir:
                continue
            try:
                call.fs.check_read(status.path)
            except AccessDeniedError:
                continue
            found.append(xml.Bucket(status.name, status.modified or NO_DATE))
        return sorted(found, key=lambda bucket: bucket.name)

    buckets = await run_in_threadpool(readable)
    return xml_response(xml.list_buckets(owner_of(call), buckets, region=call.state.options.s3.region))


async def head_bucket(call: S3Call) -> Response:
    def check() -> None:
        status = bucket_status(call.fs, call.bucket, call.resource)
        call.fs.check_read(status.path)

    await run_in_threadpool(check)
    return Response(status_code=200, headers={"x-amz-bucket-region": call.state.options.s3.region})


async def get_bucket_location(call: S3Call) -> Response:
    def check() -> None:
        status = bucket_status(call.fs, call.bucket, call.resource)
        call.fs.check_read(status.path)

    await run_in_threadpool(check)
    return xml_response(xml.location_constraint(call.state.options.s3.region))


def check_bucket_name(name: str) -> None:
    """S3's rules for a general purpose bucket's name (``InvalidBucketName`` naming it)."""
    labels = name.split(".")
    valid = (
        _BUCKET_NAME.match(name) is not None
        and all(label and label[0].isalnum() and label[-1].isalnum() for label in labels)
        and not _IP_ADDRESS.match(name)
        and not name.startswith(_RESERVED_PREFIXES)
        and not name.endswith(_RESERVED_SUFFIXES)
    )
    if not valid:
        raise S3Error(
            "InvalidBucketName",
            f"{name[:100]!r} is not a valid bucket name: 3 to 63 lower-case letters, digits, dots and "
            "hyphens, each dot-separated part starting and ending with a letter or digit, not an IP "
            f"address, not starting with {' or '.join(_RESERVED_PREFIXES)} nor ending with "
            f"{' or '.join(_RESERVED_SUFFIXES)}.",
            details=[("BucketName", name[:100])],
        )


async def create_bucket(call: S3Call) -> Response:
    name = call.bucket
    check_bucket_name(name)
    await xml.read_capped(call.body().__aiter__(), MAX_CREATE_BODY, "CreateBucketConfiguration")
    region = call.state.options.s3.region

    def make() -> None:
        # Whether the name is taken is answered first, as S3 answers it to anyone: only then
        # may the caller be refused the making of a new one.
        try:
            # The server's own view: bucket names are one namespace, taken whoever may look in
            # the top level (as ListBuckets reads it).
            status = call.fs.as_caller(None).stat("/" + name, sync=True)
        except NotFoundError:
            if not call.user.admin:
                raise S3Error(
                    "AccessDenied", f"Only an admin may create a bucket (a top-level directory): {name}"
                ) from None
            call.fs.mkdir("/" + name)
            return
        # Admins make the buckets (their directories inherit the top level's owner): to them,
        # as to the directory's own owner, an existing bucket is their own.
        if not status.is_dir or not (call.user.admin or status.owner == call.user.name):
            raise S3Error("BucketAlreadyExists", resource=call.resource)
        if region == "us-east-1":
            return  # S3's us-east-1 answers its owner's CreateBucket of an existing bucket 200
        raise S3Error("BucketAlreadyOwnedByYou", resource=call.resource)

    await run_in_threadpool(make)
    return Response(status_code=200, headers={"Location": "/" + name})


async def delete_bucket(call: S3Call) -> Response:
    def remove() -> None:
        status = bucket_status(call.fs, call.bucket, call.resource)
        if any(record.path == status.path for record in call.state.table.records()):
            raise S3Error(
                "AccessDenied",
                f"{status.path} is a mount point: remove the mount (tierstore mounts remove) to delete it",
            )
        page = call.fs.ls_page(status.path, limit=1, sync=True)
        # rmdir(2), as DeleteObject removes an empty directory: False when something came in
        # since the look above.
        if list(page) or not call.fs.delete_object(status.path, directory=True):
            raise S3Error("BucketNotEmpty", resource=call.resource)

    await run_in_threadpool(functools.partial(remove))
    return Response(status_code=204)


HANDLERS = {
    "ListBuckets": list_buckets,
    "HeadBucket": head_bucket,
    "GetBucketLocation": get_bucket_location,
    "CreateBucket": create_bucket,
    "DeleteBucket": delete_bucket,
}

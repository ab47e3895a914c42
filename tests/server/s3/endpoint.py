"""A small S3 endpoint built on the gateway's foundation, for real clients to talk to in tests.

    with S3Endpoint({"AKIDEXAMPLE": "secret"}) as endpoint:          # or tls_dir=... for HTTPS
        client = endpoint.client("AKIDEXAMPLE", "secret")            # a real boto3 client
        client.put_object(Bucket="b", Key="k", Body=b"data")
        endpoint.seen[-1].payload                                      # how the body was sent

It runs uvicorn (httptools, as the server does) in a thread on a free loopback port. Every
request is verified by :class:`~tierstore.server.s3.sigv4.SigV4Verifier`, its body read through
:func:`~tierstore.server.s3.payload.request_body` over Starlette's ``request.stream()``, and its
answer or error rendered by the modules under test; objects live in a dict. What each request
looked like to the gateway (or why it was refused) is recorded in ``seen``. The handlers are the
least that lets clients run: PutObject, GetObject, HeadObject, ListObjectsV2, DeleteObjects, and
``GET /fail/<Code>``, which answers that S3 error.

The endpoint's clock is the real one plus ``clock_offset`` seconds: a test moves the server's
clock instead of the client's, so requests signed now by a client look early or late.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs

import boto3
import uvicorn
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tierstore.server.s3 import xml
from tierstore.server.s3.canonical import header_fields
from tierstore.server.s3.errors import S3Error, new_request_id
from tierstore.server.s3.payload import request_body
from tierstore.server.s3.sigv4 import Authenticated, RequestParts, SigV4Verifier
from tierstore.settings.secret import Secret

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOOPBACK = "127.0.0.1"
OWNER = xml.Owner("tierstore", "tierstore")


@dataclass
class Seen:
    method: str
    path: str
    query: str = ""
    auth: Authenticated | None = None
    error: S3Error | None = None
    body_sha256: str | None = None
    body_length: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, valid for an hour."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "endpoint.crt", directory / "endpoint.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


class S3Endpoint:
    def __init__(
        self, keys: dict[str, str], *, region: str | None = "us-east-1", tls_dir: Path | None = None
    ):
        self.keys = keys
        self.region = region
        self.clock_offset = 0.0
        self.seen: list[Seen] = []
        self.objects: dict[tuple[str, str], bytes] = {}
        self.verifier = SigV4Verifier(
            self._lookup, region=region, clock=lambda: time.time() + self.clock_offset
        )
        app = Starlette(
            routes=[
                Route("/{path:path}", self._handle, methods=["GET", "HEAD", "PUT", "POST", "DELETE"]),
            ]
        )
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        port = self._sock.getsockname()[1]
        self.certificate: Path | None = None
        options: dict[str, Any] = {}
        if tls_dir is not None:
            self.certificate, key = self_signed(tls_dir)
            options = {"ssl_certfile": str(self.certificate), "ssl_keyfile": str(key)}
        self.url = f"{'https' if tls_dir else 'http'}://{LOOPBACK}:{port}"
        config = uvicorn.Config(app, http="httptools", lifespan="off", log_level="warning", **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"s3-endpoint-{port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the S3 endpoint on port {port} did not start")
            time.sleep(0.01)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def client(
        self, access_key_id: str, secret: str, *, region: str = "us-east-1", **config: Any
    ) -> S3Client:
        """A boto3 S3 client of this endpoint (path style, no retries unless ``config`` says)."""
        settings: dict[str, Any] = {"region_name": region, "retries": {"max_attempts": 1, "mode": "standard"}}
        settings.update(config)
        settings["s3"] = {"addressing_style": "path", **settings.get("s3", {})}
        client: S3Client = boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret,
            verify=str(self.certificate) if self.certificate else True,
            config=Config(**settings),
        )
        return client

    def _lookup(self, access_key_id: str) -> Secret | None:
        secret = self.keys.get(access_key_id)
        return Secret(secret) if secret is not None else None

    async def _handle(self, request: Request) -> Response:
        request_id = new_request_id()
        seen = Seen(request.method, request.url.path, request.url.query, headers=dict(request.headers))
        self.seen.append(seen)
        try:
            seen.auth = self.verifier.verify(RequestParts.from_scope(request.scope))
            return await self._answer(request, seen, seen.auth)
        except S3Error as error:
            seen.error = error
            unread = seen.body_length is None and (
                request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
            )
            return error.response(request_id, head=request.method == "HEAD", close=unread)

    async def _answer(self, request: Request, seen: Seen, auth: Authenticated) -> Response:
        bucket, _, key = request.path_params["path"].partition("/")
        query = parse_qs(request.url.query, keep_blank_values=True)
        body = request_body(auth, header_fields(request.scope["headers"]), request.stream())
        data = b"".join([piece async for piece in body])
        seen.body_sha256 = hashlib.sha256(data).hexdigest()
        seen.body_length = len(data)
        if bucket == "fail":
            raise S3Error(key, resource=request.url.path)
        if request.method == "PUT" and key:
            self.objects[bucket, key] = data
            return Response(headers={"ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'})
        if request.method in ("GET", "HEAD") and key:
            found = self.objects.get((bucket, key))
            if found is None:
                raise S3Error("NoSuchKey", resource=request.url.path)
            etag = f'"{hashlib.md5(found, usedforsecurity=False).hexdigest()}"'
            return Response(b"" if request.method == "HEAD" else found, headers={"ETag": etag})
        if request.method == "POST" and "delete" in query:
            parsed = xml.parse_delete(data)
            outcomes = [xml.DeleteOutcome(item.key) for item in parsed.objects]
            for item in parsed.objects:
                self.objects.pop((bucket, item.key), None)
            return Response(xml.delete_result(outcomes, quiet=parsed.quiet), media_type="application/xml")
        if request.method == "GET" and query.get("list-type") == ["2"]:
            return self._list(bucket, query)
        raise S3Error("NotImplemented", resource=request.url.path)

    def _list(self, bucket: str, query: dict[str, list[str]]) -> Response:
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [None])[0]
        contents: list[xml.ObjectEntry] = []
        common: list[str] = []
        for (in_bucket, key), data in sorted(self.objects.items()):
            if in_bucket != bucket or not key.startswith(prefix):
                continue
            if delimiter and delimiter in key[len(prefix) :]:
                folded = key[: len(prefix) + key[len(prefix) :].index(delimiter) + len(delimiter)]
                if folded not in common:
                    common.append(folded)
                continue
            etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
            modified = dt.datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=dt.UTC)
            contents.append(xml.ObjectEntry(key, modified, etag, len(data), owner=OWNER))
        listing = xml.Listing(
            bucket,
            prefix=prefix,
            delimiter=delimiter,
            contents=contents,
            common_prefixes=common,
            url_encoded=query.get("encoding-type") == ["url"],
        )
        document = xml.list_objects_v2(listing, fetch_owner=query.get("fetch-owner") == ["true"])
        return Response(document, media_type="application/xml")

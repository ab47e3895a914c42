"""How clients reach the gateway: virtual-host addressing, presigned URLs (curl), and the port."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.server.conftest import write_server_config
from tests.server.harness import RunningServer, start_api_server
from tests.tools import require_tool
from tierstore.local.info import StackInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DOMAIN = "s3.tierstore.test"


@pytest.fixture
def virtual_gateway(tmp_path: Path, stack: StackInfo, bucket: str) -> Iterator[RunningServer]:
    config = write_server_config(
        tmp_path / "server.yaml", stack, bucket, extra={"tierstore.s3.domain": DOMAIN}
    )
    server = start_api_server(config)
    yield server
    server.stop()


def _to_loopback(request: Any, **_: Any) -> None:
    """Send a request signed for ``bucket.DOMAIN:port`` to the loopback address, Host kept: no
    DNS name is needed for virtual-host addressing in a test."""
    parts = urlsplit(request.url)
    request.headers["Host"] = parts.netloc
    request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))


def test_virtual_host_addressing_names_the_bucket_in_the_host(virtual_gateway: RunningServer) -> None:
    assert virtual_gateway.s3_url is not None
    admin = virtual_gateway.add_s3_key("admin")
    port = urlsplit(virtual_gateway.s3_url).port
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=f"http://{DOMAIN}:{port}",
        aws_access_key_id=admin[0],
        aws_secret_access_key=admin[1].reveal(),
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )
    client.meta.events.register("before-send.s3", _to_loopback)
    client.create_bucket(Bucket="virtual")
    client.put_object(Bucket="virtual", Key="a/b.txt", Body=b"by host")
    assert client.get_object(Bucket="virtual", Key="a/b.txt")["Body"].read() == b"by host"
    client.head_bucket(Bucket="virtual")
    # Path style still works on the same gateway (the bare domain, or an address, names no bucket).
    path_style: S3Client = boto3.client(
        "s3",
        endpoint_url=virtual_gateway.s3_url,
        aws_access_key_id=admin[0],
        aws_secret_access_key=admin[1].reveal(),
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    assert path_style.get_object(Bucket="virtual", Key="a/b.txt")["Body"].read() == b"by host"


def test_curl_reads_and_writes_through_presigned_urls(
    gateway: RunningServer, gateway_admin: str, s3_for: Callable[[str], S3Client], tmp_path: Path
) -> None:
    curl = str(require_tool("curl"))
    admin = s3_for(gateway_admin)
    admin.create_bucket(Bucket="shared")
    upload = admin.generate_presigned_url(
        "put_object", Params={"Bucket": "shared", "Key": "from-curl.bin"}, ExpiresIn=300
    )
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * 4096)
    put = subprocess.run(
        [curl, "-sS", "-X", "PUT", "-T", str(payload), upload], capture_output=True, check=False
    )
    assert put.returncode == 0 and not put.stdout, put.stdout + put.stderr
    download = admin.generate_presigned_url(
        "get_object", Params={"Bucket": "shared", "Key": "from-curl.bin"}, ExpiresIn=300
    )
    got = subprocess.run([curl, "-sS", "-f", download], capture_output=True, check=False)
    assert got.returncode == 0 and got.stdout == payload.read_bytes()
    # A presigned URL signs its method and key: another key, or a tampered expiry, is refused.
    other = download.replace("from-curl.bin", "other.bin")
    refused = subprocess.run([curl, "-sS", "-w", "%{http_code}", other], capture_output=True, check=False)
    assert refused.stdout.endswith(b"403") and b"SignatureDoesNotMatch" in refused.stdout
    expired = admin.generate_presigned_url(
        "get_object", Params={"Bucket": "shared", "Key": "from-curl.bin"}, ExpiresIn=1
    )
    time.sleep(2.1)  # the same URL, used after it expired
    answer = subprocess.run([curl, "-sS", "-w", "%{http_code}", expired], capture_output=True, check=False)
    assert answer.stdout.endswith(b"403") and b"AccessDenied" in answer.stdout
    with pytest.raises(ClientError):
        admin.head_object(Bucket="shared", Key="other.bin")

"""The servers' pytest fixtures; ``tests/conftest.py`` loads this module through ``pytest_plugins``.

- ``oidc_issuer`` (session): :class:`OidcIssuer`, an RS256 OIDC issuer on loopback.
- ``oidc_stack`` (session): :class:`OidcStack`, a second local stack whose SeaweedFS trusts
  ``oidc_issuer`` for AssumeRoleWithWebIdentity (the session's ``stack`` has no OIDC provider).
- ``container_endpoint``: :class:`ContainerCredentialsEndpoint` (ECS/EKS container credentials).
- ``imds_endpoint``: :class:`InstanceMetadataService` (EC2 IMDSv2).
- ``moto_sts`` (session): :class:`MotoServer`, moto with IAM provisioned and authorization on.
- ``aws_cli``: :class:`AwsCli`, the AWS CLI with empty config and credentials files of its own.

Under pytest-xdist each worker that uses a session fixture starts its own server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.awscli import AwsCli
from tests.servers.container import ContainerCredentialsEndpoint
from tests.servers.imds import InstanceMetadataService
from tests.servers.moto import MotoServer
from tests.servers.oidc import OidcIssuer, OidcStack
from tierstore.local import start_stack, stop_stack


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as issuer:
        yield issuer


@pytest.fixture(scope="session")
def oidc_stack(oidc_issuer: OidcIssuer) -> Iterator[OidcStack]:
    # Short and outside the rootdir: weed's unix sockets live in it (108-byte path limit).
    directory = Path(tempfile.mkdtemp(prefix="tierstore-oidc-"))
    info = start_stack(directory, oidc=oidc_issuer.provider())
    try:
        yield OidcStack(issuer=oidc_issuer, stack=info)
    finally:
        stop_stack(info.directory)


@pytest.fixture
def container_endpoint() -> Iterator[ContainerCredentialsEndpoint]:
    with ContainerCredentialsEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def imds_endpoint() -> Iterator[InstanceMetadataService]:
    with InstanceMetadataService() as service:
        yield service


@pytest.fixture(scope="session")
def moto_sts() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_cli(tmp_path: Path) -> AwsCli:
    return AwsCli(tmp_path / "aws")

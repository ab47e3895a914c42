"""Resolve a store's credentials: the chain of sources, then the STS session layer on top.

Priority, highest first (``build_chain``):
1. keys given for this store (mount options, ``s3.access-key``, ``aws.access.key.id``, …)
2. process overrides: ``tierstore --set aws.accessKeyId=…``, then ``TIERSTORE_ACCESS_KEY_ID`` …
3. site configuration (the server's own config file)
4. environment: ``AWS_ACCESS_KEY_ID`` / ``AWS_ACCESS_KEY`` …
5. shared files: ``~/.aws/credentials`` and ``~/.aws/config``
6. web identity (IRSA)
7. container credentials
8. instance metadata (IMDSv2)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from tierstore.credentials.chain import Attempt, CredentialChain
from tierstore.credentials.providers.keys import EnvironmentProvider, KeysProvider, override_provider
from tierstore.credentials.providers.metadata import ContainerProvider, InstanceMetadataProvider
from tierstore.credentials.providers.shared_files import SharedFilesProvider
from tierstore.credentials.providers.web_identity import WebIdentityProvider
from tierstore.credentials.refresh import RefreshingSource, RefreshPolicy
from tierstore.credentials.source import CredentialSource
from tierstore.credentials.sts import AssumeRoleFetcher, SessionTokenFetcher, StsTarget, sts_target
from tierstore.errors import CredentialsError
from tierstore.settings.model import AccessKeys, StoreSettings

LOGGER = logging.getLogger("tierstore.credentials")

SessionMode = Literal["auto", "get-session-token"]

# Stores that serve STS on their S3 endpoint without GetSessionToken (checked on the Server header).
_WITHOUT_GET_SESSION_TOKEN = ("SeaweedFS", "MinIO", "RustFS")


@dataclass(frozen=True)
class ResolutionContext:
    """What besides the store's own settings may hold credentials."""

    overrides: Mapping[str, str] = field(default_factory=dict)
    site_keys: AccessKeys | None = None
    environ: Mapping[str, str] | None = None
    refresh: RefreshPolicy | None = None
    session: SessionMode = "auto"

    def environment(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    def refresh_policy(self, settings: StoreSettings) -> RefreshPolicy:
        """The context's policy if given, else the store's refresh settings."""
        if self.refresh is not None:
            return self.refresh
        return RefreshPolicy(
            fraction=settings.refresh.fraction, margin=timedelta(seconds=settings.refresh.margin_seconds)
        )


@dataclass(frozen=True)
class SessionLayer:
    call: str
    target: StsTarget
    role_arn: str | None
    external_id_set: bool
    session_name: str | None
    duration_seconds: int
    policy_set: bool
    source: RefreshingSource


@dataclass(frozen=True)
class ResolvedCredentials:
    source: CredentialSource
    base: CredentialSource
    attempts: list[Attempt]
    session: SessionLayer | None


def build_chain(settings: StoreSettings, context: ResolutionContext | None = None) -> CredentialChain:
    context = context or ResolutionContext()
    environ = context.environment()
    return CredentialChain(
        [
            KeysProvider("store", "keys given for this store", settings.keys, "the store's settings"),
            override_provider(context.overrides, environ),
            KeysProvider("site", "site configuration", context.site_keys, "the server's config file"),
            EnvironmentProvider(environ),
            SharedFilesProvider(environ, settings.assume_role.sts_endpoint if settings.assume_role else None),
            WebIdentityProvider(
                environ, settings, lambda: sts_target(settings), context.refresh_policy(settings)
            ),
            ContainerProvider(environ),
            InstanceMetadataProvider(environ),
        ]
    )


def resolve_credentials(
    settings: StoreSettings, context: ResolutionContext | None = None
) -> ResolvedCredentials:
    context = context or ResolutionContext()
    base, attempts = build_chain(settings, context).resolve()
    session = session_layer(settings, base, context)
    return ResolvedCredentials(
        source=session.source if session else base, base=base, attempts=attempts, session=session
    )


def session_layer(
    settings: StoreSettings, base: CredentialSource, context: ResolutionContext
) -> SessionLayer | None:
    role = settings.assume_role
    target = sts_target(settings)
    if role is not None:
        fetcher = AssumeRoleFetcher(base, role, target, settings)
        return SessionLayer(
            call="AssumeRole",
            target=target,
            role_arn=role.role_arn,
            external_id_set=bool(role.external_id),
            session_name=fetcher.session_name,
            duration_seconds=role.duration_seconds,
            policy_set=role.policy is not None,
            source=RefreshingSource(
                fetcher,
                name=f"AssumeRole {role.role_arn}",
                call="AssumeRole",
                policy=context.refresh_policy(settings),
            ),
        )
    if context.session != "get-session-token":
        return None
    refuse_get_session_token_early(base, target)
    token_fetcher = SessionTokenFetcher(base, target, settings)
    return SessionLayer(
        call="GetSessionToken",
        target=target,
        role_arn=None,
        external_id_set=False,
        session_name=None,
        duration_seconds=token_fetcher.duration_seconds,
        policy_set=False,
        source=RefreshingSource(
            token_fetcher,
            name="GetSessionToken",
            call="GetSessionToken",
            policy=context.refresh_policy(settings),
        ),
    )


def refuse_get_session_token_early(base: CredentialSource, target: StsTarget) -> None:
    """Say up front, not at first use, when GetSessionToken cannot work."""
    current = base.credentials()
    if current.session_token is not None:
        raise CredentialsError(
            f"GetSessionToken cannot be used: the base credentials from {current.source} are already session "
            "credentials; set a role ARN (s3.assumed.role.arn / aws.sts.role.arn) to use AssumeRole"
        )
    server = _server_name(target.endpoint) if target.endpoint else None
    if server and any(name.lower() in server.lower() for name in _WITHOUT_GET_SESSION_TOKEN):
        raise CredentialsError(
            f"GetSessionToken is not supported by the store at {target.endpoint} ({server}); "
            "set a role ARN (s3.assumed.role.arn / aws.sts.role.arn) to use AssumeRole"
        )


def _server_name(endpoint: str) -> str | None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(endpoint, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            server: str | None = response.headers.get("Server")
            return server
    except urllib.error.HTTPError as error:
        refused_server: str | None = error.headers.get("Server")
        return refused_server
    except (urllib.error.URLError, OSError):
        return None


def check_can_delegate(settings: StoreSettings) -> None:
    """A server handing credentials to clients needs keys or a role to mint session credentials from.

    The default chain alone (environment, instance profile) cannot be narrowed for a client.
    """
    if settings.keys is None and settings.assume_role is None:
        raise CredentialsError(
            f"{settings.location.uri}: to hand credentials to clients set keys or a role ARN: "
            "the vending identity's keys (tierstore.vending.access-key and "
            "tierstore.vending.secret-key), the mount's own static keys, or a role "
            "(tierstore.vending.role.arn, s3.assumed.role.arn, aws.sts.role.arn or "
            "alluxio.underfs.s3.assumed.role.arn); the default credential chain alone cannot delegate"
        )


def credential_source_for(
    settings: StoreSettings, context: ResolutionContext | None = None
) -> CredentialSource:
    """The credentials a store client should use: the chain, then AssumeRole when a role is set."""
    return resolve_credentials(settings, context).source

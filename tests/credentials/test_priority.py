"""The documented priority: for every pair of sources the higher one wins, and explain says so.

Container and instance-metadata credentials come from small servers on loopback that speak
those protocols (tests/servers); no test reads the developer's own ~/.aws or environment.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.servers.container import ContainerCredentialsEndpoint
from tests.servers.imds import InstanceMetadataService
from tierstore.credentials.explain import explain
from tierstore.credentials.resolve import ResolutionContext, build_chain, resolve_credentials
from tierstore.errors import CredentialsError
from tierstore.settings.model import AccessKeys, StoreLocation, StoreSettings
from tierstore.settings.secret import Secret

ORDER = [
    "store",
    "process",
    "site",
    "environment",
    "shared-files",
    "web-identity",
    "container",
    "instance-metadata",
]
KEY_IDS = {name: f"{name[:4].upper()}KEY{index:012d}" for index, name in enumerate(ORDER)}


@dataclass
class Setup:
    environ: dict[str, str]
    keys: AccessKeys | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    site: AccessKeys | None = None


def _keys(name: str) -> AccessKeys:
    return AccessKeys(KEY_IDS[name], Secret(f"secret-of-{name}"))


@pytest.fixture
def enable(
    tmp_path: Path, container_endpoint: ContainerCredentialsEndpoint, imds_endpoint: InstanceMetadataService
) -> Callable[[Setup, str], None]:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    container_endpoint.set_credentials(KEY_IDS["container"], "secret-of-container", "container-token", expiry)
    imds_endpoint.set_credentials(KEY_IDS["instance-metadata"], "secret-of-imds", "imds-token", expiry)
    token_file = tmp_path / "web-identity-token"
    token_file.write_text("header.payload.signature")
    credentials_file = tmp_path / "aws-credentials"
    credentials_file.write_text(
        f"[default]\naws_access_key_id = {KEY_IDS['shared-files']}\naws_secret_access_key = secret-of-files\n"
    )

    def apply(setup: Setup, name: str) -> None:
        if name == "store":
            setup.keys = _keys(name)
        elif name == "process":
            setup.overrides = {"aws.accessKeyId": KEY_IDS[name], "aws.secretKey": "secret-of-process"}
        elif name == "site":
            setup.site = _keys(name)
        elif name == "environment":
            setup.environ |= {"AWS_ACCESS_KEY_ID": KEY_IDS[name], "AWS_SECRET_ACCESS_KEY": "secret-of-env"}
        elif name == "shared-files":
            setup.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials_file)
        elif name == "web-identity":
            setup.environ |= {
                "AWS_ROLE_ARN": "arn:aws:iam::000000000000:role/WebIdentityRole",
                "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            }
        elif name == "container":
            setup.environ |= {
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": container_endpoint.full_uri,
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": container_endpoint.auth_token,
            }
        elif name == "instance-metadata":
            setup.environ.pop("AWS_EC2_METADATA_DISABLED")
            setup.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds_endpoint.url

    return apply


def baseline(tmp_path: Path) -> Setup:
    # No source at all unless a test turns it on: not the machine's ~/.aws, not its metadata service.
    return Setup(
        environ={
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        }
    )


def settings_of(setup: Setup) -> tuple[StoreSettings, ResolutionContext]:
    settings = StoreSettings(
        location=StoreLocation(scheme="s3", bucket="priority-test"),
        endpoint="http://127.0.0.1:9",
        keys=setup.keys,
    )
    return settings, ResolutionContext(overrides=setup.overrides, site_keys=setup.site, environ=setup.environ)


def test_the_chain_is_printable_in_the_documented_order(tmp_path: Path) -> None:
    settings, context = settings_of(baseline(tmp_path))
    chain = build_chain(settings, context)
    assert chain.names == ORDER
    assert repr(chain) == "CredentialChain(" + " > ".join(ORDER) + ")"


@pytest.mark.parametrize(("higher", "lower"), list(itertools.combinations(ORDER, 2)))
def test_higher_source_wins(
    higher: str, lower: str, tmp_path: Path, enable: Callable[[Setup, str], None]
) -> None:
    setup = baseline(tmp_path)
    enable(setup, higher)
    enable(setup, lower)
    settings, context = settings_of(setup)

    report = explain(settings, context)
    statuses = {row["source"]: row["status"] for row in report["chain"]}
    assert report["chosen"] == higher
    assert statuses[higher] == "chosen"
    assert statuses[lower] == "found, not used"
    assert all(status == "skipped" for name, status in statuses.items() if name not in (higher, lower))

    resolved = resolve_credentials(settings, context)
    assert [a.status for a in resolved.attempts if a.provider == higher] == ["chosen"]
    if higher == "web-identity":
        assert resolved.source.name.startswith("web identity")  # the STS call itself is tested elsewhere
    else:
        assert resolved.source.credentials().access_key_id == KEY_IDS[higher]


def test_each_source_alone_gives_its_own_keys(tmp_path: Path, enable: Callable[[Setup, str], None]) -> None:
    for name in ORDER:
        if name == "web-identity":
            continue
        setup = baseline(tmp_path)
        enable(setup, name)
        settings, context = settings_of(setup)
        assert resolve_credentials(settings, context).source.credentials().access_key_id == KEY_IDS[name], (
            name
        )


def test_no_source_at_all_is_a_clear_error(tmp_path: Path) -> None:
    settings, context = settings_of(baseline(tmp_path))
    with pytest.raises(CredentialsError, match="no credentials found in any source"):
        resolve_credentials(settings, context)


def test_a_half_set_environment_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    setup = baseline(tmp_path)
    setup.environ["AWS_ACCESS_KEY_ID"] = "AKIAHALFSET000000000"
    settings, context = settings_of(setup)
    with pytest.raises(CredentialsError, match="AWS_SECRET_ACCESS_KEY or AWS_SECRET_KEY"):
        resolve_credentials(settings, context)


def test_alias_variable_names_are_read(tmp_path: Path) -> None:
    setup = baseline(tmp_path)
    setup.environ |= {"AWS_ACCESS_KEY": "AKIAALIASNAME0000000", "AWS_SECRET_KEY": "alias-secret"}
    settings, context = settings_of(setup)
    assert resolve_credentials(settings, context).source.credentials().access_key_id == "AKIAALIASNAME0000000"


def test_tierstore_variables_are_process_overrides(tmp_path: Path) -> None:
    setup = baseline(tmp_path)
    setup.environ |= {"TIERSTORE_ACCESS_KEY_ID": "TSENVKEY000000000000", "TIERSTORE_SECRET_ACCESS_KEY": "x"}
    setup.environ |= {"AWS_ACCESS_KEY_ID": KEY_IDS["environment"], "AWS_SECRET_ACCESS_KEY": "y"}
    settings, context = settings_of(setup)
    resolved = resolve_credentials(settings, context)
    assert resolved.source.credentials().access_key_id == "TSENVKEY000000000000"
    assert [a.provider for a in resolved.attempts if a.status == "chosen"] == ["process"]

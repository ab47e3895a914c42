"""The rules around STS calls that need no server: names, ranges, regions, delegation."""

from __future__ import annotations

import logging

import pytest

from tierstore.credentials import sts
from tierstore.credentials.resolve import check_can_delegate
from tierstore.errors import CredentialsError
from tierstore.settings.model import AccessKeys, AssumeRoleSettings, StoreLocation, StoreSettings
from tierstore.settings.secret import Secret

ROLE = "arn:aws:iam::000000000000:role/ReadOnlyRole"


def store(**changes: object) -> StoreSettings:
    return StoreSettings(location=StoreLocation(scheme="s3", bucket="rules-bucket"), **changes)  # type: ignore[arg-type]


def test_session_names_are_sanitised_to_sts_characters_and_64_chars() -> None:
    assert sts.sanitize_session_name("job #42 / nightly") == "job--42---nightly"
    assert len(sts.sanitize_session_name("x" * 100)) == 64
    assert sts.sanitize_session_name("a") == "tierstore-a"
    default = sts.default_session_name()
    assert default.startswith("tierstore-")
    assert len(default) <= 64
    assert sts.sanitize_session_name(default) == default


@pytest.mark.parametrize("seconds", [899, 43201, 0])
def test_durations_outside_sts_range_are_refused(seconds: int) -> None:
    with pytest.raises(CredentialsError, match="900 to 43200"):
        sts.validate_duration(seconds, "role session duration")


def test_session_policy_must_be_json_with_statements() -> None:
    with pytest.raises(CredentialsError, match="not valid JSON"):
        sts.validate_policy("{not json")
    with pytest.raises(CredentialsError, match="Statement"):
        sts.validate_policy('{"Version": "2012-10-17"}')
    sts.validate_policy('{"Statement": []}')


def test_sts_region_falls_back_to_the_store_region_then_us_east_1_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tierstore.credentials")
    role = AssumeRoleSettings(role_arn=ROLE, sts_endpoint="http://127.0.0.1:7001")
    with_store_region = sts.sts_target(store(region="eu-west-3", assume_role=role))
    assert (with_store_region.region, with_store_region.region_source) == ("eu-west-3", "the store's region")
    no_region = AssumeRoleSettings(role_arn=ROLE, sts_endpoint="http://127.0.0.1:7002")
    first = sts.sts_target(store(assume_role=no_region))
    second = sts.sts_target(store(assume_role=no_region))
    assert first.region == second.region == "us-east-1"
    assert "default" in first.region_source
    assert sum("127.0.0.1:7002" in record.getMessage() for record in caplog.records) == 1
    explicit = AssumeRoleSettings(
        role_arn=ROLE, sts_endpoint="http://127.0.0.1:7003", sts_region="ap-south-1"
    )
    assert sts.sts_target(store(region="eu-west-3", assume_role=explicit)).region == "ap-south-1"


def test_a_custom_store_endpoint_is_also_its_sts_endpoint_unless_one_is_set() -> None:
    assert sts.sts_target(store(endpoint="http://127.0.0.1:8333")).endpoint == "http://127.0.0.1:8333"
    role = AssumeRoleSettings(role_arn=ROLE, sts_endpoint="https://sts.example.test")
    assert sts.sts_target(store(endpoint="http://127.0.0.1:8333", assume_role=role)).endpoint == (
        "https://sts.example.test"
    )
    assert sts.sts_target(store()).endpoint is None  # AWS: botocore picks the regional endpoint


def test_delegation_needs_keys_or_a_role_at_start_up() -> None:
    with pytest.raises(CredentialsError) as caught:
        check_can_delegate(store())
    assert "s3://rules-bucket" in str(caught.value)
    assert "set keys or a role ARN" in str(caught.value)
    check_can_delegate(store(assume_role=AssumeRoleSettings(role_arn=ROLE)))
    check_can_delegate(store(keys=AccessKeys("AKIAEXAMPLE000000000", Secret("s"))))

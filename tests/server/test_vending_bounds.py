"""The credential vendor's memos stay within their bound, against the real SeaweedFS STS.

A vendor with a small bound (8 entries, 2 mounts) is built over a running server's mount table;
every vend is a real one (AssumeRole on SeaweedFS, its credentials checked by a read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.server.harness import RunningServer
from tests.server.test_vending import admin_options
from tests.server.vended import s3_from
from tierstore.local.info import StackInfo
from tierstore.server.users import User
from tierstore.server.vending import CredentialVendor

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BOUND = 8
MOUNTS = ("/mnt/one", "/mnt/two", "/mnt/three")


@pytest.fixture
def data_bucket(make_bucket: Callable[[], str], admin_s3: S3Client) -> str:
    name = make_bucket()
    admin_s3.put_object(Bucket=name, Key="one/d0/x.txt", Body=b"x")
    return name


@pytest.fixture
def vendor(api: RunningServer, client: httpx.Client, stack: StackInfo, data_bucket: str) -> CredentialVendor:
    for mount in MOUNTS:
        name = mount.rsplit("/", 1)[1]
        answer = client.post(
            "/v1/mounts",
            json={"path": mount, "uri": f"s3://{data_bucket}/{name}", "options": admin_options(stack)},
        )
        assert answer.status_code == 201, answer.text
    state = api.state
    return CredentialVendor(state.table, state.options, state.metrics, max_cached=BOUND, max_mounts=2)


@pytest.fixture
def admin(api: RunningServer) -> User:
    found = api.state.users.authenticate(api.admin_token)
    assert found is not None
    return found


def sts_calls(api: RunningServer) -> float:
    found = api.state.metrics.registry.get_sample_value("tierstore_sts_calls_total", {"call": "AssumeRole"})
    return found or 0.0


def test_many_spellings_of_one_path_keep_one_vend_and_a_bounded_memo(
    api: RunningServer, vendor: CredentialVendor, admin: User
) -> None:
    before = sts_calls(api)
    answers = {
        vendor.vend(admin, "/mnt/one/" + "/" * extra + "d0/", "read")["credentials"]["access_key_id"]
        for extra in range(300)
    }
    assert len(answers) == 1 and sts_calls(api) == before + 1
    sizes = vendor.cache_sizes()
    assert sizes["decisions"] == BOUND and sizes["decisions_evicted"] == 300 - BOUND
    assert (sizes["vends"], sizes["answers"], sizes["key_locks"]) == (1, 1, 1)


def test_many_distinct_paths_and_mounts_stay_within_the_bound(
    api: RunningServer, vendor: CredentialVendor, admin: User, data_bucket: str
) -> None:
    paths = [f"{mount}/d{number}/" for mount in MOUNTS for number in range(6)]
    before = sts_calls(api)
    for path in paths:
        assert vendor.vend(admin, path, "read")["mode"] == "direct"
    assert sts_calls(api) == before + len(paths)
    sizes = vendor.cache_sizes()
    for memo in ("vends", "decisions", "answers", "key_locks"):
        assert sizes[memo] == BOUND, memo
        assert sizes[f"{memo}_evicted"] == len(paths) - BOUND, memo
    assert sizes["mounts"] == 2 and sizes["mounts_evicted"] >= 1
    # The first vend was evicted long ago: asked again, it is a new vend that works.
    again = vendor.vend(admin, paths[0], "read")
    assert sts_calls(api) == before + len(paths) + 1
    s3 = s3_from(again)
    assert s3.get_object(Bucket=data_bucket, Key="one/d0/x.txt")["Body"].read() == b"x"
    assert vendor.cache_sizes()["vends"] == BOUND

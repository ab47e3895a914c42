"""Every store's botocore client parses botocore's S3 model once per process, not once per store.

A client vends a store per dataset directory and a server opens one per mount: before the
models were shared, each paid about 110 ms and some 40,000 Python objects for its own copy
(the fsspec suite's process grew past 2 GB). The clients still keep their own credentials and
settings: checked against SeaweedFS, which refuses one user's key where the other's works.
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from tests.storage.conftest import SettingsFactory
from tierstore.credentials.resolve import credential_source_for
from tierstore.local.info import StackInfo
from tierstore.storage.s3.botocore_client import build_s3_client


def test_two_stores_share_the_parsed_model_and_keep_their_own_credentials(
    s3_settings: SettingsFactory, stack: StackInfo
) -> None:
    admin_settings = s3_settings("admin")
    reader_settings = s3_settings("reader", region="eu-west-1")
    admin = build_s3_client(admin_settings, credential_source_for(admin_settings))
    reader = build_s3_client(reader_settings, credential_source_for(reader_settings))

    # botocore keeps the parsed JSON of a model as the service description: the same object.
    descriptions = [client.meta.service_model._service_description for client in (admin, reader)]  # type: ignore[attr-defined]
    assert descriptions[0] is descriptions[1]
    assert admin.meta.region_name == stack.region and reader.meta.region_name == "eu-west-1"

    bucket = admin_settings.location.bucket
    admin.put_object(Bucket=bucket, Key="shared-model/a", Body=b"a")
    assert admin.get_object(Bucket=bucket, Key="shared-model/a")["Body"].read() == b"a"
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        reader.put_object(Bucket=bucket, Key="shared-model/b", Body=b"b")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

"""The local stack of real servers: SeaweedFS (S3, STS, IAM, KMS) and, on request, tansu (Kafka).

info = start_stack(Path("/tmp/stack"), kafka=True)
...  # info.endpoint, info.users["admin"], info.roles["ReadOnlyRole"], info.kafka_bootstrap
stop_stack(info.directory)
"""

from __future__ import annotations

from tierstore.local.errors import LocalStackError
from tierstore.local.info import StackInfo, UserKeys
from tierstore.local.ports import StackPorts
from tierstore.local.seaweed_config import OidcProvider
from tierstore.local.stack import (
    default_directory,
    is_running,
    process_status,
    read_stack,
    start_stack,
    stop_stack,
)

__all__ = [
    "LocalStackError",
    "OidcProvider",
    "StackInfo",
    "StackPorts",
    "UserKeys",
    "default_directory",
    "is_running",
    "process_status",
    "read_stack",
    "start_stack",
    "stop_stack",
]

"""The local stack of real servers: SeaweedFS (S3, STS, IAM, KMS) and, on request, tansu (Kafka).

info = start_stack(Path("/tmp/stack"), kafka=True)
...  # info.endpoint, info.users["admin"], info.roles["ReadOnlyRole"], info.kafka_bootstrap
stop_stack(info.directory)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierstore.lazy import lazy_attributes

if TYPE_CHECKING:
    from tierstore.local.directory import default_directory
    from tierstore.local.errors import LocalStackError
    from tierstore.local.info import StackInfo, UserKeys
    from tierstore.local.ports import StackPorts
    from tierstore.local.seaweed_config import OidcProvider
    from tierstore.local.stack import (
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

# Imported when first used: the CLI registers ``tierstore local`` without starting anything.
__getattr__ = lazy_attributes(
    __name__,
    {
        "default_directory": "tierstore.local.directory",
        "LocalStackError": "tierstore.local.errors",
        "StackInfo": "tierstore.local.info",
        "UserKeys": "tierstore.local.info",
        "StackPorts": "tierstore.local.ports",
        "OidcProvider": "tierstore.local.seaweed_config",
        "is_running": "tierstore.local.stack",
        "process_status": "tierstore.local.stack",
        "read_stack": "tierstore.local.stack",
        "start_stack": "tierstore.local.stack",
        "stop_stack": "tierstore.local.stack",
    },
)

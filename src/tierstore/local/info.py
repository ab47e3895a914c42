"""What a running stack is: its endpoint, keys, roles, processes and ports, and its JSON form."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierstore.local.ports import StackPorts
from tierstore.settings.secret import Secret, mask_key_id

STATE_VERSION = 1


@dataclass(frozen=True)
class UserKeys:
    """The long-term keys of one static identity."""

    access_key_id: str
    secret_access_key: Secret

    def __repr__(self) -> str:
        return f"UserKeys(access_key_id={mask_key_id(self.access_key_id)}, secret_access_key=****)"


@dataclass(frozen=True)
class StackInfo:
    """A local stack as recorded in its state file.

    ``users`` maps identity name (admin, reader, writer) to its keys; ``roles`` maps role
    name to ARN; ``pids`` maps process name (weed, tansu) to pid.
    """

    endpoint: str
    region: str
    users: dict[str, UserKeys]
    roles: dict[str, str]
    kafka_bootstrap: str | None
    directory: Path
    pids: dict[str, int]
    ports: StackPorts

    @property
    def admin(self) -> UserKeys:
        return self.users["admin"]

    def to_json(self) -> str:
        """The full record, secrets included: for the 0600 state file and for test workers only."""
        data: dict[str, Any] = {
            "version": STATE_VERSION,
            "endpoint": self.endpoint,
            "region": self.region,
            "users": {
                name: {
                    "access_key_id": keys.access_key_id,
                    "secret_access_key": keys.secret_access_key.reveal(),
                }
                for name, keys in self.users.items()
            },
            "roles": dict(self.roles),
            "kafka_bootstrap": self.kafka_bootstrap,
            "directory": str(self.directory),
            "pids": dict(self.pids),
            "ports": self.ports.to_dict(),
        }
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StackInfo:
        data = json.loads(text)
        if not isinstance(data, Mapping) or data.get("version") != STATE_VERSION:
            raise ValueError("not a tierstore local stack state (unknown format or version)")
        users = {
            str(name): UserKeys(str(keys["access_key_id"]), Secret(str(keys["secret_access_key"])))
            for name, keys in data["users"].items()
        }
        kafka = data.get("kafka_bootstrap")
        return cls(
            endpoint=str(data["endpoint"]),
            region=str(data["region"]),
            users=users,
            roles={str(name): str(arn) for name, arn in data["roles"].items()},
            kafka_bootstrap=None if kafka is None else str(kafka),
            directory=Path(data["directory"]),
            pids={str(name): int(pid) for name, pid in data["pids"].items()},
            ports=StackPorts.from_dict(data["ports"]),
        )

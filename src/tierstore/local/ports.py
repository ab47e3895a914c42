"""Loopback ports for the stack: free ones picked by the kernel, or the caller's own checked."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields

from tierstore.errors import ConfigError
from tierstore.local.errors import LocalStackError

LOOPBACK = "127.0.0.1"
# weed's admin plugin worker dials admin HTTP port + 10000 whatever -admin.port.grpc says; pinning
# the gRPC port there keeps it from reaching a neighbour stack's port (or logging refusals).
ADMIN_GRPC_OFFSET = 10000
MAX_PORT = 65535


@dataclass(frozen=True)
class StackPorts:
    """Every port one stack listens on, all on 127.0.0.1."""

    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    admin: int
    admin_grpc: int
    kafka: int | None = None

    def weed_grpc_ports(self) -> dict[str, int]:
        """The gRPC port of each weed component, by the name weed uses in its socket file names."""
        return {
            "master": self.master_grpc,
            "volume": self.volume_grpc,
            "filer": self.filer_grpc,
            "s3": self.s3_grpc,
            "admin": self.admin_grpc,
        }

    def to_dict(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> StackPorts:
        def port(name: str) -> int:
            return int(str(data[name]))

        kafka = data.get("kafka")
        return cls(
            s3=port("s3"),
            s3_grpc=port("s3_grpc"),
            master=port("master"),
            master_grpc=port("master_grpc"),
            volume=port("volume"),
            volume_grpc=port("volume_grpc"),
            filer=port("filer"),
            filer_grpc=port("filer_grpc"),
            admin=port("admin"),
            admin_grpc=port("admin_grpc"),
            kafka=None if kafka is None else int(str(kafka)),
        )


PORT_NAMES = tuple(f.name for f in fields(StackPorts))


class _Reservation:
    """Sockets kept bound while ports are picked, so one pick never returns a port twice."""

    def __init__(self) -> None:
        self._held: list[socket.socket] = []

    def take(self, port: int) -> bool:
        """Hold ``port``; False when it is busy or out of range."""
        return 1 <= port <= MAX_PORT and self._bind(port)

    def take_any(self) -> int:
        """Hold a port the kernel picks."""
        self._bind(0)
        port: int = self._held[-1].getsockname()[1]
        return port

    def _bind(self, port: int) -> bool:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            sock.close()
            return False
        self._held.append(sock)
        return True

    def release_last(self) -> None:
        self._held.pop().close()

    def close(self) -> None:
        for sock in self._held:
            sock.close()
        self._held.clear()


def choose_ports(requested: Mapping[str, int] | None = None, *, kafka: bool = False) -> StackPorts:
    """Fill in every port not given; raise if a given one is unknown, invalid or busy."""
    requested = dict(requested or {})
    unknown = sorted(set(requested) - set(PORT_NAMES))
    if unknown:
        raise ConfigError(f"unknown port name(s) {unknown}; accepted: {', '.join(PORT_NAMES)}")
    if "kafka" in requested and not kafka:
        raise ConfigError("a kafka port was given but Kafka is not enabled")
    for name, port in requested.items():
        if not 1 <= port <= MAX_PORT:
            raise ConfigError(f"port {name}={port} is out of range 1-{MAX_PORT}")
    if len(set(requested.values())) != len(requested):
        raise ConfigError(f"the same port is given twice: {requested}")

    chosen: dict[str, int] = {}
    reservation = _Reservation()
    try:
        for name, port in requested.items():
            if not reservation.take(port):
                raise LocalStackError(f"port {port} ({name}) on {LOOPBACK} is already in use")
            chosen[name] = port
        _pair_admin_ports(reservation, chosen)
        for name in PORT_NAMES:
            if name not in chosen and (name != "kafka" or kafka):
                chosen[name] = reservation.take_any()
    finally:
        reservation.close()
    return StackPorts(**chosen)


def _pair_admin_ports(reservation: _Reservation, chosen: dict[str, int]) -> None:
    """Make admin_grpc = admin + 10000 where the caller left room for it."""
    admin, admin_grpc = chosen.get("admin"), chosen.get("admin_grpc")
    if admin is not None and admin_grpc is None:
        if reservation.take(admin + ADMIN_GRPC_OFFSET):
            chosen["admin_grpc"] = admin + ADMIN_GRPC_OFFSET
    elif admin is None and admin_grpc is not None:
        if reservation.take(admin_grpc - ADMIN_GRPC_OFFSET):
            chosen["admin"] = admin_grpc - ADMIN_GRPC_OFFSET
    elif admin is None and admin_grpc is None:
        for _attempt in range(64):
            port = reservation.take_any()
            if reservation.take(port + ADMIN_GRPC_OFFSET):
                chosen["admin"], chosen["admin_grpc"] = port, port + ADMIN_GRPC_OFFSET
                return
            reservation.release_last()
        # No pair found: any free ports then; the worker's refused dial is only log noise.

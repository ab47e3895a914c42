"""One local stack in one directory: start it, find it, tell whether it runs, stop it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tierstore.local import seaweed, tansu
from tierstore.local.errors import LocalStackError, PortClashError
from tierstore.local.info import StackInfo
from tierstore.local.ports import LOOPBACK, StackPorts, choose_ports
from tierstore.local.seaweed import WeedLayout
from tierstore.local.seaweed_config import (
    IDENTITY_ACTIONS,
    REGION,
    OidcProvider,
    iam_config,
    identities_config,
    new_signing_key,
    new_user_keys,
    role_arns,
)
from tierstore.local.tansu import TansuLayout
from tierstore.settings.secret import Secret

logger = logging.getLogger(__name__)

STATE_FILE = "stack.json"
PORT_ATTEMPTS = 3
# Everything a stack puts in its directory; nothing else there is ever touched or removed.
_OWNED = (STATE_FILE, "weed", "tansu")


def _canonical(directory: Path) -> Path:
    return directory.expanduser().resolve()


def _weed_layout(directory: Path) -> WeedLayout:
    return WeedLayout(directory / "weed")


def _tansu_layout(directory: Path) -> TansuLayout:
    return TansuLayout(directory / "tansu")


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise start and stop on one directory (a lock on the directory itself: no lock file)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_stack(directory: Path) -> StackInfo | None:
    """The stack recorded in ``directory``, running or not; None when there is none."""
    state = _canonical(directory) / STATE_FILE
    try:
        text = state.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise LocalStackError(f"cannot read the stack state {state}: {error.strerror}") from None
    try:
        return StackInfo.from_json(text)
    except (ValueError, KeyError, TypeError) as error:
        raise LocalStackError(
            f"the stack state {state} is damaged ({type(error).__name__}); remove {state.parent}"
        ) from None


def process_status(info: StackInfo) -> dict[str, bool]:
    """Each recorded process (weed, tansu) and whether it still runs."""
    status = {"weed": seaweed.is_running(info.pids["weed"], _weed_layout(info.directory))}
    if "tansu" in info.pids and info.ports.kafka is not None:
        status["tansu"] = tansu.is_running(info.pids["tansu"], info.ports.kafka)
    return status


def is_running(info: StackInfo) -> bool:
    return all(process_status(info).values())


def has_stack_files(directory: Path) -> bool:
    """Whether ``directory`` holds anything a stack left, running, stale or kept."""
    directory = _canonical(directory)
    return any((directory / name).exists() for name in _OWNED)


def _write_state(info: StackInfo) -> None:
    """Atomically, and readable by its owner only: it holds every key."""
    state = info.directory / STATE_FILE
    partial = state.with_name(f".{STATE_FILE}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(info.to_json())
    os.replace(partial, state)


def _check_directory_is_ours(directory: Path) -> None:
    foreign = sorted(entry.name for entry in directory.iterdir() if entry.name not in _OWNED)
    if foreign:
        raise LocalStackError(
            f"{directory} holds files that are not a local stack's ({', '.join(foreign[:5])}); "
            "choose a new or empty directory"
        )


def start_stack(
    directory: Path,
    *,
    kafka: bool = False,
    ports: Mapping[str, int] | None = None,
    oidc: OidcProvider | None = None,
    extra_roles: Sequence[Mapping[str, Any]] = (),
    extra_policies: Sequence[Mapping[str, Any]] = (),
    ready_timeout: float = seaweed.READY_TIMEOUT,
) -> StackInfo:
    """Start SeaweedFS (and tansu when ``kafka``) for ``directory`` and wait until they answer.

    ``ports`` may pin any of :class:`StackPorts`' fields; the rest are picked free. Raises
    :class:`LocalStackError` when a stack already runs there, a port is busy, a binary is
    missing or a server does not come up (with the end of its log).
    """
    directory = _canonical(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        existing = read_stack(directory)
        if existing is not None:
            if is_running(existing):
                raise LocalStackError(
                    f"a local stack is already running in {directory} ({existing.endpoint})"
                )
            # A stale record (a server died or the machine restarted): clear what is left of it.
            _stop_processes(existing)
            (directory / STATE_FILE).unlink()
        _check_directory_is_ours(directory)
        # A start over kept data must never delete it, even when the start fails.
        fresh = not _weed_layout(directory).root.exists()
        try:
            return _launch(
                directory,
                kafka=kafka,
                ports=ports,
                oidc=oidc,
                extra_roles=extra_roles,
                extra_policies=extra_policies,
                ready_timeout=ready_timeout,
            )
        except BaseException:
            _remove_owned(directory, keep_data=not fresh)
            raise


def _launch(
    directory: Path,
    *,
    kafka: bool,
    ports: Mapping[str, int] | None,
    oidc: OidcProvider | None,
    extra_roles: Sequence[Mapping[str, Any]],
    extra_policies: Sequence[Mapping[str, Any]],
    ready_timeout: float,
) -> StackInfo:
    users = {name: new_user_keys() for name in IDENTITY_ACTIONS}
    signing_key = new_signing_key()
    iam = iam_config(
        users=list(users),
        signing_key=signing_key,
        oidc=oidc,
        extra_roles=extra_roles,
        extra_policies=extra_policies,
    )
    weed_layout = _weed_layout(directory)
    weed_layout.root.mkdir(exist_ok=True)
    seaweed.write_private_json(weed_layout.s3_config, identities_config(users))
    seaweed.write_private_json(weed_layout.iam_config, iam)

    def on_ports(chosen: StackPorts) -> StackInfo:
        return StackInfo(
            endpoint=f"http://{LOOPBACK}:{chosen.s3}",
            region=REGION,
            users=users,
            roles=role_arns(iam),
            kafka_bootstrap=f"{LOOPBACK}:{chosen.kafka}" if chosen.kafka is not None else None,
            directory=directory,
            pids={},
            ports=chosen,
        )

    # Masked in any log excerpt an error carries.
    secrets = [signing_key, *(keys.secret_access_key for keys in users.values())]
    for _retry in range(PORT_ATTEMPTS - 1):
        try:
            return _spawn(on_ports(choose_ports(ports, kafka=kafka)), secrets, ready_timeout=ready_timeout)
        except PortClashError as clash:
            # Free ports are picked a moment before the servers bind them; another process won.
            logger.info("%s; starting again with other ports", clash)
    return _spawn(on_ports(choose_ports(ports, kafka=kafka)), secrets, ready_timeout=ready_timeout)


def _spawn(info: StackInfo, secrets: Sequence[Secret], *, ready_timeout: float) -> StackInfo:
    """Start the servers on ``info``'s ports and wait for them; on any failure stop them again."""
    weed_layout, tansu_layout = _weed_layout(info.directory), _tansu_layout(info.directory)
    # The memory engine keeps nothing worth keeping, and tansu's working dir must be empty.
    shutil.rmtree(tansu_layout.root, ignore_errors=True)
    ports = info.ports
    pids: dict[str, int] = {}
    started = time.monotonic()
    try:
        weed = seaweed.start(weed_layout, ports)
        pids["weed"] = weed.pid
        broker = None
        if ports.kafka is not None:
            tansu_layout.root.mkdir()
            broker = tansu.start(tansu_layout, ports.kafka)
            pids["tansu"] = broker.pid
        info = replace(info, pids=dict(pids))
        # Recorded before waiting, so that `down` can clean up after an interrupted `up`.
        _write_state(info)
        if broker is not None and ports.kafka is not None:
            tansu.wait_ready(broker, tansu_layout, ports.kafka)
        seaweed.wait_ready(
            weed,
            weed_layout,
            ports,
            secrets=secrets,
            timeout=ready_timeout,
        )
    except BaseException:
        _stop_processes(replace(info, pids=dict(pids)))
        (info.directory / STATE_FILE).unlink(missing_ok=True)
        raise
    logger.info(
        "local stack ready at %s in %.2f s (pids %s)", info.endpoint, time.monotonic() - started, pids
    )
    return info


def _stop_processes(info: StackInfo) -> None:
    if "tansu" in info.pids and info.ports.kafka is not None:
        tansu.stop(info.pids["tansu"], info.ports.kafka)
    if "weed" in info.pids:
        seaweed.stop(info.pids["weed"], _weed_layout(info.directory), info.ports)
    else:
        seaweed.remove_tmp_sockets(info.ports)


def _remove_owned(directory: Path, *, keep_data: bool) -> None:
    (directory / STATE_FILE).unlink(missing_ok=True)
    if keep_data:
        weed_layout = _weed_layout(directory)
        weed_layout.filer_socket.unlink(missing_ok=True)
        weed_layout.s3_socket.unlink(missing_ok=True)
        return
    for name in _OWNED:
        shutil.rmtree(directory / name, ignore_errors=True)
    # Only when nothing else is left in it: the directory may be the caller's own.
    with contextlib.suppress(OSError):
        directory.rmdir()


def stop_stack(directory: Path, keep_data: bool = False) -> StackInfo | None:
    """Stop the stack in ``directory`` (running or stale) and remove its files.

    With ``keep_data`` the data, configuration and logs stay for a later start. Returns the
    stack that was recorded there, or None when there was none.
    """
    directory = _canonical(directory)
    if not directory.is_dir():
        return None
    with _locked(directory):
        info = read_stack(directory)
        if info is not None:
            logger.info("stopping the local stack in %s (pids %s)", directory, info.pids)
            _stop_processes(info)
        _remove_owned(directory, keep_data=keep_data)
    return info

"""``tierstore config check`` and ``tierstore config show``: settings files, checked and explained."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tierstore.errors import ConfigError
from tierstore.settings.problems import Problem, errors_of, summary, warnings_of

# The dialects (their key tables, the YAML reader) are imported by the actions that read a file:
# registering the parser (every ``tierstore`` command does) must stay cheap.
if TYPE_CHECKING:
    from tierstore.settings import StoreSettings
    from tierstore.settings.keys import Dialect, FieldName

EXIT_OK = 0
EXIT_PROBLEMS = 1


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = subcommands.add_parser(
        "config",
        help="check and show store settings files",
        description="Store settings files: Fluss server.yaml, Alluxio .properties, Kafka Connect .json.",
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    check = actions.add_parser("check", help="report every problem in a settings file")
    check.add_argument("-c", "--config", required=True, type=Path, metavar="FILE", help="the settings file")
    check.add_argument("--json", action="store_true", help="print the problems as JSON")
    check.set_defaults(run=run_check)

    show = actions.add_parser("show", help="print the resolved settings, secrets masked")
    show.add_argument("-c", "--config", required=True, type=Path, metavar="FILE", help="the settings file")
    show.set_defaults(run=run_show)


def run_check(args: argparse.Namespace) -> int:
    from tierstore.settings import check_store_settings, load_store_settings
    from tierstore.settings.dialects import get_dialect

    path: Path = args.config
    problems = check_store_settings(path)
    # How writes will run (the concurrency a buffer cap leaves), once the file is usable.
    usable = None if errors_of(problems) else load_store_settings(path)
    if args.json:
        report = _check_report(path, problems)
        report["writes"] = writes_report(usable.settings, get_dialect(usable.dialect)) if usable else None
        print(json.dumps(report, indent=2))
    else:
        for problem in problems:
            print(problem.render())
        verdict = "not usable" if errors_of(problems) else "usable"
        print(f"{path}: {summary(problems)}; {verdict}")
        if usable:
            print(f"{path}: writes: {writes_text(usable.settings, get_dialect(usable.dialect))}")
    return EXIT_PROBLEMS if errors_of(problems) else EXIT_OK


def _check_report(path: Path, problems: list[Problem]) -> dict[str, object]:
    from tierstore.settings.dialects import dialect_for_path

    try:
        dialect: str | None = dialect_for_path(path).name
    except ConfigError:
        dialect = None
    return {
        "file": str(path),
        "dialect": dialect,
        "ok": not errors_of(problems),
        "errors": len(errors_of(problems)),
        "warnings": len(warnings_of(problems)),
        "problems": [problem.as_dict() for problem in problems],
    }


def _key(dialect: Dialect | None, field: FieldName, model_name: str) -> str:
    """The dialect's key for a field, or the model's name where the dialect has none."""
    if dialect is not None and any(spec.field == field for spec in dialect.keys):
        return dialect.key_for(field)
    return model_name


def _limit(settings: StoreSettings, dialect: Dialect | None) -> str | None:
    """The key whose cap lowered the concurrency, if one did."""
    limited_by = settings.multipart.plan().limited_by
    if limited_by == "buffer_max":
        return _key(dialect, "upload_buffer_max", "multipart.buffer_max")
    if limited_by == "active_parts":
        return _key(dialect, "upload_active_parts", "multipart.active_parts")
    return None


def writes_text(settings: StoreSettings, dialect: Dialect | None = None) -> str:
    """How a streaming write runs: part size, parts at once (and what lowered it), buffer bound."""
    from tierstore.settings.model import format_size

    if settings.location.scheme == "file":
        return "straight to a file, no part buffers"
    multipart = settings.multipart
    plan = multipart.plan()
    text = f"{format_size(plan.part_size)} parts, {plan.concurrency} uploaded at once"
    limit = _limit(settings, dialect)
    if limit is not None:
        asked = _key(dialect, "upload_concurrency", "multipart.concurrency")
        if plan.limited_by == "buffer_max":
            assert multipart.buffer_max is not None
            why = f"= {format_size(multipart.buffer_max)} holds {plan.buffers} parts, one being filled"
        else:
            why = f"is {multipart.active_parts}"
        text += f" ({asked} is {multipart.concurrency}; {limit} {why})"
    return f"{text}; at most {format_size(plan.buffer_bytes)} of part buffers per write"


def writes_report(settings: StoreSettings, dialect: Dialect | None = None) -> dict[str, object]:
    if settings.location.scheme == "file":
        return {"to": "file"}
    multipart = settings.multipart
    plan = multipart.plan()
    return {
        "to": "s3",
        "part_size": plan.part_size,
        "concurrency": plan.concurrency,
        "asked_concurrency": multipart.concurrency,
        "lowered_by": _limit(settings, dialect),
        "max_buffer_bytes": plan.buffer_bytes,
    }


def run_show(args: argparse.Namespace) -> int:
    from tierstore.settings import load_store_settings
    from tierstore.settings.dialects import get_dialect

    loaded = load_store_settings(args.config)
    for warning in loaded.warnings:
        print(warning.render(), file=sys.stderr)
    rows = [("dialect", loaded.dialect), *describe(loaded.settings, get_dialect(loaded.dialect))]
    if loaded.extras:
        rows.append(("passed on", ", ".join(sorted(loaded.extras))))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return EXIT_OK


def _seconds(value: float) -> str:
    return f"{value:g}s"


def describe(settings: StoreSettings, dialect: Dialect | None = None) -> list[tuple[str, str]]:
    """The settings as label/value rows; secrets appear only as ``****``."""
    from tierstore.settings.secret import mask_key_id

    rows: list[tuple[str, str]] = [
        ("location", settings.location.uri),
        ("endpoint", settings.endpoint or "AWS S3 (by region)"),
        ("region", settings.effective_region + ("" if settings.region else " (default)")),
        (
            "addressing",
            ("path style" if settings.uses_path_style else "virtual host")
            + (" (auto)" if settings.path_style is None else ""),
        ),
    ]
    if settings.keys:
        rows.append(("access key id", mask_key_id(settings.keys.access_key_id)))
        rows.append(("secret key", "****"))
        rows.append(("session token", "****" if settings.keys.session_token else "none"))
    else:
        rows.append(("credentials", "the default chain"))
    if role := settings.assume_role:
        rows.append(("assume role", role.role_arn))
        rows.append(("  external id", role.external_id or "none"))
        rows.append(("  session name", role.session_name or "generated"))
        rows.append(("  duration", _seconds(role.duration_seconds)))
        rows.append(("  sts endpoint", role.sts_endpoint or "AWS STS"))
        rows.append(("  sts region", role.sts_region or "the store region"))
        rows.append(("  session policy", "given" if role.policy else "none"))
    proxy = settings.proxy
    if proxy:
        user = (
            f" as {proxy.username}" + (" with a password (****)" if proxy.password else "")
            if proxy.username
            else ""
        )
        rows.append(("proxy", proxy.url(with_credentials=False) + user))
    else:
        rows.append(("proxy", "none"))
    encryption = settings.encryption
    if encryption:
        key = f" with key {encryption.kms_key_id}" if encryption.kms_key_id else ""
        rows.append(("encryption", f"{encryption.algorithm}{key}"))
    else:
        rows.append(("encryption", "none requested"))
    rows += [
        ("checksums", settings.checksum_mode),
        ("retries", f"{settings.retry.mode}, at most {settings.retry.max_attempts} attempts"),
        (
            "timeouts",
            f"connect {_seconds(settings.timeouts.connect_seconds)}, "
            f"read {_seconds(settings.timeouts.read_seconds)}",
        ),
        ("writes", writes_text(settings, dialect)),
        ("wire log", "on" if settings.wire_log else "off"),
    ]
    permissions = settings.permissions
    owners = ";".join(f"{owner}={name}" for owner, name in permissions.owner_id_to_username.items())
    rows.append(
        (
            "permissions",
            f"mode {permissions.default_mode:04o}, inherit ACL {str(permissions.inherit_acl).lower()}, "
            f"access probe {str(permissions.access_probe).lower()}"
            + (f", owners {owners}" if owners else ""),
        )
    )
    return rows

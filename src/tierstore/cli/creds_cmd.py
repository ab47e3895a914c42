"""``tierstore creds explain | export``: which source gives a store its credentials, and the credentials."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser("creds", help="explain or export a store's credentials")
    actions = parser.add_subparsers(dest="creds_command", metavar="ACTION", required=True)

    explain = actions.add_parser("explain", help="every credential source in order, and the session layer")
    _common(explain)
    explain.add_argument("--check", action="store_true", help="also call GetCallerIdentity with the result")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.set_defaults(run=run_explain)

    export = actions.add_parser("export", help="print the resolved (session) credentials")
    _common(export)
    export.add_argument(
        "--format",
        choices=("env", "json", "credential-process"),
        default="env",
        help="env: shell exports; json; credential-process: for AWS_CONFIG_FILE's credential_process",
    )
    export.set_defaults(run=run_export)

    vend = actions.add_parser(
        "vend", help="credentials a tierstore server vends for a path, for tools outside Python"
    )
    vend.add_argument("path", metavar="PATH", help="a namespace path, such as /mnt/s3/tables/events")
    vend.add_argument("--write", action="store_true", help="write access (default: read-only)")
    vend.add_argument(
        "--format",
        choices=("env", "json", "credential-process", "iceberg", "duckdb", "polars"),
        default="env",
        help="env: shell exports with the store's endpoint and region; json: the server's whole answer; "
        "credential-process: for AWS_CONFIG_FILE's credential_process; iceberg: Iceberg REST's "
        "storage-credentials; duckdb: a CREATE SECRET statement scoped to the path; polars: the s3:// "
        "URL and storage_options",
    )
    vend.add_argument("--url", help="the server, e.g. http://127.0.0.1:8080 (default $TIERSTORE_URL)")
    vend.add_argument("--token", help="your bearer token (default $TIERSTORE_TOKEN; prefer the variable)")
    vend.set_defaults(run=run_vend)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", type=Path,
        help="the store's config file (any dialect); with --mount, the server's config ($TIERSTORE_CONFIG)",
    )  # fmt: skip
    parser.add_argument("--mount", metavar="PATH", help="the store of the mount serving this namespace path")
    parser.add_argument("--site-config", type=Path, help="the server's config file, a lower-priority source")
    parser.add_argument(
        "--session-token",
        action="store_true",
        help="with no role ARN set, get session credentials through GetSessionToken",
    )


def _overrides(pairs: list[str]) -> dict[str, str]:
    from tierstore.errors import ConfigError

    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {pair.split('=')[0]!r}: write --set KEY=VALUE, e.g. --set aws.accessKeyId=AKIA…"
            )
        values[key.strip()] = value
    return values


def _settings(args: argparse.Namespace) -> tuple[Any, Any]:
    """The store's settings and the site keys: from -c, or from the mount serving --mount."""
    import os

    from tierstore.errors import ConfigError
    from tierstore.settings import load_store_settings

    site_keys = load_store_settings(args.site_config).settings.keys if args.site_config else None
    if args.mount is None:
        if args.config is None:
            raise ConfigError("give the store's config with -c FILE, or a namespace path with --mount PATH")
        return load_store_settings(args.config).settings, site_keys
    from tierstore.namespace.config import load_server_config
    from tierstore.namespace.mounts import MountTable
    from tierstore.namespace.server_metadata import open_server_metadata

    config_path = args.config or (
        Path(os.environ["TIERSTORE_CONFIG"]) if os.environ.get("TIERSTORE_CONFIG") else None
    )
    config = load_server_config(config_path)
    table = MountTable(config, open_server_metadata(config))
    try:
        record, _ = table.resolve(args.mount)
        settings = table.settings_for(record)
    except ValueError as error:
        raise ConfigError(f"--mount {args.mount}: {error}") from None
    finally:
        table.close()
    if site_keys is None and record.path != "/":
        # For a nested mount the server's own keys are the site configuration, below the mount's.
        site_keys = config.root.keys
    return settings, site_keys


def _context(args: argparse.Namespace, site_keys: Any) -> Any:
    from tierstore.credentials.resolve import ResolutionContext

    return ResolutionContext(
        overrides=_overrides(args.overrides),
        site_keys=site_keys,
        session="get-session-token" if args.session_token else "auto",
    )


def run_explain(args: argparse.Namespace) -> int:
    from tierstore.credentials.explain import explain, render_text

    settings, site_keys = _settings(args)
    report = explain(settings, _context(args, site_keys), check=args.check)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_text(report))
    return 0 if report["chosen"] else 1


def run_export(args: argparse.Namespace) -> int:
    from tierstore.credentials.resolve import resolve_credentials

    settings, site_keys = _settings(args)
    creds = resolve_credentials(settings, _context(args, site_keys)).source.credentials()
    secret = creds.secret_access_key.reveal()
    token = creds.session_token.reveal() if creds.session_token else None
    expiry = creds.expires_at.isoformat().replace("+00:00", "Z") if creds.expires_at else None
    if args.format == "env":
        lines = [f"export AWS_ACCESS_KEY_ID={shlex.quote(creds.access_key_id)}"]
        lines.append(f"export AWS_SECRET_ACCESS_KEY={shlex.quote(secret)}")
        lines.append(f"export AWS_SESSION_TOKEN={shlex.quote(token)}" if token else "unset AWS_SESSION_TOKEN")
        if settings.endpoint:
            lines.append(f"export AWS_ENDPOINT_URL={shlex.quote(settings.endpoint)}")
        lines.append(f"export AWS_REGION={shlex.quote(settings.effective_region)}")
        print("\n".join(lines))
        return 0
    document: dict[str, Any] = {"AccessKeyId": creds.access_key_id, "SecretAccessKey": secret}
    if token:
        document["SessionToken"] = token
    if expiry:
        document["Expiration"] = expiry
    if args.format == "credential-process":
        document = {"Version": 1, **document}
    print(json.dumps(document))
    return 0


def run_vend(args: argparse.Namespace) -> int:
    from tierstore.client.client import Client
    from tierstore.client.vend_output import render_vended

    with Client(args.url, args.token) as client:
        # A path ending in "/" is a directory prefix, as the server reads it.
        vended = client.vend(args.path, "write" if args.write else "read", directory=args.path.endswith("/"))
    print(render_vended(vended, args.format))
    return 0

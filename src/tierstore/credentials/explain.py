"""What ``tierstore creds explain`` reports: every source in order, the session layer, the caller.

The report is plain data (also printed as JSON); nothing secret goes into it: access key ids
appear by their first 4 characters, secrets and tokens not at all.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from tierstore.credentials.resolve import ResolutionContext, build_chain, resolve_credentials
from tierstore.credentials.sts import sts_client, sts_target
from tierstore.errors import CredentialsError
from tierstore.settings.model import StoreSettings
from tierstore.settings.secret import mask_key_id


def explain(settings: StoreSettings, context: ResolutionContext, *, check: bool = False) -> dict[str, Any]:
    chain = build_chain(settings, context)
    attempts = chain.explain()
    report: dict[str, Any] = {
        "store": settings.location.uri,
        "endpoint": settings.endpoint or "AWS S3",
        "region": settings.effective_region,
        "chain": [
            {
                "priority": index,
                "source": a.provider,
                "title": a.title,
                "status": a.status,
                "detail": a.detail,
            }
            for index, a in enumerate(attempts, start=1)
        ],
        "chosen": next((a.provider for a in attempts if a.status == "chosen"), None),
        "session": None,
        "caller": None,
        "error": None,
    }
    if report["chosen"] is None:
        report["error"] = "no source has credentials"
        return report
    try:
        resolved = resolve_credentials(settings, context)
        layer = resolved.session
        if layer is not None:
            report["session"] = {
                "call": layer.call,
                "role_arn": layer.role_arn,
                "external_id": "set" if layer.external_id_set else "not set",
                "session_name": layer.session_name,
                "duration_seconds": layer.duration_seconds,
                "session_policy": "set" if layer.policy_set else "none",
                "sts": layer.target.describe(),
                "refresh": f"at {layer.source.policy.fraction:.0%} of the lifetime, "
                f"at least {layer.source.policy.margin.total_seconds():.0f} s before expiry",
            }
        if check or layer is not None:
            creds = resolved.source.credentials()
            report["credentials"] = {
                "access_key_id": mask_key_id(creds.access_key_id),
                "session_token": "yes" if creds.session_token else "no",
                "expires_at": creds.expires_at.isoformat() if creds.expires_at else "never",
            }
            if check:
                target = sts_target(settings)
                identity = sts_client(target, settings, creds).get_caller_identity()
                report["caller"] = {
                    "arn": identity.get("Arn"),
                    "account": identity.get("Account"),
                    "user_id": str(identity.get("UserId", ""))[:4] + "…",
                }
    except CredentialsError as error:
        report["error"] = str(error)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        report["error"] = f"GetCallerIdentity failed: {type(error).__name__}: {str(error)[:200]}"
    return report


def render_text(report: dict[str, Any]) -> str:
    lines = [
        f"Credentials for {report['store']} (endpoint {report['endpoint']}, region {report['region']})",
        "",
    ]
    lines.append("Sources, highest priority first:")
    for row in report["chain"]:
        lines.append(f"  {row['priority']}. {row['source']:<18} {row['status']:<16} {row['detail']}")
    session = report["session"]
    lines.append("")
    if session is None:
        lines.append("Session layer: none (the chosen credentials are used as they are)")
    else:
        lines.append(f"Session layer: {session['call']}")
        for key in (
            "role_arn",
            "external_id",
            "session_name",
            "duration_seconds",
            "session_policy",
            "sts",
            "refresh",
        ):
            if session.get(key) is not None:
                lines.append(f"  {key.replace('_', ' '):<17} {session[key]}")
    creds = report.get("credentials")
    if creds:
        lines.append(
            f"Credentials: {creds['access_key_id']}, session token {creds['session_token']}, "
            f"expires {creds['expires_at']}"
        )
    if report["caller"]:
        caller = report["caller"]
        lines.append(f"Caller identity: {caller['arn']} (account {caller['account']})")
    if report["error"]:
        lines.append(f"Error: {report['error']}")
    return "\n".join(lines)

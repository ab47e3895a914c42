"""``tierstore creds vend PATH``: vended credentials for tools outside Python, from the real server.

Each format is checked by using it: the env exports and the credential-process JSON are fed to
boto3, which must read the vended file from SeaweedFS. The secret appears on stdout (that is the
command's purpose) and nowhere else: not in logs at debug level, not on stderr.
"""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.server.harness import RunningServer, start_api_server
from tierstore.cli.main import main
from tierstore.client import Client

LOGGED: list[str] = []


def _vend(
    capsys: pytest.CaptureFixture[str], *args: str, caplog: pytest.LogCaptureFixture | None = None
) -> tuple[int, str, str]:
    """Run the command at debug level; what it logged (every logger) and wrote to stderr is kept."""
    if caplog is not None:
        caplog.clear()
    code = main(["-vv", "creds", "vend", *args])
    out, err = capsys.readouterr()
    if caplog is not None:
        # The server runs in this process: its botocore STS call logs the raw AssumeRole answer
        # at debug level, which is botocore's doing on the server side, not this command's.
        LOGGED.extend(
            record.getMessage() for record in caplog.records if not record.name.startswith("botocore")
        )
    LOGGED.append(err)
    return code, out, err


def _s3(endpoint: str, key: str, secret: str, token: str | None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}),
    )


def test_every_format_works_and_the_secret_is_never_logged(
    api: RunningServer,
    client: Client,
    workdir: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    LOGGED.clear()
    client.write(f"{workdir}/table/part-0", b"vended bytes")
    auth = ["--url", api.url, "--token", api.admin_token]
    with caplog.at_level(logging.DEBUG):
        code, out, _ = _vend(capsys, f"{workdir}/table", "--format", "json", *auth, caplog=caplog)
        assert code == 0
        answer = json.loads(out)
        store, creds = answer["store"], answer["credentials"]
        assert (answer["access"], answer["mode"], answer["scoped"]) == ("read", "direct", True)
        assert store["prefix"].endswith(f"{workdir.lstrip('/')}/table/")
        s3 = _s3(
            store["endpoint"], creds["access_key_id"], creds["secret_access_key"], creds["session_token"]
        )
        body = s3.get_object(Bucket=store["bucket"], Key=f"{store['prefix']}part-0")["Body"].read()
        assert body == b"vended bytes"
        secrets_ = [creds["secret_access_key"], creds["session_token"]]

        code, out, _err = _vend(capsys, f"{workdir}/table", "--format", "env", *auth, caplog=caplog)
        assert code == 0
        exports = dict(
            shlex.split(line.removeprefix("export "))[0].split("=", 1)
            for line in out.splitlines()
            if line.startswith("export ")
        )
        assert exports["AWS_ENDPOINT_URL"] == store["endpoint"]
        s3 = _s3(
            exports["AWS_ENDPOINT_URL"],
            exports["AWS_ACCESS_KEY_ID"],
            exports["AWS_SECRET_ACCESS_KEY"],
            exports["AWS_SESSION_TOKEN"],
        )
        assert s3.get_object(Bucket=store["bucket"], Key=f"{store['prefix']}part-0")["Body"].read()

        code, out, _ = _vend(
            capsys, f"{workdir}/table", "--write", "--format", "credential-process", *auth, caplog=caplog
        )
        assert code == 0
        process = json.loads(out)
        assert process["Version"] == 1 and process["Expiration"].endswith("Z")
        s3 = _s3(
            store["endpoint"], process["AccessKeyId"], process["SecretAccessKey"], process["SessionToken"]
        )
        s3.put_object(Bucket=store["bucket"], Key=f"{store['prefix']}part-1", Body=b"written")
        assert client.read(f"{workdir}/table/part-1") == b"written"
        secrets_ += [process["SecretAccessKey"], process["SessionToken"]]

    logged = "\n".join(LOGGED)
    assert "POST /v1/credentials" in logged or "credentials" in logged  # debug logging was on
    for secret in secrets_:
        assert secret not in logged
    assert api.admin_token not in logged


def test_user_mistakes_are_one_line_errors(
    api: RunningServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIERSTORE_URL", raising=False)
    monkeypatch.delenv("TIERSTORE_TOKEN", raising=False)
    code, out, err = _vend(capsys, "/x")
    assert code == 2 and out == ""
    assert err.startswith("tierstore: error:") and "TIERSTORE_URL" in err and err.count("\n") == 1

    code, out, err = _vend(capsys, "relative/path", "--url", api.url, "--token", api.admin_token)
    assert code == 2 and "must be absolute" in err

    code, out, err = _vend(capsys, "/x", "--url", api.url, "--token", "wrong-token")
    assert code == 2 and "refused the bearer token" in err and "wrong-token" not in err


def test_a_proxied_mount_has_no_credentials_to_print(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(
        f"remote.data.dir: file://{tmp_path / 'root'}\n"
        f"tierstore.metadata.url: sqlite:///{tmp_path / 'namespace.db'}\n"
    )
    server = start_api_server(config)
    try:
        code, out, err = _vend(capsys, "/anything", "--url", server.url, "--token", server.admin_token)
        assert code == 2 and out == ""
        assert "data proxy" in err and "/anything" in err and err.count("\n") == 1
    finally:
        server.stop()

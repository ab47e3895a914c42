"""Secrets never appear in a problem, a repr or ``config show``: every output is scanned for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.settings.settings_samples import KEY_ID, PROXY_PASSWORD, SECRET_KEY, SECRETS, SESSION_TOKEN
from tierstore.cli.main import main
from tierstore.settings import (
    ConfigProblems,
    check_store_settings,
    load_store_settings,
    settings_from_mapping,
)

BAD_SECRET = f"{SECRET_KEY} trailing"  # whitespace makes it invalid, so it must be reported


def assert_no_secret(text: str) -> None:
    for secret in (*SECRETS, BAD_SECRET):
        assert secret not in text


FULL_FLUSS = {
    "remote.data.dir": "s3://warehouse/t",
    "s3.access-key": KEY_ID,
    "s3.secret-key": SECRET_KEY,
    "s3.session-token": SESSION_TOKEN,
    "s3.proxy.host": "proxy.internal",
    "s3.proxy.port": 3128,
    "s3.proxy.username": "proxyuser",
    "s3.proxy.password": PROXY_PASSWORD,
}

# Each of these is wrong in a way that puts the secret right next to the problem.
BROKEN = {
    "secret with whitespace": {**FULL_FLUSS, "s3.secret-key": BAD_SECRET},
    "secrets that disagree": {**FULL_FLUSS, "fs.s3a.secret.key": BAD_SECRET.replace(" ", "-")},
    "tokens that disagree": {**FULL_FLUSS, "fs.s3a.session.token": SECRET_KEY},
    "password without user": {k: v for k, v in FULL_FLUSS.items() if k != "s3.proxy.username"},
    "bad key id": {**FULL_FLUSS, "s3.access-key": f"{KEY_ID} x"},
    "endpoint with credentials": {**FULL_FLUSS, "s3.endpoint": f"http://{KEY_ID}:{SECRET_KEY}@store:9000"},
    "proxy host with credentials": {**FULL_FLUSS, "s3.proxy.host": f"http://u:{PROXY_PASSWORD}@proxy"},
    "secret as a list": {**FULL_FLUSS, "s3.secret-key": [SECRET_KEY]},
    "location with credentials": {
        **FULL_FLUSS,
        "remote.data.dir": f"s3a://{KEY_ID}:{SECRET_KEY}@warehouse/t",
    },
    "misspelled secret key": {**FULL_FLUSS, "s3.secret-kye": SECRET_KEY, "s3.attempts.maximum": "x"},
}


@pytest.mark.parametrize("values", BROKEN.values(), ids=BROKEN.keys())
def test_no_problem_message_holds_a_secret(values: dict[str, object]) -> None:
    with pytest.raises(ConfigProblems) as caught:
        settings_from_mapping(values, "fluss", "server.yaml")
    assert caught.value.errors
    assert_no_secret(str(caught.value))
    for problem in caught.value.problems:
        assert_no_secret(repr(problem))
        assert_no_secret(json.dumps(problem.as_dict()))


def test_settings_repr_holds_no_secret() -> None:
    settings = settings_from_mapping(FULL_FLUSS, "fluss", "server.yaml").settings
    assert settings.keys is not None
    assert settings.keys.secret_access_key.reveal() == SECRET_KEY  # it is there, just not shown
    assert_no_secret(repr(settings))
    assert_no_secret(str(settings))
    assert_no_secret(repr(settings.keys))
    assert_no_secret(repr(settings.proxy))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("server.yaml", f's3.secret-key: "{SECRET_KEY}\nremote.data.dir: s3://w/t\n'),
        ("server.yaml", f"s3.secret-key: {SECRET_KEY}: more\n"),
        ("sink.json", f'{{"aws.secret.access.key": "{SECRET_KEY}" "x"}}'),
        ("a.properties", f"aws.secretKey={SECRET_KEY}\\u12\n"),
    ],
)
def test_syntax_errors_do_not_quote_the_line(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    problems = check_store_settings(path)
    assert any(p.level == "error" for p in problems)
    assert_no_secret(" ".join(p.render() for p in problems))


def test_config_show_and_check_print_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "server.yaml"
    path.write_text("".join(f"{key}: {value}\n" for key, value in FULL_FLUSS.items()) + "s3.bogus: 1\n")
    assert main(["config", "show", "-c", str(path)]) == 0
    assert main(["config", "check", "-c", str(path)]) == 0
    assert main(["config", "check", "-c", str(path), "--json"]) == 0
    out = capsys.readouterr()
    assert_no_secret(out.out + out.err)
    assert f"{KEY_ID[:4]}…" in out.out  # the key id, cut to 4 characters
    assert "****" in out.out


def test_a_failing_config_show_prints_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "server.yaml"
    path.write_text(f"remote.data.dir: s3://warehouse/t\ns3.secret-key: {BAD_SECRET}\n")
    assert main(["config", "show", "-c", str(path)]) == 2
    out = capsys.readouterr()
    assert "s3.secret-key: the value given contains whitespace" in out.err
    assert_no_secret(out.out + out.err)
    with pytest.raises(ConfigProblems):
        load_store_settings(path)

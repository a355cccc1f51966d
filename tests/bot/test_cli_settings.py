"""A bad setting stops every command with one line naming the setting and what is wrong (SPEC §6, issue 19);
a setting that works but will surprise (a loopback PUBLIC_URL for installs) is a one-line warning."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from testsupport.stack import free_port

REPO = Path(__file__).resolve().parents[2]
SETTINGS_PREFIXES = ("SLACK_", "GOOGLE_", "GMAIL_", "PUBSUB_", "ZOHO_", "METRICS_", "LOG_", "PUBLIC_URL", "PORT",
                     "DEFAULT_TIMEZONE", "DATABASE_URL", "TOKEN_ENCRYPTION_KEYS", "SYNC_", "LABEL_")


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.upper().startswith(SETTINGS_PREFIXES)}
    return {**clean, "PYTHONPATH": str(REPO), "DATABASE_URL": f"sqlite:///{tmp_path / 'mm.db'}", **settings}


def run_cli(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    # cwd: a directory without a .env file, so only these settings count.
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=environment(tmp_path, **settings))


BAD_SETTINGS = [
    ("DEFAULT_TIMEZONE", "Mars/Olympus", "unknown time zone"),
    ("LOG_LEVEL", "LOUD", "not a log level"),
    ("LOG_FORMAT", "xml", "text or json"),
    ("PUBLIC_URL", "mm.example.com", "https://"),
    ("PUBLIC_URL", "https://mm.example.com/?tenant=1", "query"),
    ("SLACK_API_URL", "ftp://slack.example/api/", "https://"),
    ("GMAIL_API_URL", "https:///gmail/", "no host"),
    ("GOOGLE_AUTH_URI", "accounts.google.com/o/oauth2/auth", "https://"),
    ("GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com:port/token", "not a URL"),
    ("GOOGLE_REVOKE_URI", "http://", "no host"),
    ("GOOGLE_CERTS_URL", "file:///etc/certs.json", "https://"),
    ("ZOHO_ACCOUNTS_URL", "accounts.zoho.eu", "https://"),
    ("ZOHO_API_URL", "www.zohoapis.eu", "https://"),
    ("SLACK_AUTHORIZE_URL", "slack.com/oauth/v2/authorize", "https://"),
    ("PORT", "70000", "65535"),
    ("METRICS_PORT", "metrics", "integer"),
    ("METRICS_TOKEN", "short", "16 characters"),
    ("SYNC_INTERVAL_SECONDS", "0", "greater than or equal to 1"),
    ("DATABASE_URL", "crm-data.db", "not an SQLite or PostgreSQL URL"),
    ("TOKEN_ENCRYPTION_KEYS", "not-a-fernet-key", "not a Fernet key"),
    ("GMAIL_PUBSUB_TOPIC", "gmail-topic", "projects/<project id>/topics/<topic>"),
    ("SLACK_ALLOWED_TEAM_IDS", "T0001,acme", "not a Slack workspace id"),
    ("SLACK_BOT_TOKEN", "xoxp-1-user-token", "xoxb-"),
]


@pytest.mark.parametrize("name,value,problem", BAD_SETTINGS, ids=[f"{n}={v}" for n, v, _ in BAD_SETTINGS])
def test_serve_with_a_bad_setting_prints_one_line_naming_it(tmp_path, name, value, problem):
    result = run_cli(tmp_path, "serve", **{name: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mailmagnet: ") and name in lines[0] and problem in lines[0], lines[0]
    assert "ValidationError" not in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["db", "upgrade"], ["explain", "jane@acme.example"], ["users", "grant",
                                     "a@crm.example"], ["run-once", "sync"], ["demo"]])
def test_every_command_checks_the_settings_first(tmp_path, command):
    result = run_cli(tmp_path, *command, DEFAULT_TIMEZONE="Mars/Olympus")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "mailmagnet: setting DEFAULT_TIMEZONE: unknown time zone 'Mars/Olympus' (use an IANA name such as "
        "Europe/Paris)"]


def test_settings_that_need_each_other_are_named_together(tmp_path):
    result = run_cli(tmp_path, "serve", PUBSUB_PUSH_AUDIENCE="https://mm.example.com/gmail/push")
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "PUBSUB_PUSH_SERVICE_ACCOUNT" in line and "PUBSUB_PUSH_AUDIENCE" not in line.split(" is required")[0][:12]
    result = run_cli(tmp_path, "serve", PORT="3000", METRICS_PORT="3000")
    [line] = result.stderr.strip().splitlines()
    assert "METRICS_PORT" in line and "PORT" in line


def serve_until_listening(tmp_path: Path, **settings: str) -> list[str]:
    """`mailmagnet serve`, stopped with SIGTERM once it listens; its log lines."""
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path, text=True,
                               env=environment(tmp_path, PORT=str(free_port()), **settings),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: list[str] = []
    listening = threading.Event()

    def read():
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            if "listening on port" in line:
                listening.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert listening.wait(60), "\n".join(lines)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=5)
    return lines


MULTI_WORKSPACE = dict(SLACK_CLIENT_ID="1111.2222", SLACK_CLIENT_SECRET="oauth-secret",
                       SLACK_SIGNING_SECRET="signing-secret", SLACK_ALLOWED_TEAM_IDS="T0001",
                       LOG_LEVEL="INFO")


def test_a_loopback_public_url_for_installs_is_a_one_line_warning(tmp_path):
    lines = serve_until_listening(tmp_path, PUBLIC_URL="http://localhost:3000",
                                  TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(), **MULTI_WORKSPACE)
    warnings = [line for line in lines if "PUBLIC_URL" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "redirect_uri_mismatch" in warnings[0], lines


def test_no_public_url_warning_in_development_against_the_emulators(tmp_path):
    loopback = dict(SLACK_API_URL="http://127.0.0.1:9/api/", GOOGLE_AUTH_URI="http://127.0.0.1:9/o/oauth2/auth",
                    GOOGLE_TOKEN_URI="http://127.0.0.1:9/token", GMAIL_API_URL="http://127.0.0.1:9/")
    lines = serve_until_listening(tmp_path, PUBLIC_URL="http://localhost:3000",
                                  TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(), **MULTI_WORKSPACE, **loopback)
    assert not [line for line in lines if "PUBLIC_URL" in line], lines
    assert time.time()  # it started and stopped cleanly


# A value each validated setting refuses; the test below fails when a setting gains validation without a row here.
BAD_VALUE = {name: value for name, value, _ in BAD_SETTINGS} | {
    "SLACK_APP_TOKEN": "xoxb-not-an-app-token",
    "SLACK_ALLOWED_ENTERPRISE_ID": "T0001",
    "PUBSUB_PUSH_SERVICE_ACCOUNT": "push service account",
    "MAILMAGNET_FAILPOINTS": "no-such-point",
    "FOLLOWUP_WORKING_HOURS": "17:00-09:00",  # overnight shifts are refused
    "ZOHO_SYNC_USERS": "sometimes",
}
SECRETS = {"TOKEN_ENCRYPTION_KEYS", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "METRICS_TOKEN", "DATABASE_URL"}


def validated_settings() -> dict[str, object]:
    """Every setting that has a type other than text, a constraint or a validator: name -> its annotation."""
    from typing import Optional

    from pydantic import BeforeValidator

    from bot.settings import Settings, blank_is_unset

    validators = {f for d in Settings.__pydantic_decorators__.field_validators.values() for f in d.info.fields}
    found = {}
    for name, info in Settings.model_fields.items():
        checks = [m for m in info.metadata if not (isinstance(m, BeforeValidator) and m.func is blank_is_unset)]
        if name in validators or checks or info.annotation not in (str, Optional[str]):
            found[name.upper()] = info.annotation
    return found


def bad_value(name: str, annotation) -> str:
    if name in BAD_VALUE:
        return BAD_VALUE[name]
    if name.endswith(("_URL", "_URI")):
        return "ftp://example.com/"
    if annotation in (int, float):
        return "-1"
    raise AssertionError(f"add a value {name} refuses to BAD_VALUE")


def test_each_validated_setting_fails_with_one_line_naming_it(monkeypatch, tmp_path):
    """DEFAULT_TIMEZONE=Mars/Olympus, and the same for every other validated setting: what every command prints
    (`mailmagnet: ` + this line), never pydantic's report, never a secret's value."""
    from bot.settings import SettingsError, get_settings

    settings = validated_settings()
    assert len(settings) >= 40 and "DEFAULT_TIMEZONE" in settings  # the discovery works
    monkeypatch.chdir(tmp_path)  # no .env here
    for key in list(os.environ):
        if key.upper().startswith(SETTINGS_PREFIXES):
            monkeypatch.delenv(key)
    for name, annotation in sorted(settings.items()):
        value = bad_value(name, annotation)
        monkeypatch.setenv(name, value)
        with pytest.raises(SettingsError) as refused:
            get_settings()
        monkeypatch.delenv(name)
        line = str(refused.value)
        assert "\n" not in line and line.startswith(f"setting {name}: "), (name, line)
        assert "ValidationError" not in line and "input_value" not in line, line
        if name in SECRETS:
            assert value not in line, line

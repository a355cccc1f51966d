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

"""LOG_FORMAT=json (issue 19): during a whole demo run — the real server, Slack requests, jobs, the Zoho sync —
every line on the log stream is one JSON object with level, logger and message, carrying the request or job id,
mailbox and workspace where known, and none holds a subject, body, snippet or token the emulators served."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What the demo's mail says (bot/demo.py and the stack's default body), which never belongs in a log.
CONTENT = ("Hello from", "Renewal: can we sign", "legal is fine with the draft", "handles signatures",
           "Pilot feedback", "final version attached", "Hi Sam", "Body of ")
# The shapes of every token the emulators issue: Slack bot/user/app tokens, Google access and refresh tokens
# and authorization codes, Zoho tokens, JWTs.
TOKENS = re.compile(r"xox[abpe]-|xapp-|ya29\.|1//0|4/0A|1000\.[0-9a-f]{32}|eyJ[A-Za-z0-9_-]{10,}\.")


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory) -> list[str]:
    tmp = tmp_path_factory.mktemp("demo")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("LOG_", "DATABASE_URL"))}
    environment.update(PYTHONPATH=str(REPO), LOG_FORMAT="json", LOG_LEVEL="DEBUG",
                       DATABASE_URL=f"sqlite:///{tmp / 'demo.db'}")
    result = subprocess.run([sys.executable, "-m", "bot.cli", "demo"], capture_output=True, text=True, timeout=300,
                            cwd=tmp, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MailMagnet alerts in Alice's DM" in result.stdout  # the demo ran through (its story is on stdout)
    return result.stderr.splitlines()


def test_every_log_line_of_a_demo_run_is_a_json_object(demo_log):
    assert len(demo_log) > 20
    records = [json.loads(line) for line in demo_log]  # raises on the first line that is not JSON
    for record in records:
        assert isinstance(record, dict) and {"level", "logger", "message", "time"} <= set(record), record


def test_log_lines_name_the_request_job_mailbox_and_workspace(demo_log):
    records = [json.loads(line) for line in demo_log]
    # A listener's line, logged on the listener pool after the ack: the request's context followed it there.
    sent = [r for r in records if r["logger"] == "usecases.compose" and "sent an email" in r["message"]]
    assert sent and all(r.get("request_id") and r.get("workspace") == "T0001" and r.get("slack_user") for r in sent)
    # A mailbox run's lines name the run and the mailbox.
    runs = [r for r in records if r["logger"] == "mailmagnet.jobs"]
    assert runs and all(r.get("job_id") and r.get("job") for r in runs)
    assert any(r.get("mailbox_id") for r in runs)
    # Each request has an id of its own.
    assert len({r["request_id"] for r in records if r.get("request_id")}) >= 2


def test_no_log_line_holds_mail_content_or_a_token(demo_log):
    for line in demo_log:
        assert not any(text in line for text in CONTENT), line
        assert not TOKENS.search(line), line

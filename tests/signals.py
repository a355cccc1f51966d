"""Positive signals that the server handled a request, for tests that then assert nothing happened.

Sleeping "long enough" and asserting an absence passes whenever the machine is slow: the absence is then only
"not yet". These wait instead for something the server does once it has finished with the request — a log line
it writes, a metric it counts — and fail if that never comes.
"""
from __future__ import annotations

import logging
import time

import pytest

from testsupport.consent import http_get
from testsupport.stack import METRICS_TOKEN

RETRY_DROPPED = "dropping Slack's retry"  # handlers.middleware.drop_repeats, when it acks a retry it has seen
REPEAT_DROPPED = "dropping a repeated"  # handlers.routes.first_delivery_only, when a request lost its claim
# Counted by bot/routes/slack.py once Bolt has answered a command (its ack, or its 401 for a bad signature)…
ANSWERED_COMMANDS = 'mailmagnet_slack_ack_seconds_count{kind="command"}'
# …and when a request's signature headers are not even well-formed (refused before Bolt).
MALFORMED_SIGNATURES = 'mailmagnet_slack_requests_total{kind="rejected",name="malformed_signature"}'
PUSHES_REJECTED = 'mailmagnet_push_notifications_total{result="rejected"}'  # /gmail/push without its token


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"the server never showed {getattr(predicate, '__doc__', None) or predicate}")
        time.sleep(interval)
    return result


def log_lines(caplog: pytest.LogCaptureFixture, *texts: str) -> list[str]:
    """The captured log lines (any thread of this process) that contain one of `texts`."""
    return [m for m in (r.getMessage() for r in list(caplog.records)) if any(t in m for t in texts)]


def wait_for_log(caplog: pytest.LogCaptureFixture, *texts: str, count: int = 1) -> list[str]:
    """At least `count` log lines containing one of `texts` (set the loggers' level with `capture_request_logs`)."""

    def logged():
        lines = log_lines(caplog, *texts)
        return lines if len(lines) >= count else None

    logged.__doc__ = f"{count} log line(s) with {texts}"
    return wait_until(logged)


def capture_request_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Let the lines above through: MailMagnet's handlers log them at INFO."""
    caplog.set_level(logging.INFO, logger="handlers")


def metrics(server_url: str) -> dict[str, float]:
    status, _, body = http_get(f"{server_url}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
            if line and not line.startswith("#")}


def wait_for_count(server_url: str, series: str, at_least: float) -> float:
    """A counter of /metrics reaching a value (counters are per process: take `at_least` from a scrape before)."""

    def counted():
        return metrics(server_url).get(series, 0) >= at_least

    counted.__doc__ = f"{series} >= {at_least}"
    wait_until(counted)
    return metrics(server_url)[series]

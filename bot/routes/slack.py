"""/slack/events, /slack/install, /slack/oauth_redirect: Slack's requests, handed to Bolt."""
from __future__ import annotations

import re
import time

from flask import Response, request

from bot.routes import served
from telemetry import metrics

# What Slack sends (api.slack.com/authentication/verifying-requests-from-slack). slack_sdk's verifier raises
# on other shapes instead of answering "no", so a request is checked here before Bolt sees it.
SLACK_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
SLACK_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


def slack_headers_well_formed(headers) -> bool:
    return bool(SLACK_TIMESTAMP.match(headers.get("X-Slack-Request-Timestamp", ""))
                and SLACK_SIGNATURE.match(headers.get("X-Slack-Signature", "")))


def slack_request_kind(content_type: str | None, body: bytes) -> str:
    """`command`, `interactive` or `event`, from what Slack posts (for the ack histogram): events are JSON,
    commands and interactions form-encoded, commands with a `command` field."""
    if (content_type or "").startswith("application/json"):
        return "event"
    return "command" if any(field.startswith(b"command=") for field in body.split(b"&")) else "interactive"


def to_bolt() -> Response:
    """The install page and the OAuth redirect (and, once checked, the events): Bolt answers."""
    handler = served().slack_handler
    if handler is None:
        return Response("Slack requests arrive over Socket Mode on this server", status=404)
    return handler.handle(request)


def slack_events() -> Response:
    started = time.perf_counter()
    if served().slack_handler is not None and not slack_headers_well_formed(request.headers):
        metrics.SLACK_REQUESTS.labels(kind="rejected", name="malformed_signature").inc()
        return Response("invalid request", status=401)
    response = to_bolt()
    # Bolt answers once the listener acked (process_before_response=False): this is the ack's latency.
    kind = slack_request_kind(request.content_type, request.get_data())  # cached by Bolt's adapter
    metrics.SLACK_ACK_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
    return response

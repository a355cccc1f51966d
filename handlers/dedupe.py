"""Slack requests with side effects run once: retries (X-Slack-Retry-Num), replays and double clicks.

The record is a row of `processed_slack_requests` whose key is the request's
own identity (trigger_id for commands, actions and view submissions,
event_id for events). A double click is two requests with two trigger ids, so
block actions also claim a "click" key (who, which element, which message or
view version) for a few seconds.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from handlers.blocks.ids import REPEATABLE_ACTIONS
from usecases import idempotency
from usecases.values import Services

log = logging.getLogger(__name__)

DOUBLE_CLICK_WINDOW = timedelta(seconds=3)


def first_delivery(services: Services, body: dict) -> bool:
    """Claim the request (and, for a click, the element) before its side effects: False for a repeat."""
    key = request_key(body)
    if key is not None and not idempotency.claim(services, key):
        return False
    click = click_key(body)
    return click is None or idempotency.claim(services, click, window=DOUBLE_CLICK_WINDOW)


def request_key(body: dict) -> str | None:
    if body.get("type") == "event_callback":
        return f"event:{body['event_id']}" if body.get("event_id") else None
    trigger_id = body.get("trigger_id")
    return f"trigger:{trigger_id}" if trigger_id else None


def click_key(body: dict) -> str | None:
    """The same element of the same message (or view version) clicked by the same person.

    Stored as a hash: a button's value names a Gmail message, and nothing stored about a mailbox's email
    may outlive its disconnection (F8); a hash still tells a repeat from a first click.
    """
    if body.get("type") != "block_actions" or not body.get("actions"):
        return None
    action = body["actions"][0]
    if action.get("action_id") in REPEATABLE_ACTIONS:
        return None
    container = body.get("container") or {}
    where = container.get("message_ts") or container.get("view_id") or ""
    version = (body.get("view") or {}).get("hash") or ""
    value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
    team = (body.get("team") or {}).get("id") or ""
    user = (body.get("user") or {}).get("id") or ""
    identity = json.dumps([team, user, action.get("action_id"), value, where, version])
    return "click:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()

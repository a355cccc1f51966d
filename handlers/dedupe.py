"""Slack requests with side effects run once: retries (X-Slack-Retry-Num), replays and double clicks.

The record is a row of `processed_slack_requests` whose key is the request's
own identity (trigger_id for commands, actions and view submissions,
event_id for events). A double click is two requests with two trigger ids, so
block actions also claim a "click" key (who, which element, which message or
view version) for a few seconds.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from crm_store.models import ProcessedSlackRequest, utcnow
from handlers.blocks.ids import REPEATABLE_ACTIONS

log = logging.getLogger(__name__)

KEEP_FOR = timedelta(days=1)  # Slack retries within minutes; a day is plenty
DOUBLE_CLICK_WINDOW = timedelta(seconds=3)
PRUNE_EVERY_SECONDS = 600.0
MAX_KEY = 200

_prune_lock = threading.Lock()
_last_prune: dict[str, float] = {}


def _fit(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return key[:80] + ":" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _insert(engine: Engine):
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(ProcessedSlackRequest.__table__)


def claim(engine: Engine, key: str, *, window: timedelta | None = None) -> bool:
    """True for the first request with this key (or the first after `window`), False for a repeat."""
    key = _fit(key)
    now = utcnow()
    with engine.begin() as connection:
        table = ProcessedSlackRequest.__table__
        inserted = connection.execute(
            _insert(engine).values(key=key, created_at=now).on_conflict_do_nothing(index_elements=["key"])
            .returning(table.c.key)  # psycopg gives no rowcount for INSERT … ON CONFLICT
        ).first() is not None
        if inserted or window is None:
            return bool(inserted)
        # Seen before, but long enough ago to be a deliberate second click: take it over atomically.
        return bool(connection.execute(
            update(table).where(table.c.key == key, table.c.created_at < now - window).values(created_at=now)
        ).rowcount)


def seen(engine: Engine, key: str) -> bool:
    """Whether a key was claimed (a read: it never waits for a writer)."""
    table = ProcessedSlackRequest.__table__
    with engine.connect() as connection:
        return connection.execute(select(table.c.key).where(table.c.key == _fit(key))).first() is not None


def first_delivery(engine: Engine, body: dict) -> bool:
    """Claim the request (and, for a click, the element) before its side effects: False for a repeat."""
    key = request_key(body)
    if key is not None and not claim(engine, key):
        return False
    click = click_key(body)
    if click is not None and not claim(engine, click, window=DOUBLE_CLICK_WINDOW):
        return False
    prune(engine)
    return True


def prune(engine: Engine) -> None:
    """Forget old keys, at most every PRUNE_EVERY_SECONDS per database and process."""
    url = str(engine.url)
    with _prune_lock:
        if time.monotonic() - _last_prune.get(url, float("-inf")) < PRUNE_EVERY_SECONDS:
            return
        _last_prune[url] = time.monotonic()
    table = ProcessedSlackRequest.__table__
    with engine.begin() as connection:
        connection.execute(delete(table).where(table.c.created_at < utcnow() - KEEP_FOR))


def request_key(body: dict) -> str | None:
    if body.get("type") == "event_callback":
        return f"event:{body['event_id']}" if body.get("event_id") else None
    trigger_id = body.get("trigger_id")
    return f"trigger:{trigger_id}" if trigger_id else None


def click_key(body: dict) -> str | None:
    """The same element of the same message (or view version) clicked by the same person."""
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
    return f"click:{team}:{user}:{action.get('action_id')}:{value}:{where}:{version}"

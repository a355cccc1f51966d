"""Slack requests run once and are acked before their work waits for a thread.

- `drop_repeats` (global middleware, after Bolt's signature check): a Slack retry of a request already
  processed is acked and dropped at once. It only reads, so the ack never waits for a database writer.
- `once` (listener decorator): the listener claims its request right after the ack, on the worker thread,
  before any side effect; a retry, replay or double click that lost the claim does nothing.
- `ack_at_once` (listener middleware): acks on the request thread.
"""
from __future__ import annotations

import inspect
import logging
from typing import Callable

from slack_bolt import Ack, BoltRequest, BoltResponse

from bot import metrics
from bot.services import Services
from handlers import dedupe

log = logging.getLogger(__name__)

# Everything a MailMagnet listener asks Bolt for; `once` passes each listener its own subset.
INJECTED = ("ack", "body", "client", "respond", "context", "event", "view")


def request_kind(body: dict) -> tuple[str, str]:
    """(kind, name) of a request, for metrics and logs."""
    if body.get("command"):
        return "command", str(body["command"])[:40]
    kind = body.get("type") or "unknown"
    if kind == "block_actions":
        return "action", str((body.get("actions") or [{}])[0].get("action_id", ""))[:60]
    if kind in ("view_submission", "view_closed"):
        return "view", str((body.get("view") or {}).get("callback_id", ""))[:60]
    if kind == "event_callback":
        return "event", str((body.get("event") or {}).get("type", ""))[:60]
    return str(kind)[:40], ""


def drop_repeats(services: Services) -> Callable:
    def middleware(req: BoltRequest, body: dict, next: Callable[[], None]):
        kind, name = request_kind(body)
        metrics.SLACK_REQUESTS.labels(kind=kind, name=name).inc()
        retry = (req.headers.get("x-slack-retry-num") or [None])[0]
        key = dedupe.request_key(body)
        # Socket Mode marks first deliveries as retry 0: only a real retry needs the look-up.
        if retry not in (None, "0") and key is not None:
            try:
                if dedupe.seen(services.engine, key):
                    log.info("dropping Slack's retry %s of %s %s", retry, kind, name)
                    return BoltResponse(status=200, body="")
            except Exception:
                log.warning("could not look up %s %s; the listener decides", kind, name, exc_info=True)
        return next()

    return middleware


def once(services: Services) -> Callable[[Callable], Callable]:
    """Run a listener for the first delivery of its request only (retries, replays, double clicks)."""

    def decorate(listener: Callable) -> Callable:
        wanted = [name for name in inspect.signature(listener).parameters if name in INJECTED]

        def first_delivery_only(ack, body, client, respond, context, event, view):
            try:
                first = dedupe.first_delivery(services.engine, body)
            except Exception:
                log.exception("could not record a Slack request; processing it anyway")
                first = True
            if not first:
                ack()  # a view submission still needs its answer; elsewhere a no-op
                log.info("dropping a repeated %s %s", *request_kind(body))
                return None
            given = dict(ack=ack, body=body, client=client, respond=respond, context=context, event=event, view=view)
            return listener(**{name: given[name] for name in wanted})

        first_delivery_only.__name__ = first_delivery_only.__qualname__ = listener.__name__
        return first_delivery_only

    return decorate


def ack_at_once(ack: Ack, next: Callable[[], None]):
    """Listener middleware: the HTTP answer leaves before the listener waits for a free worker thread.

    Bolt runs listeners on a bounded pool and answers Slack only once the
    listener calls ack(); under load the pool is busy with Gmail calls, so a
    listener-side ack could miss Slack's 3 seconds. Acking here, on the request
    thread, keeps the ack independent of that work.
    """
    ack()
    next()

"""What every Slack request goes through before (and around) its listener.

Global middleware, in order, after Bolt's own signature check:
- `mark_verified`: the request passed Bolt's checks (the error handler acts only on such requests).
- `serve_allowed_workspaces`: a request from a workspace this deployment does not serve is answered
  with a clear message and goes no further (SPEC §1); the sender of any other is put in the listener's
  context (`context["actor"]`, a `SlackActorRef`, admitted: the use cases do not check the workspace again).
- `drop_repeats`: a Slack retry of a request already processed is acked and dropped at once. It only
  reads, so the ack never waits for a database writer.
The use case resolves the actor (CRM user, Slack profile) after the ack.
`provide` runs first: it puts the use cases' building blocks in the context (`context["services"]`).
Bolt passes context keys to listeners and middleware that name them (`actor`, `services`).

Listener middleware: `ack_at_once` acks on the request thread. handlers/routes.py claims each request once,
on the worker thread, before the listener's side effects.
"""
from __future__ import annotations

import json
import logging
from typing import Callable

from slack_bolt import Ack, BoltContext, BoltRequest, BoltResponse

from handlers import dedupe
from handlers.blocks.ids import AlertAction
from handlers.blocks.refusals import OTHER_ORGANISATION
from telemetry import metrics
from usecases import idempotency
from usecases.actors import admit
from usecases.values import Services

log = logging.getLogger(__name__)


def request_kind(body: dict) -> tuple[str, str]:
    """(kind, name) of a request, for metrics and logs."""
    if body.get("command"):
        return "command", str(body["command"])[:40]
    kind = body.get("type") or "unknown"
    if kind == "block_actions":
        name = str((body.get("actions") or [{}])[0].get("action_id", ""))[:60]
        # Older digests carried the Gmail id in the action id: one series for all of them, not one per click.
        return "action", AlertAction.OPEN_GMAIL if name.startswith(AlertAction.OPEN_GMAIL) else name
    if kind in ("view_submission", "view_closed"):
        return "view", str((body.get("view") or {}).get("callback_id", ""))[:60]
    if kind == "event_callback":
        return "event", str((body.get("event") or {}).get("type", ""))[:60]
    return str(kind)[:40], ""


def mark_verified(context: BoltContext, next: Callable[[], None]):
    context["verified"] = True
    return next()


def provide(services: Services) -> Callable:
    """The app's building blocks as the context key `services`: Bolt passes it to every listener that names it."""

    def put_services(context: BoltContext, next: Callable[[], None]):
        context["services"] = services
        return next()

    return put_services


def serve_allowed_workspaces(context: BoltContext, body: dict, services: Services, next: Callable[[], None]):
    """The one workspace check of a request: an admitted sender becomes `context["actor"]` (a SlackActorRef the
    use cases do not check again); any other request is answered here and goes no further."""
    team_id = context.team_id or (body.get("team") or {}).get("id") or body.get("team_id") or ""
    user_id = context.user_id or (body.get("user") or {}).get("id") or body.get("user_id") or ""
    actor = admit(services, team_id, user_id, context.enterprise_id)
    if actor is not None:
        context["actor"] = actor
        return next()
    kind, name = request_kind(body)
    log.warning("refused %s %s from workspace %s (not one this deployment serves)", kind, name, team_id)
    metrics.SLACK_REQUESTS.labels(kind="refused_workspace", name=kind).inc()
    if kind == "command":
        return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": OTHER_ORGANISATION}),
                            headers={"content-type": ["application/json"]})
    return BoltResponse(status=200, body="")


def drop_repeats(req: BoltRequest, body: dict, services: Services, next: Callable[[], None]):
    kind, name = request_kind(body)
    metrics.SLACK_REQUESTS.labels(kind=kind, name=name).inc()
    retry = (req.headers.get("x-slack-retry-num") or [None])[0]
    key = dedupe.request_key(body)
    # Socket Mode marks first deliveries as retry 0: only a real retry needs the look-up.
    if retry not in (None, "0") and key is not None:
        try:
            if idempotency.seen(services, key):
                log.info("dropping Slack's retry %s of %s %s", retry, kind, name)
                return BoltResponse(status=200, body="")
        except Exception:
            log.warning("could not look up %s %s; the listener decides", kind, name, exc_info=True)
    return next()


def ack_at_once(ack: Ack, next: Callable[[], None]):
    """Listener middleware: the HTTP answer leaves before the listener waits for a free worker thread.

    Bolt runs listeners on a bounded pool and answers Slack only once the
    listener calls ack(); under load the pool is busy with Gmail calls, so a
    listener-side ack could miss Slack's 3 seconds. Acking here, on the request
    thread, keeps the ack independent of that work.
    """
    ack()
    next()

"""Global middleware, first in the chain: the log lines of a Slack request — its middleware, its listener on the
listener pool, the use case below — name the request, the workspace and the Slack user (never content)."""
from __future__ import annotations

from typing import Callable

from slack_bolt import BoltContext, BoltRequest

from telemetry import log_context


def tag_request_logs(req: BoltRequest, context: BoltContext, body: dict, next: Callable[[], None]):
    current = log_context.current()
    # Over HTTP the web layer already gave the request an id (its own log lines use it); Socket Mode has none.
    request_id = current.get("request_id") if req.mode == "http" else None
    log_context.bind(
        request_id=request_id or log_context.new_id(),
        workspace=context.team_id or (body.get("team") or {}).get("id") or body.get("team_id"),
        slack_user=context.user_id or (body.get("user") or {}).get("id") or body.get("user_id"),
    )
    return next()

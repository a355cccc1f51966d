"""How a listener is registered: a row of a surface's table (`handlers/<surface>/__init__.py`).

Listeners are plain module-level functions. Bolt passes them what they name — its own arguments (`ack`, `body`,
`respond`, `client`, `view`, `event`…) and the context keys the middleware sets (`actor`, `services`) — so a
listener is testable in-process with `app.dispatch` as well as over HTTP.
"""
from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from slack_bolt import App

from handlers import dedupe
from handlers.errors import present_error
from handlers.middleware import ack_at_once, request_kind

log = logging.getLogger(__name__)


class Acking(Enum):
    AT_ONCE = "at_once"  # acked on the request thread before the listener waits for a worker (ack_at_once)
    BY_LISTENER = "by_listener"  # the listener acks itself: a view submission may answer with field errors
    LINK = "link"  # a link button or a Slack-acked event: nothing to claim (the browser or Bolt does the rest)


@dataclass(frozen=True)
class Route:
    """One listener: what it answers (a command name, an action/callback id or pattern, an event type)."""

    match: str | re.Pattern
    listener: Callable
    acking: Acking = Acking.AT_ONCE
    matchers: tuple[Callable, ...] = ()  # Bolt listener matchers: further conditions on the request

    def register(self, add: Callable) -> None:
        middleware = [ack_at_once] if self.acking is Acking.AT_ONCE else None
        listener = self.listener if self.acking is Acking.LINK else first_delivery_only(self.listener)
        add(self.match, matchers=list(self.matchers) or None, middleware=middleware)(listener)


# What first_delivery_only itself needs from Bolt, besides what its listener asks for.
_REPORTING = ("ack", "body", "client", "respond", "context", "services")


def first_delivery_only(listener: Callable) -> Callable:
    """Run a listener for the first delivery of its request only (retries, replays, double clicks), claimed on
    the worker thread before any side effect; a failure is reported here, never re-raised into Bolt: Bolt resets
    an ack already sent when a listener raises afterwards, and then answers 404 after 3 s."""
    own = list(inspect.signature(listener).parameters)

    def run(**given):
        ack, body = given["ack"], given["body"]
        try:
            first = dedupe.first_delivery(given["services"], body)
        except Exception:
            log.exception("could not record a Slack request; processing it anyway")
            first = True
        if not first:
            ack()  # a view submission still needs its answer; elsewhere a no-op
            log.info("dropping a repeated %s %s", *request_kind(body))
            return None
        try:
            return listener(**{name: given[name] for name in own})
        except Exception as error:  # noqa: BLE001 - told to the user here
            if ack.response is None:
                ack()
            present_error(error, body, given["respond"], given["client"], given["context"])
            return None

    # Bolt reads the argument names to inject from the signature: the listener's own, plus the reporting ones.
    names = own + [name for name in _REPORTING if name not in own]
    run.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names])
    run.__name__ = run.__qualname__ = listener.__name__
    run.__doc__ = listener.__doc__
    return run


def register_routes(app: App, commands, actions, views, events, shortcuts) -> None:
    for kind, routes in ((app.command, commands), (app.action, actions), (app.view, views), (app.event, events),
                         (app.message_shortcut, shortcuts)):
        for route in routes:
            route.register(kind)

"""Slack listeners, one module per surface; `register_listeners` wires them to the Bolt app from the surfaces'
tables (commands.COMMANDS, actions.ACTIONS, views.VIEWS, events.EVENTS, shortcuts.SHORTCUTS).

A listener parses the request, calls one use case (usecases/) with the actor the middleware put in its
context, and renders the result with handlers/blocks/. It opens no database session and decides no
permission: the use case does both.
"""
from __future__ import annotations

from slack_bolt import App


def register_listeners(app: App, services) -> None:
    from handlers.actions import ACTIONS
    from handlers.commands import COMMANDS
    from handlers.errors import register_error_handler
    from handlers.events import EVENTS
    from handlers.middleware import drop_repeats, mark_verified, provide, serve_allowed_workspaces
    from handlers.request_logs import tag_request_logs
    from handlers.routes import register_routes
    from handlers.shortcuts import SHORTCUTS
    from handlers.views import VIEWS

    register_error_handler(app)
    # After Bolt's own signature check, before every listener, in this order.
    app.use(tag_request_logs)
    app.use(mark_verified)
    app.use(provide(services))
    app.use(serve_allowed_workspaces)
    app.use(drop_repeats)
    register_routes(app, commands=COMMANDS, actions=ACTIONS, views=VIEWS, events=EVENTS, shortcuts=SHORTCUTS)

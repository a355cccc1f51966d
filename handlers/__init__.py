"""Slack listeners, one module per surface; `register_listeners` wires them to the Bolt app.

A listener parses the request, calls one use case (usecases/) with the actor the middleware put in its
context, and renders the result with handlers/blocks/. It opens no database session and decides no
permission: the use case does both.
"""
from __future__ import annotations

from slack_bolt import App


def register_listeners(app: App, services) -> None:
    from handlers import actions, commands, events, home, shortcuts, views
    from handlers.errors import register_error_handler
    from handlers.middleware import drop_repeats, identify_actor, mark_verified, serve_allowed_workspaces
    from handlers.request_logs import tag_request_logs

    register_error_handler(app)
    # After Bolt's own signature check, before every listener, in this order.
    app.use(tag_request_logs)
    app.use(mark_verified)
    app.use(serve_allowed_workspaces(services))
    app.use(drop_repeats(services))
    app.use(identify_actor(services))
    commands.register(app, services)
    actions.register(app, services)
    views.register(app, services)
    home.register(app, services)
    events.register(app, services)
    shortcuts.register(app, services)

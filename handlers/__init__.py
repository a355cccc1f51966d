"""Slack listeners, one module per surface; `register_listeners` wires them to the Bolt app."""
from __future__ import annotations

from slack_bolt import App


def register_listeners(app: App, services) -> None:
    from handlers import actions, commands, events, home, views
    from handlers.errors import register_error_handler
    from handlers.middleware import drop_repeats

    register_error_handler(app)
    app.use(drop_repeats(services))  # after Bolt's own signature check, before every listener
    commands.register(app, services)
    actions.register(app, services)
    views.register(app, services)
    home.register(app, services)
    events.register(app, services)

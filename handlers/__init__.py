"""Slack listeners, one module per surface; `register_listeners` wires them to the Bolt app."""
from __future__ import annotations

from slack_bolt import App


def register_listeners(app: App, services) -> None:
    from handlers.commands import gmail
    from handlers.errors import register_error_handler

    register_error_handler(app)
    gmail.register(app, services)

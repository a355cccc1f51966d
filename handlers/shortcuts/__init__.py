"""Shortcuts: the message shortcut "Show contact emails" (app.yaml `features.shortcuts`)."""
from __future__ import annotations

from slack_bolt import App


def register(app: App, services) -> None:
    from handlers.shortcuts import message

    message.register(app, services)

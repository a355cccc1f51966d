"""Block actions: buttons and selects in messages and in the App Home."""
from __future__ import annotations

from slack_bolt import App


def register(app: App, services) -> None:
    from handlers.actions import alerts, audit, connection, contact, followups, home, setup

    connection.register(app, services)
    setup.register(app, services)
    home.register(app, services)
    alerts.register(app, services)
    contact.register(app, services)
    audit.register(app, services)
    followups.register(app, services)

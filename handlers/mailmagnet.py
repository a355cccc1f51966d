"""MailMagnet's own Slack surfaces: `/gmail why` and the buttons and modal of an alert."""
from __future__ import annotations

from slack_bolt import App


def register(app: App, services) -> None:
    from handlers.actions import alerts
    from handlers.commands import gmail
    from handlers.commands.why import why

    gmail.SUBCOMMANDS["why"] = why
    alerts.register(app, services)

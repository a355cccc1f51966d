"""View submissions (modals)."""
from __future__ import annotations

from slack_bolt import App


def register(app: App, services) -> None:
    from handlers.views import setup

    setup.register(app, services)

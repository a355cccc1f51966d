"""View submissions (modals)."""
from __future__ import annotations

from slack_bolt import App


def register(app: App, services) -> None:
    from handlers.views import compose, setup

    setup.register(app, services)
    compose.register(app, services)

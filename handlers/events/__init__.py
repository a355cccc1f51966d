"""Events API listeners (the App Home's app_home_opened lives in handlers/home)."""
from __future__ import annotations

from slack_bolt import App


def register(app: App, services) -> None:
    from handlers.events import lifecycle, messages

    lifecycle.register(app, services)
    messages.register(app, services)

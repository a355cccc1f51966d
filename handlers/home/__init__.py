"""The App Home tab."""
from __future__ import annotations

from slack_bolt import App


def register(app: App, services) -> None:
    from handlers.home import tab

    tab.register(app, services)

"""Slash commands: SLASH_COMMANDS is the one table of commands the app registers (app.yaml lists the same)."""
from __future__ import annotations

from typing import Callable

from slack_bolt import App


def _gmail(app: App, services) -> None:
    from handlers.commands import gmail

    gmail.register(app, services)


def _contact(app: App, services) -> None:
    from handlers.commands import contact

    contact.register(app, services)


def _email(app: App, services) -> None:
    from handlers.commands import email

    email.register(app, services)


SLASH_COMMANDS: dict[str, Callable[[App, object], None]] = {
    "/gmail": _gmail,
    "/contact": _contact,
    "/email": _email,
}


def register(app: App, services) -> None:
    for register_command in SLASH_COMMANDS.values():
        register_command(app, services)

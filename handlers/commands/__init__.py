"""Slash commands: COMMANDS is the one table of commands the app registers (app.yaml lists the same)."""
from __future__ import annotations

from handlers.commands import contact, email, gmail
from handlers.routes import Route

COMMANDS: tuple[Route, ...] = (
    Route(gmail.COMMAND, gmail.gmail_command),
    Route(contact.COMMAND, contact.contact_command),
    Route(email.COMMAND, email.email_command),
)
SLASH_COMMANDS = frozenset(route.match for route in COMMANDS)

"""Shortcuts: the message shortcut "Show contact emails" (app.yaml `features.shortcuts`). SHORTCUTS is their table."""
from __future__ import annotations

from handlers.blocks.ids import CallbackId
from handlers.routes import Route
from handlers.shortcuts import message

SHORTCUTS: tuple[Route, ...] = (
    Route(CallbackId.SHOW_CONTACT_SHORTCUT.value, message.show_contact_emails),
)

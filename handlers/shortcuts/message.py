"""The message shortcut "Show contact emails": on any Slack message that mentions an email address, the CRM
contact behind it and the emails exchanged with them (as `/contact` shows them), to the clicker only."""
from __future__ import annotations

from slack_bolt import App, BoltContext, Respond

from handlers.blocks.ids import CallbackId
from handlers.commands.contact import answer_in_place, render
from handlers.middleware import ack_at_once, once
from handlers.parsing import addresses_in
from usecases import contacts as contact_use_cases
from usecases.values import Services


def message_text(message: dict) -> str:
    """The message's text and every text in its blocks (rich text included)."""
    parts = [message.get("text") or ""]

    def walk(node):
        if isinstance(node, dict):
            for key in ("text", "url"):
                if isinstance(node.get(key), str):
                    parts.append(node[key])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    walk(message.get("attachments") or [])
    return "\n".join(parts)[:40_000]


def register(app: App, services: Services) -> None:
    @app.message_shortcut(CallbackId.SHOW_CONTACT_SHORTCUT.value, middleware=[ack_at_once])
    @once(services)
    def show_contact_emails(body: dict, respond: Respond, context: BoltContext):
        addresses = addresses_in(message_text(body.get("message") or {}))
        label = addresses[0] if len(addresses) == 1 else "the addresses in that message"
        answer_in_place(respond, label, lambda: render(
            contact_use_cases.for_addresses(services, context["actor"], addresses), "shortcut"))

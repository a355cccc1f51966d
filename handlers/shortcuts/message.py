"""The message shortcut "Show contact emails": on any Slack message that mentions an email address, the CRM
contact behind it and the emails exchanged with them (as `/contact` shows them), to the clicker only."""
from __future__ import annotations

from slack_bolt import Respond

from handlers.commands.contact import answer_in_place, render
from handlers.parsing import SCAN_LIMIT, addresses_in
from usecases import contacts as contact_use_cases
from usecases.values import AuditSurface, Services, SlackActorRef


def message_text(message: dict) -> str:
    """The message's text and every text in its blocks and attachments (rich text included), at most
    SCAN_LIMIT characters: the walk stops there, and holds its own stack (no recursion on deep blocks)."""
    parts: list[str] = []
    size = 0
    stack: list = [message.get("attachments") or [], message.get("blocks") or []]
    text = message.get("text")
    if isinstance(text, str):
        parts.append(text)
        size += len(text) + 1
    while stack and size < SCAN_LIMIT:
        node = stack.pop()
        if isinstance(node, dict):
            for key in ("text", "url"):
                if isinstance(node.get(key), str):
                    parts.append(node[key])
                    size += len(node[key]) + 1
            stack.extend(reversed([v for v in node.values() if isinstance(v, (dict, list))]))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return "\n".join(parts)[:SCAN_LIMIT]


def show_contact_emails(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    message = body.get("message") or {}
    # The use case reads the message only once the clicker is known to be a CRM user (a guest costs nothing).
    answer_in_place(respond, "the addresses in that message", lambda: render(
        contact_use_cases.for_addresses(services, actor, lambda: addresses_in(message_text(message))),
        AuditSurface.SHORTCUT))

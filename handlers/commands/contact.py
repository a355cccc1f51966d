"""`/contact <email or name>` (SPEC F5): acked at once, "looking…" through the response_url, then the answer
replaces it — the card and the emails, a choice when several contacts match, or the closest names."""
from __future__ import annotations

from typing import Callable

from slack_bolt import Respond

from handlers.blocks.contact import (
    choices_blocks,
    contact_view_blocks,
    looking,
    no_contact_blocks,
    notice,
    usage,
)
from handlers.errors import user_message
from handlers.parsing import contact_query
from usecases import contacts as contact_use_cases
from usecases.contacts import ContactChoices, ContactView, LookUp, NoContact
from usecases.values import AuditSurface, Services, SlackActorRef

COMMAND = "/contact"


def render(result: LookUp, surface: AuditSurface) -> tuple[str, list[dict]]:
    if isinstance(result, ContactView):
        return contact_view_blocks(result)
    if isinstance(result, ContactChoices):
        return choices_blocks(result, surface)
    assert isinstance(result, NoContact)
    return no_contact_blocks(result)


def answer_in_place(respond: Respond, query: str, work: Callable[[], tuple[str, list[dict]]]) -> None:
    """"Looking…" at once, then the answer (or the refusal) replaces it."""
    text, blocks = looking(query)
    respond(text=text, blocks=blocks, response_type="ephemeral")
    try:
        text, blocks = work()
    except Exception as error:  # noqa: BLE001 - a refusal or a failure replaces "looking…" too
        text, blocks = notice(user_message(error))
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)


def contact_command(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    query = contact_query(body.get("text") or "")
    if not query:
        text, blocks = usage()
        respond(text=text, blocks=blocks, response_type="ephemeral")
        return
    answer_in_place(respond, query, lambda: render(contact_use_cases.look_up(services, actor, query),
                                                   AuditSurface.CONTACT_VIEW))

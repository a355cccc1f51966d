"""Buttons of a contact view: pick a contact, Show more, Open an email (a modal), Reply from it, Open in Gmail.

Every value is checked by the use case against what the clicker may see or do: a contact id, a view id that
must be the clicker's own, a (mailbox, message, contact) the clicker's sharing rights must cover.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.blocks.compose import compose_view, loading_view, notice_view
from handlers.blocks.contact import detail_notice, email_detail_view, loading_detail, more_emails_blocks, notice
from handlers.commands.contact import render
from handlers.errors import user_message
from usecases import compose
from usecases import contacts as contact_use_cases
from usecases import contact_emails, email_detail
from usecases.contact_emails import EmailRef
from usecases.values import AuditSurface, InvalidInput, Refusal, Services, SlackActorRef

log = logging.getLogger(__name__)

# The surfaces a contact pick may come from (the "s" of the button's value, written by `choices_blocks`).
SURFACES = {surface.value: surface for surface in (AuditSurface.CONTACT_VIEW, AuditSurface.SHORTCUT)}


def _value(body: dict) -> str:
    return str((body.get("actions") or [{}])[0].get("value") or "")[:2000]


def _json_value(body: dict) -> Any:
    try:
        return json.loads(_value(body))
    except ValueError:
        return None


def modal_then(client: WebClient, body: dict, loading: dict, build: Callable[[], dict], failed: Callable[[str], dict],
               *, push: bool = False) -> None:
    """Open (or push, from inside a modal) a loading view at once — the trigger id lasts 3 seconds — then fill it
    in with what the use case answered, or its refusal."""
    opener = client.views_push if push else client.views_open
    try:
        opened = opener(trigger_id=body["trigger_id"], view=loading)["view"]
    except SlackApiError as error:
        log.info("could not open a modal: %s", error.response.get("error"))
        return
    try:
        view = build()
    except Exception as error:  # noqa: BLE001 - told to the user in the modal itself
        view = failed(user_message(error))
    try:
        client.views_update(view_id=opened["id"], hash=opened.get("hash"), view=view)
    except SlackApiError as error:
        log.info("could not fill in a modal (closed meanwhile?): %s", error.response.get("error"))


def pick_contact(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    value = _json_value(body)
    if not isinstance(value, dict) or value.get("s") not in SURFACES:
        raise InvalidInput(Refusal.STALE_BUTTON)
    surface = SURFACES[value["s"]]
    # The chosen contact replaces the list it was picked from.
    try:
        text, blocks = render(contact_use_cases.show_contact(services, actor, value.get("c"), surface),
                              surface)
    except Exception as error:  # noqa: BLE001 - a refusal or a failure replaces the list too
        text, blocks = notice(user_message(error))
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)


def show_more(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    page = contact_emails.more_emails(services, actor, _value(body))
    text, blocks = more_emails_blocks(page)
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def open_email(body: dict, client: WebClient, actor: SlackActorRef, services: Services):
    value = _json_value(body)
    modal_then(client, body, loading_detail(),
               lambda: email_detail_view(email_detail.open_email(services, actor, value)),
               detail_notice)


def reply_to_email(body: dict, client: WebClient, actor: SlackActorRef, services: Services):
    value = _json_value(body)

    def draft() -> dict:
        ref = EmailRef.of(value)
        return compose_view(compose.start_reply(services, actor, ref.account_id, ref.gmail_id,
                                                ref.contact_id))

    in_modal = (body.get("container") or {}).get("type") == "view"
    modal_then(client, body, loading_view(), draft, notice_view, push=in_modal)


def open_in_gmail(ack: Ack):
    ack()  # a link button: Slack opens the URL; the click still has to be acknowledged

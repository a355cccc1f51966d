"""The buttons of a MailMagnet alert: View contact, Reply, Open in Gmail, Mute contact."""
from __future__ import annotations

import json
import logging

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.services import Services, mailbox_client
from crm_store.categories import deals_of, decide_category
from crm_store.errors import AdminOnly, InvalidInput
from crm_store.mailboxes import mute_contact
from crm_store.models import Contact, CrmUser, GmailAccount
from gmail.send import original_of, reply_subject, send_email
from handlers.blocks.alert_reply import REPLY_CALLBACK, loading_view, reply_view, submitted_reply
from handlers.blocks.alerts import AlertAction
from handlers.blocks.contact import ContactCard, DealLine, contact_card_blocks
from handlers.context import SlackRequest
from handlers.middleware import once
from crm_store.models import utcnow

log = logging.getLogger(__name__)


def _reference(body: dict) -> dict:
    try:
        return json.loads(body["actions"][0]["value"])
    except (KeyError, IndexError, ValueError, TypeError):
        raise InvalidInput("That button is from an older MailMagnet message; it no longer works.") from None


def _contact(session, reference: dict) -> Contact:
    contact = session.get(Contact, reference.get("c"))
    if contact is None:
        raise InvalidInput("That contact is no longer in the CRM.")
    return contact


def _owned_account(session, request: SlackRequest, account_id: int) -> GmailAccount:
    account = session.get(GmailAccount, account_id)
    if account is None:
        raise InvalidInput("That mailbox is no longer connected to MailMagnet.")
    if (account.slack_team_id, account.slack_user_id) != (request.team_id, request.user_id):
        raise AdminOnly(f"Only <@{account.slack_user_id}> can do that for {account.email_address}.")
    return account


def contact_card(session, services: Services, contact: Contact, tz: str) -> ContactCard:
    deals = deals_of(session, contact.id)
    decision = decide_category(deals, at=utcnow(), tz=tz, rules=services.rules)
    owner = session.get(CrmUser, contact.owner_id) if contact.owner_id else None
    return ContactCard(
        name=contact.display_name, email=contact.email, secondary_email=contact.secondary_email,
        company=contact.company, phone=contact.phone, owner=(owner.name or owner.email) if owner else None,
        category_label=services.labels.name_for(decision.category),
        deals=[DealLine(d.name, d.stage, d.closing_date.isoformat() if d.closing_date else None,
                        str(d.amount) if d.amount is not None else None, services.rules.kind(d.stage).value)
               for d in deals],
    )


def register(app: App, services: Services) -> None:
    @app.action(AlertAction.VIEW_CONTACT)
    @once(services)
    def view_contact(ack: Ack, body: dict, respond: Respond, client: WebClient):
        ack()
        reference = _reference(body)
        request = SlackRequest.of(services, body, client)
        with request.scope() as (session, actor):
            contact = _contact(session, reference)
            tz = actor.user.timezone if actor.user and actor.user.timezone else services.settings.default_timezone
            text, blocks = contact_card_blocks(contact_card(session, services, contact, tz))
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    @app.action(AlertAction.MUTE)
    @once(services)
    def mute(ack: Ack, body: dict, respond: Respond, client: WebClient):
        ack()
        reference = _reference(body)
        request = SlackRequest.of(services, body, client)
        with request.scope() as (session, _actor):
            account = _owned_account(session, request, reference["a"])
            contact = _contact(session, reference)
            mute_contact(session, account, contact.id)
            name, email = contact.display_name, contact.email
        respond(text=f"Muted {name}: no more MailMagnet alerts for their emails. "
                     f"`/gmail unmute {email}` undoes it.", response_type="ephemeral", replace_original=False)

    @app.action(AlertAction.OPEN_GMAIL)
    def open_gmail(ack: Ack):
        ack()  # a link button: Slack opens the URL; the click still has to be acknowledged

    @app.action(AlertAction.REPLY)
    def reply(ack: Ack, body: dict, client: WebClient):
        ack()
        reference = _reference(body)
        request = SlackRequest.of(services, body, client)
        with request.scope() as (session, _actor):
            account = _owned_account(session, request, reference["a"])
            contact = session.get(Contact, reference["c"])
            session.expunge(account)
            to = contact.email if contact else ""
        metadata = {"a": account.id, "g": reference["g"], "to": to}
        # The trigger id lasts 3 seconds: open at once, fill in once Gmail answered.
        opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view(metadata))
        original = original_of(mailbox_client(services, account), reference["g"])
        client.views_update(view_id=opened["view"]["id"], hash=opened["view"]["hash"],
                            view=reply_view(metadata, to=to, mailbox=account.email_address,
                                            subject=reply_subject(original.subject)))

    @app.view(REPLY_CALLBACK)
    @once(services)  # a retried or repeated submission must not send the email twice
    def send_reply(ack: Ack, body: dict, view: dict, client: WebClient):
        subject, text = submitted_reply(view)
        if not text.strip():
            ack(response_action="errors", errors={"reply_body": "Write a message first."})
            return
        ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        request = SlackRequest.of(services, body, client)
        with request.scope() as (session, _actor):
            account = _owned_account(session, request, metadata["a"])
            session.expunge(account)
        mailbox = mailbox_client(services, account)
        original = original_of(mailbox, metadata["g"])
        send_email(mailbox, sender=account.email_address, to=metadata["to"], subject=subject, body=text,
                   original=original)
        client.chat_postMessage(channel=request.user_id, text=f"Sent your reply to {metadata['to']}: “{subject}”.")

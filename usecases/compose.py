"""Sending mail through the rep's own Gmail (SPEC F6): `/email <contact>`, and Reply from an alert or from an
email's detail. One compose modal for all three.

- Only the mailbox owner sends from a mailbox (`access.require_mailbox_owner`), and only while it is
  connected with a grant that includes `gmail.send` (checked on the stored grant before anything is sent:
  a grant without it gets "reconnect to allow sending", and is never marked revoked).
- A new email goes to one of the contact's addresses, picked in the modal. A reply goes to the original
  message's Reply-To, else its From (never the contact's primary address), read from Gmail again at send
  time, threaded with In-Reply-To, References and threadId.
- A reply starts only from a message that is with the contact the button names, by that message's own
  headers (`gmail.conversations.is_with_contact`, the rule every contact view applies); the modal it opens
  comes back from Slack as the bot wrote it.
- Gmail's refusals become sentences: its sending limit, a grant without sending, revoked access, and a
  failure after which the email may or may not have gone (a send is never retried blindly).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from crm_store.contact_search import addresses_of, closest_contacts, contacts_by_ids, search_contacts
from crm_store.db import session_scope
from crm_store.errors import DomainError, InvalidInput, NotAllowed, NotConnected, NotFoundError
from crm_store.models import AccountStatus, Contact, GmailAccount
from gmail.accounts import granted_scopes, save_refreshed_credentials
from gmail.config import GMAIL_SEND_SCOPE
from gmail.conversations import contact_addresses
from gmail.errors import AccessRevoked, GmailError, GmailTemporaryError, SendingLimitExceeded, SendingNotPermitted
from gmail.links import gmail_url
from gmail.messages import is_gmail_id
from gmail.send import (
    UnusableAddress,
    mail_address,
    original_of,
    recipient_header,
    reply_subject,
    send_email as send_through_gmail,
)
from usecases import access, fanout
from usecases.actors import Actor, SlackActorRef, acting, resolve
from usecases.contacts import MATCH_LIMIT, ContactMatch, NoContact
from usecases.email_detail import gmail_failure
from usecases.context import Services
from usecases.refusals import Refusal

log = logging.getLogger(__name__)

SUBJECT_LIMIT = 250
BODY_LIMIT = 20_000
# A stranger writes the Reply-To: a reply from MailMagnet goes to at most this many addresses (a real list of
# colleagues in copy, not a crowd the rep would be made to mail); more is for Gmail, where the rep sees them all.
REPLY_RECIPIENT_LIMIT = 50


class SendingRefused(DomainError):
    """Gmail did not send (its limits, the grant) or MailMagnet may not send from this mailbox."""


class FieldErrors(InvalidInput):
    """Input the modal shows next to its fields: {"to" | "subject" | "body": why}."""

    def __init__(self, errors: dict[str, Refusal]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Recipient:
    address: str
    contact_id: int
    label: str  # "Jane Doe <jane@acme.example>"


@dataclass
class Draft:
    account_id: int
    mailbox: str
    subject: str = ""
    recipients: list[Recipient] = field(default_factory=list)  # a new email: the addresses to pick from
    reply_to_gmail_id: str | None = None  # a reply: the message answered
    reply_recipient: str | None = None  # a reply: its To, as Gmail says now
    reply_labels: list[str] = field(default_factory=list)  # a reply: each recipient, "Name <address>"
    more_contacts: bool = False  # more contacts matched than are offered

    @property
    def is_reply(self) -> bool:
        return self.reply_to_gmail_id is not None

    @property
    def contact_ids(self) -> list[int]:
        return list(dict.fromkeys(r.contact_id for r in self.recipients))


@dataclass(frozen=True)
class Outgoing:
    """A submitted compose modal; every identifier is checked again."""

    account_id: Any
    subject: str
    body: str
    reply_to_gmail_id: Any = None
    contact_ids: Any = None
    to: str | None = None


@dataclass(frozen=True)
class SentEmail:
    to: str
    subject: str
    gmail_url: str
    reply: bool


def _reconnect_to_send(address: str) -> SendingRefused:
    return SendingRefused(Refusal.SENDING_NOT_GRANTED, address=address)


def _sending_mailbox(services: Services, session: Session, actor: Actor, account_id: Any) -> GmailAccount:
    """The actor's own mailbox, connected, with a grant that covers sending."""
    account = access.require_mailbox_owner(session, actor, account_id)
    if account.status != AccountStatus.CONNECTED:
        raise NotConnected(Refusal.MAILBOX_REVOKED_FOR_SENDING, address=account.email_address)
    _, cipher, _, _ = services.require_gmail()
    if GMAIL_SEND_SCOPE not in granted_scopes(cipher, account):
        raise _reconnect_to_send(account.email_address)
    return account


def _own_account_id(session: Session, actor: Actor) -> int:
    return access.require_own_connected_mailbox(session, actor).id


# -- opening the modal --------------------------------------------------------------------------------

def start_email(services: Services, who: SlackActorRef, query: str) -> Draft | NoContact:
    """`/email <contact>`: a new email from the rep's own Gmail to one of the matching contacts' addresses."""
    query = " ".join(query.split())[:200]
    if not query:
        raise InvalidInput(Refusal.WHOM_TO_WRITE_TO)
    services.require_gmail()
    with acting(services, who) as (session, actor):
        access.require_crm_user(session, actor)
        account = _sending_mailbox(services, session, actor, _own_account_id(session, actor))
        found = search_contacts(session, query, limit=MATCH_LIMIT + 1)
        if not found:
            return NoContact(query, [ContactMatch(c.id, c.display_name, c.email, c.company)
                                     for c in closest_contacts(session, query)])
        recipients = [Recipient(address, contact.id, label)
                      for contact in found[:MATCH_LIMIT] for address in addresses_of(contact)
                      if (label := _usable(contact.display_name, address)) is not None]
        return Draft(account.id, account.email_address, recipients=recipients, more_contacts=len(found) > MATCH_LIMIT)


@fanout.one_email_at_a_time
def start_reply(services: Services, who: SlackActorRef, account_id: Any, gmail_id: Any, contact_id: Any) -> Draft:
    """Reply to a message of the actor's own mailbox that is with the contact: to its Reply-To, else its From;
    subject "Re: …"."""
    if not is_gmail_id(gmail_id):
        raise InvalidInput(Refusal.STALE_BUTTON)
    if not isinstance(contact_id, int):
        raise InvalidInput(Refusal.STALE_BUTTON)
    with acting(services, who) as (session, actor):
        account = _sending_mailbox(services, session, actor, account_id)
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFoundError(Refusal.CONTACT_GONE)
        addresses = contact_addresses(session, contact)
        session.expunge(account)
    mailbox = services.mailbox_client(account)
    try:
        with fanout.gmail_deadline(services, services.config.mailbox_view_timeout_seconds):
            original = original_of(mailbox, gmail_id)
    except GmailError as error:
        raise gmail_failure(error) from None
    if not original.is_with(addresses):
        raise NotAllowed(Refusal.NOT_WITH_CONTACT)
    recipients = _reply_recipients(original)
    return Draft(account.id, account.email_address, subject=reply_subject(original.subject),
                 reply_to_gmail_id=gmail_id, reply_recipient=recipient_header(recipients),
                 reply_labels=[mail_address(name, address) for name, address in recipients])


def _usable(name: str, address: str) -> str | None:
    """`Name <address>` for the modal's list, or None for an address no header can carry."""
    try:
        return mail_address(name, address)
    except UnusableAddress:
        log.warning("a contact's address cannot be written into a To header; not offered")
        return None


def _reply_recipients(original) -> list[tuple[str, str]]:
    recipients = original.reply_recipients
    if not recipients:
        raise InvalidInput(Refusal.NO_REPLY_ADDRESS)
    for name, address in recipients:
        try:
            mail_address(name, address)
        except UnusableAddress:
            raise InvalidInput(Refusal.UNWRITABLE_REPLY_ADDRESS, address=address) from None
    if len(recipients) > REPLY_RECIPIENT_LIMIT:
        raise InvalidInput(Refusal.TOO_MANY_REPLY_ADDRESSES, count=len(recipients), limit=REPLY_RECIPIENT_LIMIT)
    return recipients


# -- sending ------------------------------------------------------------------------------------------

def _check_fields(outgoing: Outgoing) -> tuple[str, str]:
    errors: dict[str, Refusal] = {}
    subject = (outgoing.subject or "").strip()
    body = outgoing.body or ""
    if not subject and outgoing.reply_to_gmail_id is None:
        errors["subject"] = Refusal.NO_SUBJECT
    elif len(subject) > SUBJECT_LIMIT:
        errors["subject"] = Refusal.SUBJECT_TOO_LONG
    elif any(c in subject for c in "\r\n\x00"):
        errors["subject"] = Refusal.SUBJECT_NOT_ONE_LINE
    if not body.strip():
        errors["body"] = Refusal.NO_MESSAGE
    elif len(body) > BODY_LIMIT:
        errors["body"] = Refusal.MESSAGE_TOO_LONG
    if outgoing.reply_to_gmail_id is None and not outgoing.to:
        errors["to"] = Refusal.NO_RECIPIENT
    if errors:
        raise FieldErrors(errors)
    return subject, body


def _recipient(session: Session, outgoing: Outgoing) -> str:
    """A new email's To: one of the addresses of the contacts the modal offered."""
    ids = outgoing.contact_ids if isinstance(outgoing.contact_ids, list) else []
    contacts = contacts_by_ids(session, [i for i in ids[:MATCH_LIMIT] if isinstance(i, int)])
    wanted = (outgoing.to or "").strip().lower()
    for contact in contacts.values():
        if wanted in addresses_of(contact):
            try:
                return mail_address(contact.display_name, wanted)
            except UnusableAddress:
                raise FieldErrors({"to": Refusal.UNWRITABLE_RECIPIENT}) from None
    raise FieldErrors({"to": Refusal.RECIPIENT_NOT_OFFERED})


def _prepare(services: Services, actor: Actor, outgoing: Outgoing) -> tuple[GmailAccount, str | None, str, str]:
    subject, body = _check_fields(outgoing)
    if outgoing.reply_to_gmail_id is not None and not is_gmail_id(outgoing.reply_to_gmail_id):
        raise InvalidInput(Refusal.STALE_BUTTON)
    with session_scope(services.engine) as session:
        account = _sending_mailbox(services, session, actor, outgoing.account_id)
        to = _recipient(session, outgoing) if outgoing.reply_to_gmail_id is None else None
        session.expunge(account)
    return account, to, subject, body


def check_email(services: Services, who: SlackActorRef, outgoing: Outgoing) -> None:
    """Before the modal closes: the fields, and whether the actor may send from that mailbox (no Gmail call)."""
    _prepare(services, resolve(services, who), outgoing)


def send_email(services: Services, who: SlackActorRef, outgoing: Outgoing) -> SentEmail:
    actor = resolve(services, who)
    account, to, subject, body = _prepare(services, actor, outgoing)
    _, cipher, _, _ = services.require_gmail()
    mailbox = services.mailbox_client(account)
    token_before = mailbox.credentials.token
    original = None
    try:
        if outgoing.reply_to_gmail_id is not None:
            try:
                original = original_of(mailbox, outgoing.reply_to_gmail_id)
            except GmailError as error:  # nothing was sent yet
                raise gmail_failure(error) from None
            to = recipient_header(_reply_recipients(original))
        sent = send_through_gmail(mailbox, sender=account.email_address, to=to, subject=subject, body=body,
                                  original=original)
    except UnusableAddress as error:  # nothing was sent
        raise SendingRefused(Refusal.UNWRITABLE_ADDRESS_NOT_SENT, address=error.address) from None
    except SendingLimitExceeded:
        raise SendingRefused(Refusal.SENDING_LIMIT_REACHED, address=account.email_address) from None
    except SendingNotPermitted:
        raise _reconnect_to_send(account.email_address) from None
    except AccessRevoked:
        raise SendingRefused(Refusal.ACCESS_REFUSED_NOTHING_SENT, address=account.email_address) from None
    except GmailTemporaryError:
        raise SendingRefused(Refusal.SENDING_UNCONFIRMED) from None
    except GmailError:
        raise SendingRefused(Refusal.SENDING_REFUSED) from None
    finally:
        save_refreshed_credentials(services.engine, cipher, account.id, mailbox.credentials, token_before)
    log.info("mailbox %s sent an email%s", account.id, " (a reply)" if original is not None else "")
    target = sent.get("threadId") or sent.get("id") or ""
    return SentEmail(to, subject, gmail_url(account.email_address, None, target), original is not None)

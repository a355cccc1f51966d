""""Open" on one email of a contact (SPEC F5, §5): the owner gets headers, snippet and the plain-text body (live,
never kept); others their depth and never the body, audited. The button's ids are checked: the viewer may see
that mailbox's emails with that contact, and the message really is one with that contact (for the owner too)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from crm_store.errors import DomainError, NotAllowed, NotFoundError
from crm_store.models import AuditSurface, Contact, GmailAccount
from crm_store.sharing import Visibility
from gmail.conversations import contact_addresses, copy_from_metadata
from gmail.errors import AccessRevoked, GmailError, InvalidRequest, NotFound
from gmail.links import gmail_url
from gmail.messages import body_text, header_map
from usecases import access, fanout, visibility
from usecases.actors import Actor, SlackActorRef, acting
from usecases.audit import record_views
from usecases.contact_emails import EmailRef, MailboxTag
from usecases.context import Services
from usecases.refusals import Refusal

BODY_LIMIT = 12_000


@dataclass
class EmailDetail:
    ref: EmailRef
    mailbox: MailboxTag
    level: Visibility
    contact_name: str
    received_at: datetime
    from_header: str
    to_header: str
    cc_header: str
    subject: str | None = None
    snippet: str | None = None
    body: str | None = None  # the mailbox owner only
    body_truncated: bool = False
    gmail_url: str | None = None  # the mailbox owner only

    @property
    def can_reply(self) -> bool:
        return self.level == Visibility.OWNER


def gmail_failure(error: GmailError) -> DomainError:
    """A failed look-up of one message by id. Gmail answers 400 "Invalid id value" for an id it could never have
    minted (an edited button): to the clicker that is the same as a message not in the mailbox."""
    if isinstance(error, (NotFound, InvalidRequest)):
        return NotFoundError(Refusal.EMAIL_GONE)
    if isinstance(error, AccessRevoked):
        return DomainError(Refusal.MAILBOX_NEEDS_RECONNECT)
    return DomainError(Refusal.GMAIL_DID_NOT_ANSWER)


@fanout.one_email_at_a_time
def open_email(services: Services, who: SlackActorRef, value: Any) -> EmailDetail:
    """"Open": the email at the viewer's depth; the owner also gets the plain-text body (live, never kept)."""
    ref = EmailRef.of(value)
    with acting(services, who) as (session, actor):
        access.require_crm_user(session, actor)
        account, level = visibility.email_visibility(session, actor, ref.account_id, ref.contact_id)
        contact = session.get(Contact, ref.contact_id)
        if contact is None:
            raise NotFoundError(Refusal.CONTACT_GONE)
        addresses, name = contact_addresses(session, contact), contact.display_name
        session.expunge(account)
        session.commit()  # nothing held in the database while Gmail answers
        return _open_email(session, services, actor, ref, account, level, addresses, name)


def _open_email(session: Session, services: Services, actor: Actor, ref: EmailRef, account: GmailAccount,
                level: Visibility, addresses: frozenset[str], name: str) -> EmailDetail:
    client = services.mailbox_client(account)
    try:
        # On the Slack listener thread: one Open per person at a time (above), and no longer than a view's wait.
        with fanout.gmail_deadline(services, services.config.mailbox_view_timeout_seconds):
            if level == Visibility.OWNER:
                message = client.get_message(ref.gmail_id, format="full")
            else:
                headers = ("From", "To", "Cc", "Date", "Message-ID") + (("Subject",) if level.shows_subject else ())
                message = client.get_message(ref.gmail_id, format="metadata", headers=headers)
    except GmailError as error:
        raise gmail_failure(error) from None
    copy = copy_from_metadata(message, with_subject=level.shows_subject)
    if not copy.is_with(addresses):
        # A forged or stale value, or a contact whose address has since become the organisation's: this view
        # opens (and audits) only a message that is with this contact.
        raise NotAllowed(Refusal.NOT_WITH_CONTACT)
    tag = MailboxTag(account.id, account.email_address, account.slack_user_id, level == Visibility.OWNER)
    detail = EmailDetail(ref, tag, level, name, copy.received_at, copy.from_header, copy.to_header, copy.cc_header,
                         subject=copy.subject if level.shows_subject else None,
                         snippet=copy.snippet if level.shows_snippet else None)
    if level == Visibility.OWNER:
        body = body_text(message.get("payload") or {}, BODY_LIMIT)
        detail.body, detail.body_truncated = body.text, body.truncated
        detail.subject = header_map(message.get("payload") or {}).get("subject", "")
        detail.gmail_url = gmail_url(account.email_address, None, copy.thread_id or copy.gmail_id)
    else:
        record_views(session, account, contact_id=ref.contact_id, views=[(actor.crm_user_id, ref.gmail_id, level)],
                     surface=AuditSurface.EMAIL_DETAIL)
    return detail

"""The emails exchanged with a contact (SPEC F5, F7, §5), fetched live from Gmail and never stored: a page of
the contact's view across every mailbox the viewer may see (and "Show more"), and the App Home's newest emails
from CRM contacts in the rep's own mailbox. See `usecases/contacts.py` for the rules."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session, or_, select

from crm_store.contact_view_pages import MailboxCursor, SavedView, load_view, new_view_id, save_view
from crm_store.errors import DomainError, InvalidInput, NotAllowed, NotFoundError
from crm_store.models import AccountStatus, AuditSurface, Contact, GmailAccount, MailboxMessage
from crm_store.sharing import Visibility
from gmail.accounts import save_refreshed_credentials
from gmail.conversations import Cursor, EmailCopy, Listed, addresses_by_contact, contact_addresses, contact_query, \
    fetch_copies, list_candidates
from gmail.errors import GmailError
from gmail.links import gmail_url
from gmail.messages import is_gmail_id
from gmail.tokens import TokenKeyError
from usecases import access, fanout, visibility
from usecases.actors import Actor, SlackActorRef, acting
from usecases.audit import record_views
from usecases.context import Services
from usecases.refusals import Refusal

log = logging.getLogger(__name__)

PAGE_SIZE = 10
HOME_EMAILS = 5


class EmailsNote(StrEnum):
    """Why a list of emails is empty though nothing failed."""

    GMAIL_NOT_SET_UP = "gmail_not_set_up"  # this server has no Google settings
    MAGNET_OFF = "magnet_off"  # the App Home's list follows MailMagnet


@dataclass(frozen=True)
class MailboxTag:
    account_id: int
    address: str
    owner_slack_id: str
    own: bool


@dataclass(frozen=True)
class EmailRef:
    """What an "Open"/"Reply" button's value names; checked on every click, never trusted as such."""

    account_id: Any
    gmail_id: Any
    contact_id: Any

    @classmethod
    def of(cls, value: Any) -> "EmailRef":
        if not isinstance(value, dict):
            raise InvalidInput(Refusal.STALE_BUTTON)
        ref = cls(value.get("a"), value.get("g"), value.get("c"))
        if not (isinstance(ref.account_id, int) and is_gmail_id(ref.gmail_id) and isinstance(ref.contact_id, int)):
            raise InvalidInput(Refusal.STALE_BUTTON)
        return ref

    def value(self) -> dict:
        return {"a": self.account_id, "g": self.gmail_id, "c": self.contact_id}


@dataclass
class EmailLine:
    ref: EmailRef  # the copy shown (and opened)
    mailboxes: list[MailboxTag]  # every visible mailbox it is in, the one shown first
    level: Visibility
    sent: bool  # sent by the mailbox owner (else received)
    received_at: datetime
    from_header: str
    to_header: str
    cc_header: str
    subject: str | None = None  # None: hidden at this level
    snippet: str | None = None
    gmail_url: str | None = None  # for the mailbox owner only


@dataclass
class EmailPage:
    contact_id: int
    contact_name: str
    lines: list[EmailLine] = field(default_factory=list)
    first_number: int = 1
    unavailable: list[MailboxTag] = field(default_factory=list)
    mailboxes: int = 0  # visible mailboxes asked
    more_id: str | None = None  # "Show more" continues this view
    note: EmailsNote | None = None  # why there is nothing to show


# -- the emails -------------------------------------------------------------------------------------

@dataclass
class MailboxSearch:
    """A visible mailbox, detached from its session: what the fan-out threads need."""

    account: GmailAccount
    level: Visibility
    cursor: Cursor

    @property
    def tag(self) -> MailboxTag:
        return MailboxTag(self.account.id, self.account.email_address, self.account.slack_user_id,
                          self.level == Visibility.OWNER)


@dataclass
class _Fetched:
    listed: Listed
    copies: dict[str, EmailCopy | None]  # every candidate as fetched (None: gone from the mailbox)
    kept: frozenset[str]  # the candidates whose headers show they are with the contact


@fanout.one_view_at_a_time
def more_emails(services: Services, who: SlackActorRef, view_id: Any) -> EmailPage:
    """"Show more": the next page of the same view, for the person it was shown to; each mailbox is asked again
    whether the viewer may still see it (a disconnected or re-shared mailbox drops out)."""
    if not isinstance(view_id, str) or not 0 < len(view_id) <= 32:
        raise InvalidInput(Refusal.STALE_BUTTON)
    with acting(services, who) as (session, actor):
        access.require_crm_user(session, actor)
        saved = load_view(session, view_id)
        if saved is None:
            raise NotFoundError(Refusal.VIEW_EXPIRED)
        if (saved.slack_team_id, saved.slack_user_id) != (who.team_id, who.user_id):
            raise NotAllowed(Refusal.STALE_BUTTON)
        contact = session.get(Contact, saved.contact_id)
        if contact is None:
            raise NotFoundError(Refusal.CONTACT_GONE)
        visible = {account.id: (account, level)
                   for account, level in visibility.mailboxes_visible_to(session, actor, contact.id)}
        mailboxes = []
        for account_id, cursor in saved.cursors.items():
            if account_id in visible:
                account, level = visible[account_id]
                session.expunge(account)
                mailboxes.append(MailboxSearch(account, level, Cursor(cursor.token, cursor.offset)))
        page = EmailPage(contact.id, contact.display_name, first_number=saved.shown + 1, mailboxes=len(mailboxes))
        return fill_page(session, services, actor, page, mailboxes, contact_addresses(session, contact),
                          AuditSurface(saved.surface), view_id=view_id, shown=saved.shown)


def _fetch_mailbox(services: Services, mailbox: MailboxSearch, query: str, addresses: frozenset[str]) -> _Fetched:
    """On a fan-out thread: one messages.list and one /batch of metadata (the subject only when the viewer may
    see it), and which of them are with the contact by their headers. A token refreshed on the way is saved, so
    the next view does not refresh again."""
    _, cipher, _, _ = services.require_gmail()
    client = services.mailbox_client(mailbox.account)
    token_before = client.credentials.token
    listed = list_candidates(client, query, mailbox.cursor, PAGE_SIZE)
    copies = fetch_copies(client, listed.ids, with_subject=mailbox.level.shows_subject)
    save_refreshed_credentials(services.engine, cipher, mailbox.account.id, client.credentials, token_before)
    kept = frozenset(gmail_id for gmail_id, copy in copies.items()
                     if copy is not None and copy.is_with(addresses))
    return _Fetched(listed, copies, kept)


def _why_failed(account_id: int, error: BaseException | None) -> None:
    if error is None:
        log.info("mailbox %s did not answer a contact view in time", account_id)
    elif isinstance(error, (GmailError, TokenKeyError, DomainError)):
        log.info("mailbox %s unavailable for a contact view: %s", account_id, type(error).__name__)
    else:
        log.warning("mailbox %s failed in a contact view", account_id, exc_info=error)


def _message_key(mailbox_id: int, copy: EmailCopy) -> str:
    header = copy.message_id_header.strip().strip("<>").lower()
    return f"mid:{header}" if header else f"gid:{mailbox_id}:{copy.gmail_id}"


def fill_page(session: Session, services: Services, actor: Actor, page: EmailPage, mailboxes: list[MailboxSearch],
               addresses: frozenset[str], surface: AuditSurface, *, view_id: str | None, shown: int) -> EmailPage:
    """The mailboxes' next emails with the contact, fetched in parallel with the request's transaction ended
    (its session stays open: the audit rows and the view's cursors are written in it afterwards)."""
    query = contact_query(addresses)
    if not mailboxes or query is None:
        if view_id:  # nothing left to continue: the view's rows go
            save_view(session, SavedView(view_id, "", "", page.contact_id, surface.value, 0, {}))
        return page
    if services.gmail is None:
        page.note = EmailsNote.GMAIL_NOT_SET_UP
        return page
    session.commit()  # nothing held in the database while the mailboxes answer
    outcomes = fanout.run_all(services, actor,
                              {m.account.id: (lambda m=m: _fetch_mailbox(services, m, query, addresses))
                               for m in mailboxes},
                              timeout=services.config.mailbox_view_timeout_seconds)
    fetched: dict[int, _Fetched] = {}
    for mailbox in mailboxes:
        outcome = outcomes[mailbox.account.id]
        if outcome.ok:
            fetched[mailbox.account.id] = outcome.value
        else:
            _why_failed(mailbox.account.id, outcome.error)
            page.unavailable.append(mailbox.tag)
    by_id = {m.account.id: m for m in mailboxes}
    groups, consumed = _merge([(by_id[i], f) for i, f in fetched.items()], PAGE_SIZE)
    page.lines = [_line(members, page.contact_id) for members in groups]
    page.first_number = shown + 1

    cursors: dict[int, MailboxCursor] = {}
    for account_id, result in fetched.items():
        following = result.listed.advance(consumed[account_id])
        if following is not None:
            cursors[account_id] = MailboxCursor(following.token, following.offset)
    _audit(session, actor, page.contact_id, groups, surface)
    if cursors:
        view_id = view_id or new_view_id()
        save_view(session, SavedView(view_id, actor.team_id or "", actor.slack_user_id or "", page.contact_id,
                                     surface.value, shown + len(page.lines), cursors))
        page.more_id = view_id
    elif view_id:
        save_view(session, SavedView(view_id, "", "", page.contact_id, surface.value, 0, {}))
    return page


Member = tuple[MailboxSearch, EmailCopy]


def _merge(results: list[tuple[MailboxSearch, _Fetched]], size: int) -> tuple[list[list[Member]], dict[int, int]]:
    """Newest first across mailboxes, one line per email (copies grouped by Message-ID), at most `size` lines.

    No line is older than the last candidate of a mailbox that has more beyond its candidates: that mailbox's
    next message could be newer, and it comes on the next page. Returns the lines and, per mailbox, how many
    of its candidates the page used (vanished messages, and those not with the contact, count as used)."""
    entries: list[tuple[EmailCopy, int, int, MailboxSearch]] = []
    boundary: datetime | None = None
    for index, (mailbox, result) in enumerate(results):
        dates = []
        for position, gmail_id in enumerate(result.listed.ids):
            copy = result.copies.get(gmail_id)
            if copy is not None:
                dates.append(copy.received_at)
                if gmail_id in result.kept:
                    entries.append((copy, index, position, mailbox))
        if dates and result.listed.advance(len(result.listed.ids)) is not None:
            boundary = min(dates) if boundary is None else max(boundary, min(dates))
    entries.sort(key=lambda e: (-e[0].received_at.timestamp(), e[1], e[2]))
    grouped: dict[str, list[Member]] = {}
    for copy, _, _, mailbox in entries:
        grouped.setdefault(_message_key(mailbox.account.id, copy), []).append((mailbox, copy))
    lines: list[list[Member]] = []
    taken: set[tuple[int, str]] = set()
    for members in grouped.values():
        if len(lines) >= size or (boundary is not None and members[0][1].received_at < boundary):
            break
        lines.append(members)
        taken.update((mailbox.account.id, copy.gmail_id) for mailbox, copy in members)
    consumed: dict[int, int] = {}
    for mailbox, result in results:
        used = 0
        for gmail_id in result.listed.ids:
            if gmail_id not in result.kept or (mailbox.account.id, gmail_id) in taken:
                used += 1
            else:
                break
        consumed[mailbox.account.id] = used
    return lines, consumed


def _line(members: list[Member], contact_id: int) -> EmailLine:
    """One email as its best-visible copy shows it; every mailbox it is in is named."""
    ordered = sorted(members, key=lambda m: -int(m[0].level))
    mailbox, copy = ordered[0]
    level = mailbox.level
    tags = list(dict.fromkeys(m.tag for m, _ in ordered))
    return EmailLine(
        ref=EmailRef(mailbox.account.id, copy.gmail_id, contact_id), mailboxes=tags, level=level,
        sent=copy.sent_by(), received_at=copy.received_at,
        from_header=copy.from_header, to_header=copy.to_header, cc_header=copy.cc_header,
        subject=copy.subject if level.shows_subject else None,
        snippet=copy.snippet if level.shows_snippet else None,
        gmail_url=gmail_url(mailbox.account.email_address, None, copy.thread_id or copy.gmail_id)
        if level == Visibility.OWNER else None,
    )


def _audit(session: Session, actor: Actor, contact_id: int, lines: list[list[Member]], surface: AuditSurface) -> None:
    """Every copy of someone else's mailbox a line stands for, at the level it was shown (once per viewer, email
    and surface: record_views ignores what it already has)."""
    per_mailbox: dict[int, tuple[GmailAccount, list]] = {}
    for members in lines:
        for mailbox, copy in members:
            if mailbox.level == Visibility.OWNER:
                continue
            views = per_mailbox.setdefault(mailbox.account.id, (mailbox.account, []))[1]
            views.append((actor.crm_user_id, copy.gmail_id, mailbox.level))
    for account, views in per_mailbox.values():
        record_views(session, account, contact_id=contact_id, views=views, surface=surface)

# -- the App Home: the rep's own recent emails from CRM contacts ---------------------------------------

@dataclass
class RecentEmails:
    lines: list[EmailLine] = field(default_factory=list)
    contacts: dict[int, str] = field(default_factory=dict)  # contact id -> name, for each line's ref
    unavailable: bool = False
    note: EmailsNote | None = None


def recent_customer_emails(services: Services, who: SlackActorRef) -> RecentEmails:
    """The newest Inbox emails from CRM contacts in the rep's own mailbox (what MailMagnet's sync recorded:
    id, sender, time), their subjects and snippets fetched live, each shown only when its headers show it is
    with the contact (as every contact view checks). Only the owner's own mailbox: colleagues' emails are
    reached through `/contact`, where sharing and the audit apply."""
    with acting(services, who) as (session, actor):
        account = access.own_mailbox(session, actor)
        if account is None or account.status != AccountStatus.CONNECTED or services.gmail is None:
            return RecentEmails()
        if not account.magnet_enabled:
            return RecentEmails(note=EmailsNote.MAGNET_OFF)
        rows = session.exec(select(MailboxMessage.gmail_id, MailboxMessage.from_address)
                            .where(MailboxMessage.account_id == account.id)
                            .order_by(MailboxMessage.received_at.desc()).limit(200)).all()
        senders = {address for _, address in rows if address}
        contact_of: dict[str, Contact] = {}
        matching: dict[int, frozenset[str]] = {}
        if senders:
            found = session.exec(select(Contact).where(or_(Contact.email.in_(senders),
                                                           Contact.secondary_email.in_(senders)))).all()
            # Without the organisation's own addresses: a sender that is the rep's or a colleague's matches no one.
            matching = addresses_by_contact(session, found)
            for contact in found:
                for address in matching[contact.id]:
                    if address == contact.email or address not in contact_of:
                        contact_of[address] = contact
        picked = [(gmail_id, contact_of[address]) for gmail_id, address in rows if address in contact_of][:HOME_EMAILS]
        contacts = {contact.id: contact.display_name for _, contact in picked}
        session.expunge(account)
    if not picked:
        return RecentEmails(contacts=contacts)
    mailbox = MailboxSearch(account, Visibility.OWNER, Cursor())

    def fetch() -> dict[str, EmailCopy | None]:
        return fetch_copies(services.mailbox_client(account), [g for g, _ in picked], with_subject=True)

    outcome = fanout.run_all(services, actor, {account.id: fetch},
                             timeout=services.config.mailbox_view_timeout_seconds)
    result = outcome[account.id]
    if not result.ok:
        _why_failed(account.id, result.error)
        return RecentEmails(contacts=contacts, unavailable=True)
    lines = []
    for gmail_id, contact in picked:
        copy = result.value.get(gmail_id)
        if copy is not None and copy.is_with(matching[contact.id]):
            lines.append(_line([(mailbox, copy)], contact.id))
    return RecentEmails(lines, {line.ref.contact_id: contacts[line.ref.contact_id] for line in lines})

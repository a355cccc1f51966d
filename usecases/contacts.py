"""A CRM contact (SPEC F5, F7, §5): finding them, their card, and the emails exchanged with them in every
mailbox the viewer may see — fetched live from Gmail, never stored — with every view of someone else's
email written to the audit log.

- The card (details, owner, deals, label) is for linked CRM users of the organisation only
  (`access.require_crm_user`); anyone else gets a refusal, never data.
- The emails: `access.mailboxes_visible_to` says which mailboxes and how much of each. Per mailbox, one
  `messages.list` whose query is built from the contact's validated addresses and one `/batch` of metadata,
  all mailboxes in parallel (`usecases.fanout`); a mailbox that fails or is slow is "unavailable right
  now" while the others show. Newest first across mailboxes; an email in several visible mailboxes
  (a colleague in copy) is one line naming every mailbox it is in, showing the most the viewer may
  see of any copy. Each line shows what its level allows: metadata (from, to, date), subject, full
  (and snippet), or everything for the owner. "Show more" continues from page tokens kept in the
  database (`contact_view_pages`), never in the button.
- What is with the contact: Gmail's search only pre-filters. A message is listed, opened, replied to, shown on
  the App Home or audited only when its own headers show one of the contact's addresses (never one of the
  organisation's) as the counterparty: `gmail.conversations.is_with_contact`, the one rule every surface here
  applies.
- The detail ("Open"): headers, snippet and plain-text body for the mailbox owner (fetched live); others
  see it at their depth and never the body. The button's ids are checked: the viewer may see that
  mailbox's emails with that contact, and the message really is one with that contact (for the owner too).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlmodel import Session, or_, select

from crm_store.categories import deals_of, decide_category
from crm_store.contact_search import closest_contacts, search_contacts
from crm_store.contact_view_pages import MailboxCursor, SavedView, load_view, new_view_id, save_view
from crm_store.errors import DomainError, InvalidInput, NotAllowed, NotFoundError
from crm_store.models import AccountStatus, AuditSurface, Contact, CrmUser, GmailAccount, MailboxMessage, utcnow
from crm_store.sharing import Visibility
from gmail.accounts import save_refreshed_credentials
from gmail.conversations import Cursor, EmailCopy, Listed, addresses_by_contact, contact_addresses, contact_query, \
    copy_from_metadata, fetch_copies, list_candidates
from gmail.errors import AccessRevoked, GmailError, InvalidRequest, NotFound
from gmail.magnet import gmail_url
from gmail.messages import body_text, header_map
from gmail.tokens import TokenKeyError
from usecases import access, fanout
from usecases.actors import Actor, SlackActorRef, acting
from usecases.audit import record_views
from usecases.context import Services

log = logging.getLogger(__name__)

PAGE_SIZE = 10
MATCH_LIMIT = 10
HOME_EMAILS = 5
BODY_LIMIT = 12_000
STALE_BUTTON = "That button is from an older MailMagnet message; it no longer works."
NOT_WITH_CONTACT = "That email is not one with this contact."


# -- the card ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DealLine:
    name: str
    stage: str
    closing_date: str | None
    amount: str | None
    status: str  # open / won / lost


@dataclass
class ContactCard:
    id: int
    name: str
    email: str
    secondary_email: str | None
    company: str | None
    phone: str | None
    owner: str | None
    category_label: str | None
    deals: list[DealLine] = field(default_factory=list)
    is_lead: bool = False  # a lead (SPEC §3): no deals, its lead status instead
    lead_status: str | None = None


def contact_card(session: Session, services: Services, contact: Contact, tz: str) -> ContactCard:
    """Callers have checked the viewer is a CRM user (`access.require_crm_user`)."""
    deals = deals_of(session, contact.id)
    decision = decide_category(deals, at=utcnow(), tz=tz, rules=services.rules)
    owner = session.get(CrmUser, contact.owner_id) if contact.owner_id else None
    return ContactCard(
        id=contact.id, name=contact.display_name, email=contact.email, secondary_email=contact.secondary_email,
        company=contact.company, phone=contact.phone, owner=(owner.name or owner.email) if owner else None,
        category_label=services.labels.name_for(decision.category),
        deals=[DealLine(d.name, d.stage, d.closing_date.isoformat() if d.closing_date else None,
                        str(d.amount) if d.amount is not None else None, services.rules.kind(d.stage).value)
               for d in deals],
        is_lead=contact.is_lead, lead_status=contact.lead_status,
    )


# -- results ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContactMatch:
    id: int
    name: str
    email: str
    company: str | None


def _match(contact: Contact) -> ContactMatch:
    return ContactMatch(contact.id, contact.display_name, contact.email, contact.company)


@dataclass
class ContactChoices:
    """Several contacts match: the viewer picks one."""

    query: str
    matches: list[ContactMatch]
    more: bool = False


@dataclass
class NoContact:
    query: str
    closest: list[ContactMatch] = field(default_factory=list)


@dataclass(frozen=True)
class MailboxTag:
    account_id: int
    address: str
    owner_slack_id: str
    own: bool


GMAIL_ID_LIMIT = 64  # the store's gmail_id columns; Gmail's own ids are 16 characters


def is_gmail_id(value: Any) -> bool:
    """A Gmail message id as a button may carry one. Ids are opaque (Gmail's are hex, a Gmail-compatible server's
    may hold '-' or '_'), so only the length and printable ASCII are checked here: what makes an id acceptable is
    that the message is in a mailbox the actor may see and is with the contact, which the use case checks by
    fetching it from that mailbox."""
    return (isinstance(value, str) and 0 < len(value) <= GMAIL_ID_LIMIT and value.isascii() and value.isprintable()
            and not any(c.isspace() for c in value))


@dataclass(frozen=True)
class EmailRef:
    """What an "Open"/"Reply" button's value names; checked on every click, never trusted as such."""

    account_id: Any
    gmail_id: Any
    contact_id: Any

    @classmethod
    def of(cls, value: Any) -> "EmailRef":
        if not isinstance(value, dict):
            raise InvalidInput(STALE_BUTTON)
        ref = cls(value.get("a"), value.get("g"), value.get("c"))
        if not (isinstance(ref.account_id, int) and is_gmail_id(ref.gmail_id) and isinstance(ref.contact_id, int)):
            raise InvalidInput(STALE_BUTTON)
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
    note: str | None = None  # why there is nothing to show (Gmail not set up…)


@dataclass
class ContactView:
    card: ContactCard
    emails: EmailPage


LookUp = ContactView | ContactChoices | NoContact


# -- finding a contact --------------------------------------------------------------------------------

@fanout.one_view_at_a_time
def look_up(services: Services, who: SlackActorRef, text: str,
            surface: AuditSurface = AuditSurface.CONTACT_VIEW) -> LookUp:
    """`/contact <email or name>`: one match → the card and emails; several → a choice; none → the closest names.
    One session for the whole request, from the viewer's check to the audit rows."""
    query = " ".join(text.split())[:200]
    if not query:
        raise InvalidInput("Tell me whom to look up: `/contact jane@acme.example` or `/contact Jane Doe`.")
    with acting(services, who) as (session, actor):
        viewer = access.require_crm_user(session, actor)
        found = search_contacts(session, query, limit=MATCH_LIMIT + 1)
        if not found:
            return NoContact(query, [_match(c) for c in closest_contacts(session, query)])
        if len(found) > 1:
            return ContactChoices(query, [_match(c) for c in found[:MATCH_LIMIT]], more=len(found) > MATCH_LIMIT)
        return _contact_view(session, services, actor, viewer, found[0], surface)


@fanout.one_view_at_a_time
def for_addresses(services: Services, who: SlackActorRef, addresses: Callable[[], Iterable[str]]) -> LookUp:
    """The message shortcut: the contacts among the addresses a Slack message mentions. `addresses` is called
    only once the viewer is known to be a CRM user: reading a message costs CPU a guest must not spend."""
    with acting(services, who) as (session, actor):
        viewer = access.require_crm_user(session, actor)
        wanted = list(dict.fromkeys(a.strip().lower() for a in addresses() if a and a.strip()))[:20]
        if not wanted:
            raise InvalidInput("That message mentions no email address, so there is no contact to show.")
        found: dict[int, Contact] = {}
        for address in wanted:
            for contact in search_contacts(session, address, limit=MATCH_LIMIT):
                found.setdefault(contact.id, contact)
        if not found:
            closest = closest_contacts(session, wanted[0])
            return NoContact(", ".join(wanted), [_match(c) for c in closest])
        if len(found) > 1:
            matches = [_match(c) for c in found.values()]
            return ContactChoices(", ".join(wanted), matches[:MATCH_LIMIT], more=len(matches) > MATCH_LIMIT)
        return _contact_view(session, services, actor, viewer, next(iter(found.values())), AuditSurface.SHORTCUT)


@fanout.one_view_at_a_time
def show_contact(services: Services, who: SlackActorRef, contact_id: Any,
                 surface: AuditSurface = AuditSurface.CONTACT_VIEW) -> ContactView:
    """A contact picked from a list (or named by an alert): any CRM user may see any contact's card."""
    if not isinstance(contact_id, int):
        raise InvalidInput(STALE_BUTTON)
    with acting(services, who) as (session, actor):
        viewer = access.require_crm_user(session, actor)
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise NotFoundError("That contact is no longer in the CRM.")
        return _contact_view(session, services, actor, viewer, contact, surface)


def _contact_view(session: Session, services: Services, actor: Actor, viewer: CrmUser, contact: Contact,
                  surface: AuditSurface) -> ContactView:
    """Callers have checked the viewer is a CRM user (`access.require_crm_user`)."""
    card = contact_card(session, services, contact, viewer.timezone or services.config.default_timezone)
    visible = access.mailboxes_visible_to(session, actor, contact.id)
    for account, _ in visible:
        session.expunge(account)
    mailboxes = [_Mailbox(account, level, Cursor()) for account, level in visible]
    page = EmailPage(contact.id, contact.display_name, mailboxes=len(mailboxes))
    emails = _fill_page(session, services, actor, page, mailboxes, contact_addresses(session, contact), surface,
                        view_id=None, shown=0)
    return ContactView(card, emails)


# -- the emails -------------------------------------------------------------------------------------

@dataclass
class _Mailbox:
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
        raise InvalidInput(STALE_BUTTON)
    with acting(services, who) as (session, actor):
        access.require_crm_user(session, actor)
        saved = load_view(session, view_id)
        if saved is None:
            raise NotFoundError("Those emails are no longer listed here: run `/contact` again.")
        if (saved.slack_team_id, saved.slack_user_id) != (who.team_id, who.user_id):
            raise NotAllowed(STALE_BUTTON)
        contact = session.get(Contact, saved.contact_id)
        if contact is None:
            raise NotFoundError("That contact is no longer in the CRM.")
        visible = {account.id: (account, level)
                   for account, level in access.mailboxes_visible_to(session, actor, contact.id)}
        mailboxes = []
        for account_id, cursor in saved.cursors.items():
            if account_id in visible:
                account, level = visible[account_id]
                session.expunge(account)
                mailboxes.append(_Mailbox(account, level, Cursor(cursor.token, cursor.offset)))
        page = EmailPage(contact.id, contact.display_name, first_number=saved.shown + 1, mailboxes=len(mailboxes))
        return _fill_page(session, services, actor, page, mailboxes, contact_addresses(session, contact),
                          AuditSurface(saved.surface), view_id=view_id, shown=saved.shown)


def _fetch_mailbox(services: Services, mailbox: _Mailbox, query: str, addresses: frozenset[str]) -> _Fetched:
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
                     if copy is not None and copy.is_with(addresses, mailbox.account.email_address))
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


def _fill_page(session: Session, services: Services, actor: Actor, page: EmailPage, mailboxes: list[_Mailbox],
               addresses: frozenset[str], surface: AuditSurface, *, view_id: str | None, shown: int) -> EmailPage:
    """The mailboxes' next emails with the contact, fetched in parallel with the request's transaction ended
    (its session stays open: the audit rows and the view's cursors are written in it afterwards)."""
    query = contact_query(addresses)
    if not mailboxes or query is None:
        if view_id:  # nothing left to continue: the view's rows go
            save_view(session, SavedView(view_id, "", "", page.contact_id, surface.value, 0, {}))
        return page
    if services.gmail is None:
        page.note = "Gmail is not set up on this MailMagnet server, so no emails can be shown."
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


Member = tuple[_Mailbox, EmailCopy]


def _merge(results: list[tuple[_Mailbox, _Fetched]], size: int) -> tuple[list[list[Member]], dict[int, int]]:
    """Newest first across mailboxes, one line per email (copies grouped by Message-ID), at most `size` lines.

    No line is older than the last candidate of a mailbox that has more beyond its candidates: that mailbox's
    next message could be newer, and it comes on the next page. Returns the lines and, per mailbox, how many
    of its candidates the page used (vanished messages, and those not with the contact, count as used)."""
    entries: list[tuple[EmailCopy, int, int, _Mailbox]] = []
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
        sent=copy.sent_by(mailbox.account.email_address), received_at=copy.received_at,
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


# -- one email ----------------------------------------------------------------------------------------

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
        return NotFoundError("That email is no longer in the mailbox.")
    if isinstance(error, AccessRevoked):
        return DomainError("Google no longer lets MailMagnet read that mailbox; its owner must reconnect "
                           "(`/gmail connect`).")
    return DomainError("Gmail did not answer just now. Please try again in a moment.")


def open_email(services: Services, who: SlackActorRef, value: Any) -> EmailDetail:
    """"Open": the email at the viewer's depth; the owner also gets the plain-text body (live, never kept)."""
    ref = EmailRef.of(value)
    with acting(services, who) as (session, actor):
        access.require_crm_user(session, actor)
        account, level = access.email_visibility(session, actor, ref.account_id, ref.contact_id)
        contact = session.get(Contact, ref.contact_id)
        if contact is None:
            raise NotFoundError("That contact is no longer in the CRM.")
        addresses, name = contact_addresses(session, contact), contact.display_name
        session.expunge(account)
        session.commit()  # nothing held in the database while Gmail answers
        return _open_email(session, services, actor, ref, account, level, addresses, name)


def _open_email(session: Session, services: Services, actor: Actor, ref: EmailRef, account: GmailAccount,
                level: Visibility, addresses: frozenset[str], name: str) -> EmailDetail:
    client = services.mailbox_client(account)
    try:
        if level == Visibility.OWNER:
            message = client.get_message(ref.gmail_id, format="full")
        else:
            headers = ("From", "To", "Cc", "Date", "Message-ID") + (("Subject",) if level.shows_subject else ())
            message = client.get_message(ref.gmail_id, format="metadata", headers=headers)
    except GmailError as error:
        raise gmail_failure(error) from None
    copy = copy_from_metadata(message, with_subject=level.shows_subject)
    if not copy.is_with(addresses, account.email_address):
        # A forged or stale value, or a contact whose address has since become the organisation's: this view
        # opens (and audits) only a message that is with this contact.
        raise NotAllowed(NOT_WITH_CONTACT)
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


# -- the App Home: the rep's own recent emails from CRM contacts ---------------------------------------

@dataclass
class RecentEmails:
    lines: list[EmailLine] = field(default_factory=list)
    contacts: dict[int, str] = field(default_factory=dict)  # contact id -> name, for each line's ref
    unavailable: bool = False
    note: str | None = None


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
            return RecentEmails(note="Turn MailMagnet on to see your latest emails from CRM contacts here.")
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
    mailbox = _Mailbox(account, Visibility.OWNER, Cursor())

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
        if copy is not None and copy.is_with(matching[contact.id], account.email_address):
            lines.append(_line([(mailbox, copy)], contact.id))
    return RecentEmails(lines, {line.ref.contact_id: contacts[line.ref.contact_id] for line in lines})

"""Which senders' filed mail a label run must look at again (gmail/labels.py's re-filing): the contacts named in
`category_changes` since the mailbox's last run, and at a month turn the contacts with an open deal closing in
the last run's month or in this one (the only ones a new month can move), among the mailbox's senders."""
from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlmodel import Session, select

from crm_store.categories import Month, StageRules
from crm_store.models import CategoryChange, Contact, Deal, GmailAccount, MailboxMessage

ADDRESS_CHUNK = 500


class ChangedSenders:
    """Built once per filer: keeps the month turn's closing contacts, the same for every mailbox."""

    def __init__(self, rules: StageRules):
        self.rules = rules
        self._closing: dict[tuple, frozenset[str]] = {}
        self._closing_lock = threading.Lock()

    def addresses(self, session: Session, account: GmailAccount, last_change: int, month: Month) -> set[str]:
        """Senders whose filed mail may belong under another label now; empty when nothing changed."""
        addresses: set[str] = set()
        month_key = month.first_day.strftime("%Y-%m")
        if account.last_label_month is not None and account.last_label_month != month_key:
            addresses |= self._month_turn_senders(session, account, account.last_label_month, month)
        if last_change <= account.last_category_change_id:
            return addresses
        contact_ids = select(CategoryChange.contact_id).where(
            CategoryChange.id > account.last_category_change_id, CategoryChange.id <= last_change)
        changed: set[str] = set()
        for email, secondary in session.exec(select(Contact.email, Contact.secondary_email).where(
                Contact.id.in_(contact_ids))):
            changed.add(email)
            if secondary:
                changed.add(secondary)
        # Only addresses this mailbox has filed mail from matter.
        ordered = sorted(changed - addresses)
        for start in range(0, len(ordered), ADDRESS_CHUNK):
            addresses.update(session.exec(select(MailboxMessage.from_address).where(
                MailboxMessage.account_id == account.id, MailboxMessage.filed_category.is_not(None),
                MailboxMessage.from_address.in_(ordered[start:start + ADDRESS_CHUNK])).distinct()))
        return addresses

    def _month_turn_senders(self, session: Session, account: GmailAccount, last_month_key: str,
                            month: Month) -> set[str]:
        """A new month changes the category of a contact only through "closing this month": only a contact with
        an open deal closing in the month of the last run or in this one can have its mail under another label
        now (whatever else changed is in `category_changes`). Those contacts' addresses, among the senders of
        this mailbox: a look-up per mailbox, not a category per filed sender."""
        try:
            last = Month.of_key(last_month_key, month.tz)
        except ValueError:  # not a month we wrote: every filed sender, as a safe fallback
            return set(session.exec(select(MailboxMessage.from_address).where(
                MailboxMessage.account_id == account.id, MailboxMessage.filed_category.is_not(None)).distinct()))
        candidates = self._closing_addresses(session, last, month)
        if not candidates:
            return set()
        # Every sender of the mailbox, from the (account, from address) index alone; `_refile` reads filed rows only.
        senders = session.exec(select(MailboxMessage.from_address).where(
            MailboxMessage.account_id == account.id).distinct())
        return {address for address in senders if address in candidates}

    def _closing_addresses(self, session: Session, last: Month, month: Month) -> frozenset[str]:
        """Addresses of the contacts with an open deal closing in either month. The same for every mailbox that
        turns from `last` to `month`, so it is read once and kept: a deal that changes afterwards is in
        `category_changes`, which each run reads too."""
        key = (last.first_day, last.last_day, month.first_day, month.last_day)
        with self._closing_lock:
            found = self._closing.get(key)
            if found is None:
                closed = sorted(self.rules.won | self.rules.lost)
                in_either = sa.or_(Deal.closing_date.between(last.first_day, last.last_day),
                                   Deal.closing_date.between(month.first_day, month.last_day))
                is_open = sa.func.lower(Deal.stage).not_in(closed) if closed else sa.true()
                contact_ids = select(Deal.contact_id).where(in_either, is_open)
                found = frozenset(address for row in session.exec(
                    select(Contact.email, Contact.secondary_email).where(Contact.id.in_(contact_ids)))
                    for address in row if address)
                self._closing = {key: found}  # one month turn at a time is enough to keep
        return found

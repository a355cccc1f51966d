"""labels.*: quota units of a label run against a naive filer (SPEC §8).

A 20k-message mailbox with 5k messages in the Inbox and 2k already filed; then 100 new messages
from contacts arrive and 20 contacts with filed mail change category (a deal import).
- ours: one label run (sync + file the new mail + re-file the changed contacts' mail);
- naive: list the Inbox, get every message, modify each one from a contact (on an identical
  mailbox), which does not even re-file.
"""
from __future__ import annotations

import io
import json
import random
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from benchmarks.common import emit
from crm_store.categories import StageRules, categorize_senders
from crm_store.csv_import import import_deals
from crm_store.db import session_scope
from crm_store.models import CategoryChange, GmailAccount, MailboxMessage
from gmail.client import credentials_from_dict
from gmail.messages import from_gmail_metadata
from sandbox.stack import GOOGLE_CLIENT_ID, REP_GMAIL, start_stack

NAIVE_GMAIL = "naive@gmail.example"
FILED_CONTACTS = 200
NEW_CONTACTS = 100
FILED_PER_CONTACT = 10
ARCHIVED = 13_000
INBOX = 5_000
NEW = 100
CHANGED = 20
LABELS = {"open_deals": "Open Deals", "customers": "Customers", "closing_this_month": "Deals Closing This Month"}


def crm_files(today: date) -> tuple[str, str]:
    contacts = ["email,first_name,external_id"]
    deals = ["name,contact_external_id,stage,closing_date,external_id"]
    this_month = today.replace(day=min(28, max(today.day, 1))).isoformat()
    for i in range(FILED_CONTACTS + NEW_CONTACTS):
        contacts.append(f"c{i}@customer.example,C{i},C{i}")
        if i < 100:
            deals.append(f"Deal {i},C{i},Proposal,2099-06-01,D{i}")  # Open Deals
        elif i < FILED_CONTACTS:
            deals.append(f"Deal {i},C{i},Closed Won,2025-06-01,D{i}")  # Customers
        elif i % 2:
            deals.append(f"Deal {i},C{i},Proposal,{this_month},D{i}")
        else:
            deals.append(f"Deal {i},C{i},Closed Won,2025-06-01,D{i}")
    return "\n".join(contacts) + "\n", "\n".join(deals) + "\n"


def mailbox_specs(rng: random.Random, now: datetime) -> tuple[list[dict], list[tuple[int, str]]]:
    """The 20k messages; the filed ones come with the contact index and label they are under."""
    specs: list[dict] = []
    filed: list[tuple[int, str]] = []
    for i in range(ARCHIVED):
        specs.append({"sender": f"news{rng.randint(1, 400)}@lists.example", "to": REP_GMAIL,
                      "subject": f"Archived {i}", "label_ids": ("CATEGORY_UPDATES",), "date": now})
    for c in range(FILED_CONTACTS):
        label = LABELS["open_deals"] if c < 100 else LABELS["customers"]
        for k in range(FILED_PER_CONTACT):
            specs.append({"sender": f"C{c} <c{c}@customer.example>", "to": REP_GMAIL, "subject": f"Filed {c}/{k}",
                          "label_ids": (label,), "date": now})
            filed.append((c, label))
    for i in range(INBOX):
        specs.append({"sender": f"Someone {i} <someone{rng.randint(1, 3000)}@elsewhere.example>", "to": REP_GMAIL,
                      "subject": f"Inbox {i}", "label_ids": ("INBOX", "UNREAD"), "date": now})
    return specs, filed


def naive_run(stack, mailbox, today_tz: str) -> None:
    """List the Inbox, get every message, modify each one from a contact (what a simple filer does)."""
    ids = mailbox.list_message_ids(label_ids=["INBOX"])
    messages = [from_gmail_metadata(m) for m in mailbox.get_metadata(ids).values() if m]
    with session_scope(stack.engine) as session:
        categories = categorize_senders(session, {m.from_address for m in messages if m.from_address},
                                        at=datetime.now(timezone.utc), tz=today_tz, rules=StageRules())
    label_ids = {label["name"]: label["id"] for label in mailbox.list_labels()}
    for name in LABELS.values():
        if name not in label_ids:
            label_ids[name] = mailbox.create_label(name)["id"]
    for message in messages:
        found = categories.get(message.from_address)
        if found and found.category:
            mailbox.modify(message.gmail_id, add=[label_ids[LABELS[found.category.value]]], remove=["INBOX"])


def main() -> None:
    rng = random.Random(2026)
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(f"sqlite:///{Path(tmp) / 'bench.db'}", scheduler=True, start_scheduler=False)
        try:
            stack.add_rep()
            contacts_csv, deals_csv = crm_files(now.date())
            stack.import_crm(contacts_csv, deals_csv)
            stack.gmail.add_user(NAIVE_GMAIL)
            specs, filed = mailbox_specs(rng, now)
            ids = stack.gmail.add_messages_bulk(REP_GMAIL, specs)
            stack.gmail.add_messages_bulk(NAIVE_GMAIL, [{**s, "to": NAIVE_GMAIL} for s in specs])
            stack.connect_with_magnet(labels=True)
            stack.run("labels")  # backfill: the 5k Inbox messages, none from a contact

            # What earlier label runs left behind: 2k filed messages and their labels' ids.
            account_id = stack.account_id()
            filed_ids = ids[ARCHIVED:ARCHIVED + len(filed)]
            category_of = {v: k for k, v in LABELS.items()}
            with session_scope(stack.engine) as session:
                for gmail_id, (contact, label) in zip(filed_ids, filed):
                    session.add(MailboxMessage(account_id=account_id, gmail_id=gmail_id,
                                               from_address=f"c{contact}@customer.example", received_at=now,
                                               filed_category=category_of[label], filed_at=now))
                account = session.get(GmailAccount, account_id)
                account.label_ids = json.dumps({k: stack.gmail.label_id(REP_GMAIL, v) for k, v in LABELS.items()})
                account.last_label_month = None
            stack.run("labels")

            stack.gmail.reset_counters()
            stack.run("labels")
            zero_change = stack.gmail.quota_units(REP_GMAIL)

            # The change: 20 contacts with filed mail get a deal closing this month; 100 new messages.
            this_month = now.date().replace(day=min(28, now.day)).isoformat()
            import_deals(stack.engine, io.StringIO(
                "name,contact_external_id,stage,closing_date,external_id\n"
                + "".join(f"Deal {i},C{i},Negotiation,{this_month},D{i}\n" for i in range(CHANGED))), progress=False)
            with session_scope(stack.engine) as session:
                changes = session.exec(select(sa.func.count()).select_from(CategoryChange)).one()
            new_specs = [{"sender": f"C{c} <c{c}@customer.example>", "to": REP_GMAIL, "subject": f"New {c}",
                          "label_ids": ("INBOX", "UNREAD"), "date": now}
                         for c in range(FILED_CONTACTS, FILED_CONTACTS + NEW)]
            stack.gmail.add_messages_bulk(REP_GMAIL, new_specs)
            stack.gmail.add_messages_bulk(NAIVE_GMAIL, [{**s, "to": NAIVE_GMAIL} for s in new_specs])

            stack.gmail.reset_counters()
            outcome = stack.run("labels")[0]
            ours = stack.gmail.quota_units(REP_GMAIL)
            ours_by_method: dict[str, int] = {}
            for call in stack.gmail.calls:
                ours_by_method[call.method] = ours_by_method.get(call.method, 0) + call.units

            tokens = stack.gmail.issue_tokens(NAIVE_GMAIL, GOOGLE_CLIENT_ID)
            naive_mailbox = stack.services.gmail.mailbox(credentials_from_dict(
                {"token": tokens["access_token"], "refresh_token": tokens.get("refresh_token")},
                stack.services.google))
            stack.gmail.reset_counters()
            naive_run(stack, naive_mailbox, stack.settings.default_timezone)
            naive = stack.gmail.quota_units(NAIVE_GMAIL)
        finally:
            stack.stop()
    emit("labels", {
        "mailbox_messages": ARCHIVED + len(filed) + INBOX,
        "inbox_messages": INBOX,
        "new_messages": NEW,
        "changed_contacts": CHANGED,
        "category_changes_recorded": changes,
        "filed": outcome.filed,
        "refiled": outcome.refiled,
        "zero_change_units": zero_change,
        "incremental_units": ours,
        "incremental_units_by_method": ours_by_method,
        "naive_units": naive,
        "naive_over_ours": round(naive / ours, 2),
        "target_zero_change_units": 2,
        "target_naive_over_ours": 20,
    })


if __name__ == "__main__":
    main()

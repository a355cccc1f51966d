"""labels.*: quota units of a label run against two simpler filers (SPEC §8), at Inbox sizes 50, 500 and 5,000.

At each size, three identical mailboxes (the rep's, "stateful@", "naive@"): an Inbox of N messages from
strangers, 2.6 N archived messages, and 0.4 N messages already filed (N/25 contacts, 10 each; the first half
under Open Deals, the rest under Customers). Then the change: N/250 contacts with filed mail (at least one) get
a deal closing this month (a deal import), and N/50 new messages arrive from contacts (at least one; half of
them closing this month, half customers). At N = 5,000 that is the SPEC's scenario: a 20k-message mailbox,
5k in the Inbox, 100 new messages, 20 contacts whose category changed.

- ours: one label run of the product (sync + file the new mail + re-file the changed contacts' mail);
- stateful: a simple filer that keeps state between runs (`StatefulFiler`): it lists what arrived since its
  last run with `history.list`, gets each new message once, and files the ones from contacts; it remembers
  under which label it filed each contact, and for a contact whose category changed it finds that contact's
  filed messages with one `messages.list q=from:(…)` (under the old label) and moves them. It never re-reads
  the Inbox. It changes labels exactly as the product does (`gmail.labels.LabelFiler._apply`): the messages
  going to one label (new mail: per category; re-filing: per (old label, new label) pair) in one `batchModify`
  when there are more than `gmail.labels.BATCH_MODIFY_THRESHOLD` of them, else one `modify` each;
- naive: list the Inbox, get every message, modify each one from a contact (which does not even re-file).

Units are the emulator's quota counters (Google's costs), per mailbox, in one run.
`ratio_vs_stateful` is the smallest of the three sizes' stateful / ours.
"""
from __future__ import annotations

import io
import json
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from benchmarks.common import emit
from crm_store.categories import Category, LabelNames, StageRules, categorize_senders
from crm_store.csv_import import import_deals
from crm_store.db import session_scope
from crm_store.models import CategoryChange, GmailAccount, MailboxMessage
from gmail.client import MailboxClient
from gmail.credentials import credentials_from_dict
from gmail.labels import BATCH_MODIFY_THRESHOLD
from gmail.messages import from_gmail_metadata
from testsupport.stack import GOOGLE_CLIENT_ID, REP_GMAIL, start_stack

STATEFUL_GMAIL = "stateful@gmail.example"
NAIVE_GMAIL = "naive@gmail.example"
SIZES = (50, 500, 5_000)
FILED_PER_CONTACT = 10
LABELS = LabelNames()


@dataclass(frozen=True)
class Scenario:
    inbox: int

    @property
    def archived(self) -> int:
        return self.inbox * 13 // 5

    @property
    def filed_contacts(self) -> int:
        return max(2, self.inbox // 25)

    @property
    def new(self) -> int:
        return max(1, self.inbox // 50)

    @property
    def changed(self) -> int:
        return max(1, self.inbox // 250)

    @property
    def filed(self) -> int:
        return self.filed_contacts * FILED_PER_CONTACT

    def filed_label(self, contact: int) -> str:
        return LABELS.open_deals if contact < self.filed_contacts // 2 else LABELS.customers


def crm_files(scenario: Scenario, today: date) -> tuple[str, str]:
    """Contacts 0..F-1 have filed mail (first half an open deal, the rest won); F..F+new-1 write new mail
    (odd: a deal closing this month, even: won)."""
    contacts = ["email,first_name,external_id"]
    deals = ["name,contact_external_id,stage,closing_date,external_id"]
    this_month = today.replace(day=min(28, max(today.day, 1))).isoformat()
    for i in range(scenario.filed_contacts + scenario.new):
        contacts.append(f"c{i}@customer.example,C{i},C{i}")
        if i < scenario.filed_contacts // 2:
            deals.append(f"Deal {i},C{i},Proposal,2099-06-01,D{i}")  # Open Deals
        elif i < scenario.filed_contacts:
            deals.append(f"Deal {i},C{i},Closed Won,2025-06-01,D{i}")  # Customers
        elif i % 2:
            deals.append(f"Deal {i},C{i},Proposal,{this_month},D{i}")
        else:
            deals.append(f"Deal {i},C{i},Closed Won,2025-06-01,D{i}")
    return "\n".join(contacts) + "\n", "\n".join(deals) + "\n"


def mailbox_specs(scenario: Scenario, rng: random.Random, now: datetime, to: str) -> tuple[list[dict], list[int]]:
    """The mailbox before the change; the filed ones come with their contact's index."""
    specs: list[dict] = []
    filed: list[int] = []
    for i in range(scenario.archived):
        specs.append({"sender": f"news{rng.randint(1, 400)}@lists.example", "to": to,
                      "subject": f"Archived {i}", "label_ids": ("CATEGORY_UPDATES",), "date": now})
    for c in range(scenario.filed_contacts):
        for k in range(FILED_PER_CONTACT):
            specs.append({"sender": f"C{c} <c{c}@customer.example>", "to": to, "subject": f"Filed {c}/{k}",
                          "label_ids": (scenario.filed_label(c),), "date": now})
            filed.append(c)
    for i in range(scenario.inbox):
        specs.append({"sender": f"Someone {i} <someone{rng.randint(1, 3000)}@elsewhere.example>", "to": to,
                      "subject": f"Inbox {i}", "label_ids": ("INBOX", "UNREAD"), "date": now})
    return specs, filed


@dataclass
class StatefulFiler:
    """A simple filer that keeps state between runs: its history cursor, the three label ids, and the label it
    filed each contact's mail under. Categories come from the same CRM store (no Gmail cost)."""

    mailbox: MailboxClient
    engine: sa.engine.Engine
    tz: str
    history_id: str
    label_ids: dict[Category, str]
    filed_under: dict[str, Category] = field(default_factory=dict)  # contact address -> label it filed under

    def categories(self, addresses) -> dict[str, Category | None]:
        with session_scope(self.engine) as session:
            found = categorize_senders(session, addresses, at=datetime.now(timezone.utc), tz=self.tz,
                                       rules=StageRules())
        return {address: item.category for address, item in found.items()}

    def move(self, ids: list[str], add: str, remove: str) -> None:
        """The product's rule (`LabelFiler._apply`): one batchModify above the threshold, else modify each."""
        if len(ids) > BATCH_MODIFY_THRESHOLD:
            self.mailbox.batch_modify(ids, add=[add], remove=[remove])
        else:
            for gmail_id in ids:
                self.mailbox.modify(gmail_id, add=[add], remove=[remove])

    def run(self) -> None:
        # New mail since the last run: history.list, then each new message once; filed per category.
        new_ids: list[str] = []
        for page in self.mailbox.history_pages(self.history_id):
            new_ids += page.added_ids
            self.history_id = page.history_id
        messages = [from_gmail_metadata(m) for m in self.mailbox.get_metadata(new_ids).values() if m]
        categories = self.categories({m.from_address for m in messages if m.from_address})
        to_file: dict[Category, list[str]] = defaultdict(list)
        for message in messages:
            category = categories.get(message.from_address)
            if category is not None:
                to_file[category].append(message.gmail_id)
                self.filed_under[message.from_address] = category
        for category, ids in to_file.items():
            self.move(ids, self.label_ids[category], "INBOX")
        # CRM changes: every contact whose mail it filed, under another category now; moved per label pair.
        now = self.categories(self.filed_under)
        moves: dict[tuple[Category, Category], list[str]] = defaultdict(list)
        for address, old in list(self.filed_under.items()):
            new = now.get(address)
            if new is None or new is old:
                continue
            moves[(old, new)] += self.mailbox.list_message_ids(label_ids=[self.label_ids[old]],
                                                               query=f"from:({address})")
            self.filed_under[address] = new
        for (old, new), ids in moves.items():
            self.move(ids, self.label_ids[new], self.label_ids[old])


def naive_run(stack, mailbox: MailboxClient, tz: str) -> None:
    """List the Inbox, get every message, modify each one from a contact (what a simple filer does)."""
    ids = mailbox.list_message_ids(label_ids=["INBOX"])
    messages = [from_gmail_metadata(m) for m in mailbox.get_metadata(ids).values() if m]
    with session_scope(stack.engine) as session:
        categories = categorize_senders(session, {m.from_address for m in messages if m.from_address},
                                        at=datetime.now(timezone.utc), tz=tz, rules=StageRules())
    label_ids = {label["name"]: label["id"] for label in mailbox.list_labels()}
    for category in Category:
        name = LABELS.name_for(category)
        if name not in label_ids:
            label_ids[name] = mailbox.create_label(name)["id"]
    for message in messages:
        found = categories.get(message.from_address)
        if found and found.category:
            mailbox.modify(message.gmail_id, add=[label_ids[LABELS.name_for(found.category)]], remove=["INBOX"])


def client_for(stack, address: str) -> MailboxClient:
    tokens = stack.gmail.issue_tokens(address, GOOGLE_CLIENT_ID)
    return stack.services.gmail.mailbox(credentials_from_dict(
        {"token": tokens["access_token"], "refresh_token": tokens.get("refresh_token")}, stack.services.google))


def units_by_method(stack) -> dict[str, int]:
    by_method: dict[str, int] = {}
    for call in stack.gmail.calls:
        by_method[call.method] = by_method.get(call.method, 0) + call.units
    return by_method


def run_size(scenario: Scenario) -> dict:
    rng = random.Random(2026)
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(f"sqlite:///{Path(tmp) / 'bench.db'}", scheduler=True, start_scheduler=False)
        try:
            stack.add_rep()
            stack.import_crm(*crm_files(scenario, now.date()))
            ids: dict[str, list[str]] = {}
            for address in (REP_GMAIL, STATEFUL_GMAIL, NAIVE_GMAIL):
                if address != REP_GMAIL:
                    stack.gmail.add_user(address)
                specs, filed = mailbox_specs(scenario, random.Random(2026), now, address)
                ids[address] = stack.gmail.add_messages_bulk(address, specs)
            stack.connect_with_magnet(labels=True)
            stack.run("labels")  # backfill: the Inbox, none from a contact

            # What earlier label runs left behind: the filed messages and their labels' ids.
            account_id = stack.account_id()
            filed_ids = ids[REP_GMAIL][scenario.archived:scenario.archived + scenario.filed]
            category_of = {LABELS.name_for(c): c.value for c in Category}
            with session_scope(stack.engine) as session:
                for gmail_id, contact in zip(filed_ids, filed):
                    session.add(MailboxMessage(account_id=account_id, gmail_id=gmail_id,
                                               from_address=f"c{contact}@customer.example", received_at=now,
                                               filed_category=category_of[scenario.filed_label(contact)],
                                               filed_at=now))
                account = session.get(GmailAccount, account_id)
                account.label_ids = json.dumps({c.value: stack.gmail.label_id(REP_GMAIL, LABELS.name_for(c))
                                                for c in Category})
                account.last_label_month = None
            stack.run("labels")

            stack.gmail.reset_counters()
            stack.run("labels")
            zero_change = stack.gmail.quota_units(REP_GMAIL)

            # The stateful filer as its earlier runs left it: cursor now, label ids known, what it filed.
            stateful_mailbox = client_for(stack, STATEFUL_GMAIL)
            for category in Category:
                if stack.gmail.label_id(STATEFUL_GMAIL, LABELS.name_for(category)) is None:
                    stack.gmail.create_label(STATEFUL_GMAIL, LABELS.name_for(category))
            stateful = StatefulFiler(
                stateful_mailbox, stack.engine, stack.settings.default_timezone,
                stack.gmail.history_id(STATEFUL_GMAIL),
                {c: stack.gmail.label_id(STATEFUL_GMAIL, LABELS.name_for(c)) for c in Category},
                {f"c{c}@customer.example": Category(category_of[scenario.filed_label(c)])
                 for c in range(scenario.filed_contacts)})
            stack.gmail.reset_counters()
            stateful.run()
            stateful_zero_change = stack.gmail.quota_units(STATEFUL_GMAIL)

            # The change: contacts with filed mail get a deal closing this month; new mail from contacts.
            this_month = now.date().replace(day=min(28, now.day)).isoformat()
            import_deals(stack.engine, io.StringIO(
                "name,contact_external_id,stage,closing_date,external_id\n"
                + "".join(f"Deal {i},C{i},Negotiation,{this_month},D{i}\n" for i in range(scenario.changed))))
            with session_scope(stack.engine) as session:
                changes = session.exec(select(sa.func.count()).select_from(CategoryChange)).one()
            first_new = scenario.filed_contacts
            for address in (REP_GMAIL, STATEFUL_GMAIL, NAIVE_GMAIL):
                stack.gmail.add_messages_bulk(address, [
                    {"sender": f"C{c} <c{c}@customer.example>", "to": address, "subject": f"New {c}",
                     "label_ids": ("INBOX", "UNREAD"), "date": now}
                    for c in range(first_new, first_new + scenario.new)])

            stack.gmail.reset_counters()
            outcome = stack.run("labels")[0]
            ours = stack.gmail.quota_units(REP_GMAIL)
            ours_by_method = units_by_method(stack)

            stack.gmail.reset_counters()
            stateful.run()
            stateful_units = stack.gmail.quota_units(STATEFUL_GMAIL)
            stateful_by_method = units_by_method(stack)

            naive_mailbox = client_for(stack, NAIVE_GMAIL)
            stack.gmail.reset_counters()
            naive_run(stack, naive_mailbox, stack.settings.default_timezone)
            naive = stack.gmail.quota_units(NAIVE_GMAIL)

            # Both filers left the same labels on the same messages.
            def state(address: str) -> list[tuple[str, ...]]:
                names = {LABELS.name_for(c) for c in Category} | {"INBOX"}
                return sorted(tuple(sorted(stack.gmail.label_names(address, m) & names))
                              for m in stack.gmail.user_messages(address))
            same_labels = state(REP_GMAIL) == state(STATEFUL_GMAIL)
        finally:
            stack.stop()
    return {
        "inbox_messages": scenario.inbox,
        "mailbox_messages": scenario.archived + scenario.filed + scenario.inbox,
        "filed_before": scenario.filed,
        "new_messages": scenario.new,
        "changed_contacts": scenario.changed,
        "category_changes_recorded": changes,
        "filed": outcome.filed,
        "refiled": outcome.refiled,
        "zero_change_units": zero_change,
        "stateful_zero_change_units": stateful_zero_change,
        "units": ours,
        "units_by_method": ours_by_method,
        "stateful_units": stateful_units,
        "stateful_units_by_method": stateful_by_method,
        "naive_units": naive,
        "ratio_vs_stateful": round(stateful_units / ours, 2),
        "naive_over_ours": round(naive / ours, 2),
        "same_labels_as_stateful": same_labels,
    }


def main() -> None:
    by_size = {scenario.inbox: run_size(scenario) for scenario in map(Scenario, SIZES)}
    spec = by_size[5_000]
    figures = {
        # SPEC §8's scenario (Inbox 5,000): the keys as before.
        "mailbox_messages": spec["mailbox_messages"],
        "inbox_messages": spec["inbox_messages"],
        "new_messages": spec["new_messages"],
        "changed_contacts": spec["changed_contacts"],
        "category_changes_recorded": spec["category_changes_recorded"],
        "filed": spec["filed"],
        "refiled": spec["refiled"],
        "zero_change_units": spec["zero_change_units"],
        "incremental_units": spec["units"],
        "incremental_units_by_method": spec["units_by_method"],
        "naive_units": spec["naive_units"],
        "naive_over_ours": spec["naive_over_ours"],
        "stateful_units": spec["stateful_units"],
        # The stateful filer at every size; the figure is the worst of them.
        "ratio_vs_stateful": min(size["ratio_vs_stateful"] for size in by_size.values()),
        **{f"ratio_vs_stateful_inbox_{inbox}": size["ratio_vs_stateful"] for inbox, size in by_size.items()},
        "by_inbox_size": {str(inbox): size for inbox, size in by_size.items()},
        "target_zero_change_units": 2,
        "target_naive_over_ours": 20,
        "target_ratio_vs_stateful": 1,
        "stateful_batch_modify_threshold": BATCH_MODIFY_THRESHOLD,  # the product's: both file the same way
    }
    emit("labels", figures)


if __name__ == "__main__":
    main()

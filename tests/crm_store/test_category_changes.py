"""A label run that has seen change N has seen every change below N, even with two CRM writers at once."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from crm_store import category_changes
from crm_store.db import session_scope
from crm_store.sqlite_gate import gate_for
from tests.factories import make_contact


def test_a_reader_never_sees_a_later_id_before_an_earlier_one_commits(engine):
    with session_scope(engine) as session:
        first, second = make_contact(session, "a@acme.example").id, make_contact(session, "b@acme.example").id

    slow = engine.connect()
    slow_tx = slow.begin()
    category_changes.record(slow, [first])  # id 1 allocated, not committed
    fast_done = threading.Event()

    def fast_writer() -> None:
        with engine.begin() as connection:
            category_changes.record(connection, [second])  # id 2
        fast_done.set()

    def reader() -> None:
        seen.append(_latest(engine))

    writer = threading.Thread(target=fast_writer)
    writer.start()
    # The fast writer has done what it can: committed id 2 (what PostgreSQL without the lock would do) or queued
    # behind the slow one. Only then may the reader look.
    wait_until(lambda: fast_done.is_set() or writers_waiting(engine) >= 1, "the fast writer committed or queued")
    seen: list[int] = []
    looking = threading.Thread(target=reader)
    looking.start()
    # Likewise the reader: it answered, or it waits for the slow writer (a lock on PostgreSQL).
    wait_until(lambda: not looking.is_alive() or writers_waiting(engine) >= 2, "the reader answered or queued")
    # Whatever the database, the reader must not report id 2 while id 1 is still uncommitted.
    if not looking.is_alive():
        assert seen == [0], "a reader saw a change id while an earlier one was uncommitted"
    slow_tx.commit()
    slow.close()
    writer.join(10)
    looking.join(10)
    assert fast_done.is_set() and not looking.is_alive()
    assert _latest(engine) == 2


def writers_waiting(engine) -> int:
    """Connections queued for the change log: PostgreSQL's advisory lock, or SQLite's write gate."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                              "AND NOT granted")).scalar()
    return gate_for(str(Path(engine.url.database).resolve())).waiting


def wait_until(predicate, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.01)


def _latest(engine) -> int:
    with session_scope(engine) as session:
        return category_changes.latest_id(session)


def _mailbox(session, n: int, *, labels: bool = True, next_label_at=None, senders=()) -> int:
    from crm_store.models import GmailAccount, MailboxMessage
    from crm_store.users import get_or_create_user

    user = get_or_create_user(session, f"rep{n}@crm.example")
    account = GmailAccount(crm_user_id=user.id, slack_team_id="T1", slack_user_id=f"U{n}",
                           email_address=f"rep{n}@gmail.example", magnet_enabled=True, labels_enabled=labels,
                           next_label_at=next_label_at)
    session.add(account)
    session.flush()
    for i, sender in enumerate(senders):
        session.add(MailboxMessage(account_id=account.id, gmail_id=f"m{n}-{i}", from_address=sender,
                                   received_at=datetime(2026, 11, 30, tzinfo=timezone.utc)))
    return account.id


def _next_label_runs(engine) -> dict[int, datetime | None]:
    from crm_store.models import GmailAccount

    with session_scope(engine) as session:
        return {a.id: a.next_label_at for a in session.exec(select(GmailAccount)).all()}


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(minutes=10)


def test_a_change_brings_forward_the_label_runs_of_the_mailboxes_with_that_contacts_mail(engine):
    with session_scope(engine) as session:
        ana = make_contact(session, "ana@acme.example", secondary="ana@home.example").id
        make_contact(session, "bob@bolt.example")
        by_primary = _mailbox(session, 1, next_label_at=LATER, senders=["ana@acme.example"])
        by_secondary = _mailbox(session, 2, next_label_at=LATER, senders=["ana@home.example"])
        other_contact = _mailbox(session, 3, next_label_at=LATER, senders=["bob@bolt.example"])
        labels_off = _mailbox(session, 4, labels=False, next_label_at=LATER, senders=["ana@acme.example"])
        due_already = _mailbox(session, 5, next_label_at=None, senders=["ana@acme.example"])
    with engine.begin() as connection:
        category_changes.record(connection, [ana])
    with session_scope(engine) as session:
        latest = category_changes.latest_id(session)

    assert category_changes.bring_refiling_forward(engine, latest, latest, NOW) == 0  # nothing new
    assert category_changes.bring_refiling_forward(engine, 0, latest, NOW) == 2
    runs = _next_label_runs(engine)
    assert _aware(runs[by_primary]) == NOW and _aware(runs[by_secondary]) == NOW
    assert _aware(runs[other_contact]) == LATER and _aware(runs[labels_off]) == LATER
    assert runs[due_already] is None  # due already: left as it is


def test_a_change_of_many_contacts_brings_every_labelled_mailbox_forward(engine, monkeypatch):
    monkeypatch.setattr(category_changes, "MANY_CONTACTS", 1)
    with session_scope(engine) as session:
        contacts = [make_contact(session, f"c{i}@acme.example").id for i in range(2)]
        quiet = _mailbox(session, 1, next_label_at=LATER, senders=["someone@else.example"])
        labels_off = _mailbox(session, 2, labels=False, next_label_at=LATER)
    with engine.begin() as connection:
        category_changes.record(connection, contacts)
    assert category_changes.bring_refiling_forward(engine, 0, 2, NOW) == 1
    runs = _next_label_runs(engine)
    assert _aware(runs[quiet]) == NOW and _aware(runs[labels_off]) == LATER


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment

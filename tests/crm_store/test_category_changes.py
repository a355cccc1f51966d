"""A label run that has seen change N has seen every change below N, even with two CRM writers at once."""
from __future__ import annotations

import threading

from crm_store import category_changes
from crm_store.db import session_scope
from tests.factories import make_contact


def test_a_reader_never_sees_a_later_id_before_an_earlier_one_commits(engine):
    with session_scope(engine) as session:
        first, second = make_contact(session, "a@acme.example").id, make_contact(session, "b@acme.example").id

    slow = engine.connect()
    slow_tx = slow.begin()
    category_changes.record(slow, [first])  # id 1 allocated, not committed
    fast_started = threading.Event()
    fast_done = threading.Event()

    def fast_writer() -> None:
        fast_started.set()
        with engine.begin() as connection:
            category_changes.record(connection, [second])  # id 2
        fast_done.set()

    writer = threading.Thread(target=fast_writer)
    writer.start()
    fast_started.wait(5)
    fast_done.wait(0.5)  # PostgreSQL without the lock would commit id 2 here; SQLite makes it wait
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(_latest(engine)))
    reader.start()
    # Whatever the database, the reader must not report id 2 while id 1 is still uncommitted.
    reader.join(0.5)
    if not reader.is_alive():
        assert seen == [0], "a reader saw a change id while an earlier one was uncommitted"
    slow_tx.commit()
    slow.close()
    writer.join(10)
    reader.join(10)
    assert fast_done.is_set() and not reader.is_alive()
    assert _latest(engine) == 2


def _latest(engine) -> int:
    with session_scope(engine) as session:
        return category_changes.latest_id(session)

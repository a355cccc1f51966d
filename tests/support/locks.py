"""Waiting for another transaction to be blocked on a row lock (PostgreSQL), so a test can force an interleaving
instead of hoping for it. SQLite has one writer at a time: there is nothing to wait for (the writer queues).
The two sides run on threads of their own (`in_thread`) and stop where the test wants them (`Pause`)."""
from __future__ import annotations

import threading
import time

import sqlalchemy as sa

_WAITING = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")


def waiting_for_locks(engine) -> int:
    """How many sessions of this database wait for a lock now (0 on SQLite)."""
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as connection:
        return connection.execute(_WAITING).scalar_one()


def wait_until_waiting_for_a_lock(engine, count: int = 1, timeout: float = 30.0) -> None:
    """Until `count` sessions wait for a lock (PostgreSQL); at once on SQLite. A state looked at, not a delay."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while waiting_for_locks(engine) < count:
        assert time.monotonic() < deadline, "no session started waiting for a lock"
        time.sleep(0.005)


# Seconds any one step of an interleaving may take before the test fails (a hang is a failure, not a wait).
WAIT = 30


def in_thread(target):
    """`target()` started on a thread; the box gets its "value" or its "error"."""
    box: dict = {}

    def run():
        try:
            box["value"] = target()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def finished(thread, box):
    thread.join(WAIT)
    assert not thread.is_alive()
    return box


class Pause:
    """Stops a thread at one point until `go` is set; `reached` says it is there."""

    def __init__(self):
        self.reached, self.go = threading.Event(), threading.Event()

    def here(self):
        self.reached.set()
        assert self.go.wait(WAIT)

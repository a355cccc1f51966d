"""One writer at a time per SQLite file in this process, taking turns in order, Slack requests first.

SQLite lets one connection write at a time. A writer that finds the file locked is put to sleep by SQLite's busy
handler in growing steps (1, 2, 5, 10, … 100 ms) and tries again; under a steady stream of writers (the polling
sweep, the sync pipeline) a Slack request's single INSERT can sleep through several other transactions and wake
late after each. Here writers queue for a process-wide gate instead: taken at a transaction's first write
statement, handed over the moment the holder's commit or rollback returns, and to a waiting Slack request
before any waiting background writer. Readers never wait (WAL).

The gate is taken and given back by the DB-API connection itself (`sqlite3.connect(factory=GatedConnection)`): its
cursors take it before a write statement, and its commit or rollback gives it back once SQLite's lock is released.
Not by a SQLAlchemy `before_cursor_execute` event, as it was: any such event makes SQLAlchemy look up its event
hooks at every statement, begin and commit of the engine (issue 17: a tenth of a simple read's CPU).
Other processes on the same file still meet SQLite's busy handler, as before.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque

log = logging.getLogger(__name__)

_READ_ONLY_PREFIXES = ("SELECT", "PRAGMA", "EXPLAIN")
# As long as SQLite's own busy_timeout: a holder that never lets go (it waits for another thread's write) must not
# hang the others; past this they go on without the gate and SQLite decides, as it did before.
GATE_TIMEOUT_SECONDS = 30.0

_local = threading.local()


def writes_first() -> None:
    """Mark the calling thread as serving Slack requests: its writes go before queued background writes.
    Meant as a thread pool's initializer."""
    _local.first = True


class _Waiter:
    """A writer queued for the gate: its own lock, released by the writer that hands the gate over to it."""

    __slots__ = ("ident", "lock", "handed")

    def __init__(self, ident: int):
        self.ident = ident
        self.lock = threading.Lock()
        self.lock.acquire()
        self.handed = False


class WriteGate:
    """A reentrant lock handed over in turn: to the longest-waiting `writes_first` thread, else to the
    longest-waiting other one.

    A release wakes exactly the next writer (its own lock), not every waiter: with a condition and `notify_all`,
    each commit woke the whole queue (ten writers at 30 pushes a second) to find out which one may go, and each
    woken thread had to get the interpreter lock only to sleep again, while the writer that may go waited for it
    behind them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: int | None = None
        self._depth = 0
        self._first: deque[_Waiter] = deque()
        self._others: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        """Writers queued right now."""
        with self._lock:
            return len(self._first) + len(self._others)

    def acquire(self, timeout: float = GATE_TIMEOUT_SECONDS) -> bool:
        """True once this thread holds the gate; False after `timeout` (the caller goes on without it)."""
        me = threading.get_ident()
        with self._lock:
            if self._holder == me:  # a second connection of the same thread: SQLite itself decides
                self._depth += 1
                return True
            if self._holder is None:  # never free while writers queue: a release hands it straight on
                self._holder, self._depth = me, 1
                return True
            waiter = _Waiter(me)
            queue = self._first if getattr(_local, "first", False) else self._others
            queue.append(waiter)
        if waiter.lock.acquire(timeout=timeout):
            return True
        with self._lock:
            if waiter.handed:  # handed over as the wait ran out: ours after all
                return True
            queue.remove(waiter)
        log.warning("waited %.0f s for the SQLite write gate; writing without it", timeout)
        return False

    def release(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth:
                return
            queue = self._first or self._others
            if not queue:
                self._holder = None
                return
            waiter = queue.popleft()
            self._holder, self._depth, waiter.handed = waiter.ident, 1, True
            waiter.lock.release()


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def gate_for(database: str) -> WriteGate:
    with _gates_lock:
        return _gates.setdefault(database, WriteGate())


class GatedCursor(sqlite3.Cursor):
    """A cursor of a GatedConnection: a write statement waits for the gate (held until the transaction ends)."""

    def execute(self, sql, parameters=(), /):
        if is_write(sql):
            self.connection.take_gate()
        return super().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        if is_write(sql):
            self.connection.take_gate()
        return super().executemany(sql, seq_of_parameters)


class GatedConnection(sqlite3.Connection):
    """A sqlite3 connection whose cursors take the gate at a write, and that gives it back once its transaction has
    ended."""

    gate: WriteGate | None = None
    holds_gate = False

    def take_gate(self) -> None:
        if not self.holds_gate and self.gate is not None:
            self.holds_gate = self.gate.acquire()

    def _give_back(self) -> None:
        if self.holds_gate:
            self.holds_gate = False
            self.gate.release()

    def cursor(self, factory=GatedCursor):  # sqlite3's own `execute` shortcut makes its cursor here too
        return super().cursor(factory)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_back()


def is_write(statement: str) -> bool:
    """Anything but a plain read counts as a write: taking the gate for nothing costs a turn, missing a write
    could deadlock a gated writer against SQLite's lock."""
    return not statement.lstrip().upper().startswith(_READ_ONLY_PREFIXES)


def install(engine, database: str) -> None:
    """Gate the writes of `engine`'s connections to `database` (a file path)."""
    import sqlalchemy as sa

    gate = gate_for(database)

    @sa.event.listens_for(engine, "connect")
    def attach(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, GatedConnection):
            dbapi_connection.gate = gate

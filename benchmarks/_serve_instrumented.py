"""`mailmagnet serve` with counters, for the capacity benchmark's profile run (`benchmarks/capacity.py --profile`).

    python -m benchmarks._serve_instrumented serve --port N      (BENCH_COUNTERS_FILE=/path/counters.json)

Counts, without touching the product: SQL statements by kind (verb, table, and for an UPDATE its first column),
transactions that wrote and those that only read, and the time threads spent waiting for a pooled connection and
for the SQLite write gate (crm_store/sqlite_gate.py). Written as JSON to $BENCH_COUNTERS_FILE every half second,
so the benchmark can take the difference over a window. The counting costs CPU: the headline figures come from a
run without it.
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import Counter

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

_counts: Counter = Counter()
_seconds: Counter = Counter()
_lock = threading.Lock()
_long_holds: list[dict] = []  # the SQLite write gate held over 100 ms (the newest 200)

_VERB = re.compile(r"^\s*(\w+)")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+\"?(\w+)", re.IGNORECASE)
_SET = re.compile(r"\bSET\s+\"?(\w+)", re.IGNORECASE)
_READS = ("SELECT", "PRAGMA", "EXPLAIN", "BEGIN", "SAVEPOINT", "RELEASE", "SHOW")


def statement_kind(statement: str) -> str:
    verb = (_VERB.match(statement) or [None, "?"])[1].upper()
    if verb == "WITH":  # the lease claim: WITH picked AS (SELECT …) UPDATE …
        verb = "UPDATE" if re.search(r"\)\s*UPDATE\b", statement, re.IGNORECASE) else "SELECT"
    if verb == "UPDATE":
        # The table the SET belongs to: PostgreSQL's lease claim says FOR UPDATE SKIP LOCKED before it.
        table = re.search(r"\bUPDATE\s+\"?(\w+)\"?\s+SET\b", statement, re.IGNORECASE)
        column = _SET.search(statement)
        return f"UPDATE {table[1] if table else '?'} SET {column[1] if column else '?'}"
    table = _TABLE.search(statement)
    return f"{verb} {table[1] if table else ''}".strip()


def _add(key: str, n: int = 1) -> None:
    with _lock:
        _counts[key] += n


def _wait(key: str, seconds: float) -> None:
    with _lock:
        _counts[key] += 1
        _seconds[key] += seconds
        for bound in (0.001, 0.01, 0.1, 1.0):
            if seconds > bound:
                _counts[f"{key} over {bound * 1000:g} ms"] += 1


@event.listens_for(Engine, "before_cursor_execute")
def _count_statement(conn, cursor, statement, parameters, context, executemany) -> None:
    _add("statement " + statement_kind(statement))
    _add("statements")
    if not statement.lstrip().upper().startswith(_READS):
        conn.info["wrote"] = True


@event.listens_for(Engine, "connect")
def _count_connect(dbapi_connection, record) -> None:
    _add("connections opened")


@event.listens_for(Engine, "commit")
def _count_commit(conn) -> None:
    _add("transactions that wrote" if conn.info.pop("wrote", False) else "transactions that only read")


@event.listens_for(Engine, "rollback")
def _count_rollback(conn) -> None:
    _add("rollbacks after a write" if conn.info.pop("wrote", False) else "rollbacks (read only, or returned to pool)")


_do_get = QueuePool._do_get


def _timed_do_get(self):
    started = time.perf_counter()
    try:
        return _do_get(self)
    finally:
        _wait("pool checkout", time.perf_counter() - started)


QueuePool._do_get = _timed_do_get

if os.environ.get("BENCH_SQLITE_POOL_SIZE"):  # an A/B experiment: SQLite's pool sized like PostgreSQL's or larger
    from crm_store import db as _db

    _create = _db.create_db_engine

    def _create_with_pool(url, **kwargs):
        if _db.is_sqlite(url):
            kwargs.setdefault("pool_size", int(os.environ["BENCH_SQLITE_POOL_SIZE"]))
            kwargs.setdefault("max_overflow", int(os.environ.get("BENCH_SQLITE_MAX_OVERFLOW", "0")))
        return _create(url, **kwargs)

    _db.create_db_engine = _create_with_pool

try:
    from crm_store import sqlite_gate

    _acquire = sqlite_gate.WriteGate.acquire

    def _timed_acquire(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return _acquire(self, *args, **kwargs)
        finally:
            _wait("sqlite write gate", time.perf_counter() - started)

    sqlite_gate.WriteGate.acquire = _timed_acquire

    # The gate's long holds: which thread held it, for which first write, and how much of the hold was the COMMIT
    # itself (SQLite checkpoints the WAL inside the commit that crosses wal_autocheckpoint).
    _gate_local = threading.local()
    _is_write, _take_gate = sqlite_gate.is_write, sqlite_gate.GatedConnection.take_gate
    _commit, _give_back = sqlite_gate.GatedConnection.commit, sqlite_gate.GatedConnection._give_back

    def _noting_is_write(statement: str) -> bool:
        write = _is_write(statement)
        if write:
            _gate_local.statement = statement
        return write

    def _noting_take_gate(self) -> None:
        held = self.holds_gate
        _take_gate(self)
        if self.holds_gate and not held:
            _gate_local.taken = time.perf_counter()
            _gate_local.first = statement_kind(getattr(_gate_local, "statement", "?"))

    def _timed_commit(self) -> None:
        _gate_local.commit_started = time.perf_counter()
        try:
            _commit(self)
        finally:
            _gate_local.commit_started = None

    def _noting_give_back(self) -> None:
        if self.holds_gate:
            now = time.perf_counter()
            held = now - getattr(_gate_local, "taken", now)
            if held > 0.1:
                started = getattr(_gate_local, "commit_started", None)  # None: a rollback gave it back
                with _lock:
                    _long_holds.append({"at": round(time.time(), 2), "held_ms": round(1000 * held, 1),
                                        "commit_ms": round(1000 * (now - started), 1) if started else None,
                                        "thread": threading.current_thread().name,
                                        "first_write": getattr(_gate_local, "first", "?")})
                    del _long_holds[:-200]
        _give_back(self)

    sqlite_gate.is_write = _noting_is_write
    sqlite_gate.GatedConnection.take_gate = _noting_take_gate
    sqlite_gate.GatedConnection.commit = _timed_commit
    sqlite_gate.GatedConnection._give_back = _noting_give_back
except ImportError:  # pragma: no cover - the product without a gate
    pass


def snapshot() -> dict:
    with _lock:
        return {"counts": dict(_counts), "wait_seconds": {k: round(v, 4) for k, v in _seconds.items()},
                "long_gate_holds": list(_long_holds), "time": time.time()}


def _dump_forever(path: str) -> None:
    while True:
        temporary = path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(snapshot(), handle)
        os.replace(temporary, path)
        time.sleep(0.5)


def main() -> int:
    path = os.environ.get("BENCH_COUNTERS_FILE")
    if path:
        threading.Thread(target=_dump_forever, args=(path,), name="bench-counters", daemon=True).start()
    from bot.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())

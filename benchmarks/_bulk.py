"""Helpers for the data-side benchmarks (not a benchmark itself: run_all skips names starting with "_").

- `copy_crm`: a private copy of the categories data set (200k contacts / 600k deals, benchmarks/.data), made
  with SQLite's backup API, so a benchmark can write to it without spoiling the cache;
- `DbClock`: how long the database itself worked (every execute and fetch of every SQLite connection an engine
  opens, summed over threads), for "DB time" figures;
- `insert_rows`: bulk inserts with the bare DB-API cursor (SQLite executemany, PostgreSQL COPY).
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from benchmarks import categories


def copy_crm(dest: Path) -> str:
    """A copy of the categories benchmark's SQLite data set at `dest`; returns its URL."""
    source_path = categories.sqlite_url().removeprefix("sqlite:///")
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return f"sqlite:///{dest}"


class DbClock:
    """Time spent inside SQLite calls (execute, executemany, fetch*, commit) by every connection of the engines
    it is attached to, summed over threads. Two figures: `seconds`, the wall time inside the calls, which with
    several threads includes waiting for SQLite's write lock (busy_timeout) and for the GIL when sqlite3 hands
    back each row; and `cpu_seconds`, the calling threads' CPU time inside them, the database's own work."""

    def __init__(self, by_statement: bool = False) -> None:
        self._lock = threading.Lock()
        self.seconds = 0.0  # wall time inside the calls, waits included
        self.cpu_seconds = 0.0  # the calling threads' CPU time inside the calls: the database's own work
        self.calls = 0
        self.by_statement: dict[str, list] | None = {} if by_statement else None  # SQL -> [calls, seconds]
        clock = self

        class TimedCursor(sqlite3.Cursor):
            statement = ""

            def _timed(self, method, *args):
                started, cpu = time.perf_counter(), time.thread_time()
                try:
                    return method(self, *args)
                finally:
                    clock.add(time.perf_counter() - started, self.statement, time.thread_time() - cpu)

            def execute(self, *args):
                self.statement = args[0] if args else ""
                return self._timed(sqlite3.Cursor.execute, *args)

            def executemany(self, *args):
                self.statement = args[0] if args else ""
                return self._timed(sqlite3.Cursor.executemany, *args)

            def fetchone(self):
                return self._timed(sqlite3.Cursor.fetchone)

            def fetchmany(self, *args):
                return self._timed(sqlite3.Cursor.fetchmany, *args)

            def fetchall(self):
                return self._timed(sqlite3.Cursor.fetchall)

        class TimedConnection(sqlite3.Connection):
            def cursor(self, factory=TimedCursor):
                return super().cursor(factory)

            def execute(self, *args):
                return self.cursor().execute(*args)

            def commit(self):
                started, cpu = time.perf_counter(), time.thread_time()
                try:
                    return super().commit()
                finally:
                    clock.add(time.perf_counter() - started, "COMMIT", time.thread_time() - cpu)

        self.connection_class = TimedConnection

    def add(self, seconds: float, statement: str = "", cpu_seconds: float = 0.0) -> None:
        with self._lock:
            self.seconds += seconds
            self.cpu_seconds += cpu_seconds
            self.calls += 1
            if self.by_statement is not None:
                entry = self.by_statement.setdefault(" ".join(statement.split())[:160], [0, 0.0, 0.0])
                entry[0] += 1
                entry[1] += seconds
                entry[2] += cpu_seconds

    def reset(self) -> None:
        with self._lock:
            self.seconds = 0.0
            self.cpu_seconds = 0.0
            self.calls = 0
            if self.by_statement is not None:
                self.by_statement.clear()

    def top(self, count: int = 10) -> list[tuple[str, int, float, float]]:
        """The statements with the most database CPU time in total: (SQL, calls, CPU seconds, wall seconds)."""
        items = sorted((self.by_statement or {}).items(), key=lambda item: -item[1][2])
        return [(sql, calls, round(cpu, 3), round(seconds, 3)) for sql, (calls, seconds, cpu) in items[:count]]

    def attach(self, engine: Engine) -> Engine:
        """Connections the engine opens from now on are timed (SQLite only)."""
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "do_connect", self._with_factory)
        return engine

    def _with_factory(self, dialect, conn_rec, cargs, cparams) -> None:
        cparams["factory"] = self.connection_class


def insert_rows(engine: Engine, table: str, columns: Sequence[str], rows: Iterable[tuple],
                batch: int = 50_000) -> int:
    """Bulk insert through the bare driver: SQLite executemany in batches (one transaction), PostgreSQL COPY."""
    count = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        else:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            chunk: list[tuple] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == batch:
                    cursor.executemany(sql, chunk)
                    count += len(chunk)
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
                count += len(chunk)
        raw.commit()
    finally:
        raw.close()
    return count

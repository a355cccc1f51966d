"""SQLite's WAL checkpoints taken off the commit that holds the write gate (issue 17).

In WAL mode SQLite copies the log back into the database file — a checkpoint, with an fsync of both files — inside
the COMMIT of whichever connection takes the log past `wal_autocheckpoint` pages (1,000 by default: every second or
two at 20 alerts a second). That commit runs while its thread holds the process's write gate
(crm_store/sqlite_gate.py), so every writer waits for the disk meanwhile: the push's lease claim, the sync's
transaction, a Slack request's INSERT. The capacity profile at 20 a second (`python -m benchmarks.capacity
--profile 240 --rate 20`, `long_gate_holds`) saw commits holding the gate for 100–1,236 ms while the disk was busy,
and every stage of the push path that writes stalled together, while the one that does not write did not.

Here the gated connections never checkpoint (`PRAGMA wal_autocheckpoint=0`). One thread per process looks at each
gated file's log every CHECK_SECONDS and, when it has changed, runs a PASSIVE checkpoint on a connection of its
own, outside the gate: writers go on appending to the log meanwhile, readers are never blocked, and the next
writer starts the log again from its beginning once it is all copied. The log holds at most about CHECK_SECONDS of
writes, instead of about 4 MB; other processes on the file (the CLI) keep SQLite's own checkpoints.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0


def off_the_commit(dbapi_connection, _record) -> None:
    """A gated connection's commits never checkpoint (a SQLAlchemy "connect" listener)."""
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(database: str) -> tuple[int, int, int] | None:
    """One PASSIVE checkpoint of `database` (a path) on a connection of its own: (busy, frames in the log, frames
    copied), or None when the file is gone or SQLite refused. Never creates the file."""
    try:
        with closing(sqlite3.connect(f"file:{quote(database)}?mode=rw", uri=True, timeout=5)) as connection:
            return tuple(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
    except sqlite3.Error as error:
        if Path(database).exists():
            log.warning("SQLite checkpoint of %s failed: %s", database, error)
        return None


class Checkpointer:
    """The files this process writes with gated connections, and the thread that checkpoints their logs."""

    def __init__(self, every: float = CHECK_SECONDS):
        self.every = every
        self._lock = threading.Lock()
        self._files: dict[str, int] = {}  # database path → its log's mtime (ns) when last checkpointed
        self._thread: threading.Thread | None = None

    def watch(self, database: str) -> None:
        with self._lock:
            self._files.setdefault(database, 0)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
                self._thread.start()

    def watching(self) -> set[str]:
        with self._lock:
            return set(self._files)

    def _run(self) -> None:
        while True:
            time.sleep(self.every)
            try:
                self.run_due()
            except Exception:  # noqa: BLE001 - the thread must outlive one bad look; the next one tries again
                log.exception("SQLite checkpoints")

    def run_due(self) -> int:
        """Checkpoint every watched file whose log changed since its last checkpoint; how many were."""
        with self._lock:
            files = dict(self._files)
        done = 0
        for database, seen in files.items():
            try:
                changed = os.stat(database + "-wal").st_mtime_ns
            except FileNotFoundError:  # no log (yet, or any more): forget a file that is gone
                if not os.path.exists(database):
                    with self._lock:
                        self._files.pop(database, None)
                continue
            # Read before the checkpoint: a commit landing during it changes the mtime again, so it is copied next.
            if changed != seen and checkpoint(database) is not None:
                with self._lock:
                    if database in self._files:
                        self._files[database] = changed
                done += 1
        return done


checkpointer = Checkpointer()

"""A thread taking a second connection from the pool while it holds one (issue 17: `DB_POOL_SIZE`, no overflow).

The PostgreSQL pool is fixed, with no overflow (crm_store/db.py). A path that holds one connection and asks for a
second can then wait forever: with every connection held by a thread doing the same, each waits for another's (and
fails after the pool's timeout). Only the paths the soak and a one-off probe ran had been checked; the test stacks
now watch every checkout of the server's engine, on both databases, and a stack's stop fails its test when a thread
held two at once, naming where it took the second.
"""
from __future__ import annotations

import threading
import traceback
from collections import Counter

from sqlalchemy import event
from sqlalchemy.engine import Engine


# Known, not fixed yet: a use case's session open while the actor's Slack profile is looked up (it is lazy), whose
# Slack client reads the workspace's bot token from the installation store, on a connection of its own (multi-
# workspace mode; found by this watch in `/gmail admin allow`). Each entry is (the file's path ending, the function).
KNOWN = (("bot/slack_clients.py", "bot_token"),)


class NestedCheckouts:
    def __init__(self, engine: Engine, known: tuple[tuple[str, str], ...] = KNOWN):
        self.engine = engine
        self.known = known
        self.known_found = 0  # nested checkouts on a KNOWN path
        self._lock = threading.Lock()
        self._holder: dict[int, int] = {}  # id of the pool's record -> the thread holding it
        self._held: Counter[int] = Counter()  # thread -> connections it holds
        self.found: list[str] = []  # where a thread took its second connection
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)

    def _checkout(self, _dbapi_connection, record, _proxy) -> None:
        me = threading.get_ident()
        with self._lock:
            self._holder[id(record)] = me
            self._held[me] += 1
            nested = self._held[me] > 1
        if nested:
            frames = traceback.extract_stack(limit=40)[:-1]
            known = any(frame.filename.endswith(path) and frame.name == name
                        for frame in frames for path, name in self.known)
            with self._lock:
                if known:
                    self.known_found += 1
                else:
                    where = "".join(traceback.format_list(frames[-30:]))
                    self.found.append(f"thread {threading.current_thread().name}:\n{where}")

    def _checkin(self, _dbapi_connection, record) -> None:
        with self._lock:
            owner = self._holder.pop(id(record), None)
            if owner is not None:
                self._held[owner] -= 1

    def close(self) -> None:
        event.remove(self.engine, "checkout", self._checkout)
        event.remove(self.engine, "checkin", self._checkin)

    def check(self) -> None:
        """Fails when any thread held two connections at once since the watch began."""
        self.close()
        if self.found:
            raise AssertionError(f"{len(self.found)} time(s) a thread took a second pooled connection while holding "
                                 f"one; the first:\n{self.found[0]}")

"""Failpoints: named places in the product where a test may SIGKILL the process (SPEC §9).

The product calls `failpoint("name")` at each narrow window where a crash must lose and duplicate nothing.
Unless the environment names that point, the call is one dict lookup and nothing else.

    MAILMAGNET_FAILPOINTS=slack.post_accepted=kill@3,labels.batch_modified=kill@1,sync.committed=count

Grammar: a comma-separated list of `point=action`, where `action` is
- `kill@N`: SIGKILL this process at the N-th hit of the point in this process (N ≥ 1; `kill` means `kill@1`);
- `count`: never act, only count the hits (below).
Whitespace around items is ignored; an unknown point name, an unknown action or a bad N stops `serve` at start-up
with one line naming the item (the MAILMAGNET_FAILPOINTS setting): a typo would otherwise silently test nothing.

`MAILMAGNET_FAILPOINT_LOG=/path/file`: every hit of a named point appends one line `point pid hit` to the file
(one `write` on an `O_APPEND` descriptor, done before any kill, so it survives the SIGKILL), so a harness counts
the hits per point across processes and restarts (`read_hits`).

The points (where each is called):
- `slack.post_accepted`: Slack accepted an alert's post; its `ts` is not stored yet (gmail/magnet.py);
- `labels.batch_modified`: Gmail applied a label change; the filing is not recorded yet (gmail/labels.py);
- `sync.committed`: a sync's messages and alerts are committed; nothing is delivered yet (gmail/sync.py);
- `sync.cursor_transaction`: inside the transaction that moves a mailbox's history cursor (gmail/sync.py);
- `zoho.page_commit`: inside the transaction that commits a Zoho page and its cursor (crm_sync/zoho_sync.py);
- `slack.digest_posted`: Slack accepted a digest; its alerts are not marked posted yet (gmail/magnet.py);
- `lease.held`: a replica holds a mailbox's lease and has not started its run (bot/jobs.py).
"""
from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from pathlib import Path

ENV_POINTS = "MAILMAGNET_FAILPOINTS"
ENV_LOG = "MAILMAGNET_FAILPOINT_LOG"

POINTS = (
    "slack.post_accepted",
    "labels.batch_modified",
    "sync.committed",
    "sync.cursor_transaction",
    "zoho.page_commit",
    "slack.digest_posted",
    "lease.held",
)

COUNT = 0  # the action "count": kill at no hit


def parse(spec: str) -> dict[str, int]:
    """`point=kill@N,point=count` → {point: N (0: count only)}. Raises ValueError naming a bad item."""
    actions: dict[str, int] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, action = (piece.strip() for piece in item.partition("="))
        if not sep or name not in POINTS:
            raise ValueError(f"{ENV_POINTS}: {item!r} names no failpoint (known: {', '.join(POINTS)})")
        if action == "count":
            actions[name] = COUNT
            continue
        verb, at, hit = action.partition("@")
        if verb != "kill" or (at and not (hit.isascii() and hit.isdigit() and int(hit) >= 1)):
            raise ValueError(f"{ENV_POINTS}: {item!r}: the action is kill@N (N ≥ 1) or count")
        actions[name] = int(hit) if at else 1
    return actions


class Failpoints:
    """The points this process acts on, their hit counts, and the shared hit log."""

    def __init__(self, actions: dict[str, int], log_path: str | None):
        self.actions = actions
        self.log_path = log_path
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hit(self, name: str) -> None:
        with self._lock:
            self.hits[name] += 1
            count = self.hits[name]
        if self.log_path:
            line = f"{name} {os.getpid()} {count}\n".encode()
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        if self.actions[name] == count:
            os.kill(os.getpid(), signal.SIGKILL)


def _from_environment() -> Failpoints:
    try:
        actions = parse(os.environ.get(ENV_POINTS, ""))
    except ValueError:
        actions = {}  # the settings refuse to start with it (bot/settings.py), naming the bad item
    return Failpoints(actions, os.environ.get(ENV_LOG) or None)


_active = _from_environment()


def failpoint(name: str) -> None:
    """A named window (see the module's list): nothing at all unless MAILMAGNET_FAILPOINTS names it."""
    if name in _active.actions:
        _active.hit(name)


def configure(spec: str, log_path: str | None = None) -> Failpoints:
    """Act on `spec` from now on in this process (tests; `serve` reads the environment at import)."""
    global _active
    _active = Failpoints(parse(spec), log_path)
    return _active


def read_hits(log_path: str | Path) -> Counter[str]:
    """Hits per point in a hit log, over every process that wrote to it."""
    path = Path(log_path)
    if not path.exists():
        return Counter()
    return Counter(line.split(" ", 1)[0] for line in path.read_text().splitlines() if line.strip())

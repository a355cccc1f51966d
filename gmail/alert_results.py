"""An alert's result (posted, skipped) in a mailbox run is written with the run's last transaction, the lease's
release (bot/jobs.py), not in a transaction of its own: one write fewer per alert on the push path.

Nothing is lost by waiting: the alert was stamped `attempted_at` and committed before it was posted, so a crash
before the release is crash recovery's, as before (gmail/magnet.py: the channel's history says whether it landed).
Within the run, what was posted and not yet recorded is known here, so the retry of waiting alerts skips it.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_store.models import Alert

@dataclass
class RunAlerts:
    """What one mailbox run's alerts came to, kept for the run's last transaction."""

    results: list[dict] = field(default_factory=list)  # `write_alert_results`' rows
    # The statuses of the mailbox's alerts that waited before this run (read in the sync's transaction), plus
    # "queued for a digest" when this run queued some; None: not read (then `deliver_waiting` reads them).
    waiting: set[str] | None = None
    unposted: bool = False  # an alert of this run's own could not be posted: `deliver_waiting` retries it

    def finished_ids(self) -> set[int]:
        return {row["b_id"] for row in self.results}


_run_alerts: ContextVar[RunAlerts | None] = ContextVar("mailbox_run_alerts", default=None)

_WRITE_RESULT = sa.update(Alert.__table__).where(Alert.__table__.c.id == sa.bindparam("b_id")).values(
    status=sa.bindparam("b_status"), slack_ts=sa.bindparam("b_ts"), posted_at=sa.bindparam("b_posted"))


def write_alert_results(connection: Connection, results: list[dict]) -> None:
    """Record alerts' results (one statement, executemany); an alert gone meanwhile (mailbox disconnected) is left
    gone."""
    if results:
        connection.execute(_WRITE_RESULT, results)


def current_run() -> RunAlerts | None:
    """The mailbox run on this thread, if any (None: results are written at once)."""
    return _run_alerts.get()


@contextmanager
def run_alerts() -> Iterator[RunAlerts]:
    """A mailbox run on this thread: its alerts' results are kept for its last transaction."""
    run = RunAlerts()
    token = _run_alerts.set(run)
    try:
        yield run
    finally:
        _run_alerts.reset(token)

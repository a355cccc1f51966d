"""The sync's last chunk is fenced by its cursor UPDATE (issue 17: no SELECT … FOR UPDATE before it): a lease that
runs out while the chunk's transaction is under way rolls back everything the subscribers wrote in it — the stored
message, its alert, its follow-up — and nothing is posted; the replica that takes the mailbox over does it once."""
from __future__ import annotations

import time
from datetime import timedelta

from sqlmodel import select

from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Job
from crm_store.models import Alert, Followup, MailboxMessage, utcnow
from testsupport.stack import REP
from tests.support.alerts import CONTACTS, DEALS, alerts_in
from usecases.mailbox_run import MailboxRunner

LEASE_SECONDS = 60
STALL_SECONDS = 0.6


class StallAfterRecording:
    """A subscriber after the others: their rows are written in the chunk's transaction when it stalls, so the lease
    runs out between them and the cursor's UPDATE."""

    def __init__(self):
        self.stalls = 0

    def record(self, connection, batch) -> None:
        if self.stalls == 0:
            self.stalls += 1
            time.sleep(STALL_SECONDS)

    def deliver(self, batch, mailbox) -> None:
        pass


def stored(engine, account_id):
    with session_scope(engine) as session:
        return tuple(len(session.exec(select(model).where(model.account_id == account_id)).all())
                     for model in (MailboxMessage, Alert, Followup))


def test_a_lease_that_runs_out_inside_the_last_chunk_commits_nothing_and_posts_nothing(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    account_id = live.connect_with_magnet()
    live.mail('"Jane Doe" <jane@acme.example>', "Renewal question")
    runner = MailboxRunner(live.services)
    stall = StallAfterRecording()
    runner.pipeline.subscribers.append(stall)
    # Replica A's lease has a fraction of a second left: valid when the run opens and records, gone at its UPDATE.
    almost_over = utcnow() - timedelta(seconds=LEASE_SECONDS - STALL_SECONDS / 3)
    assert leases.claim(live.engine, "replica-a", Job.SYNC, limit=1, lease_seconds=LEASE_SECONDS, force=True,
                        account_ids=[account_id], now=almost_over) == [account_id]

    late = runner.run(account_id, Job.SYNC, lease_owner="replica-a")
    assert stall.stalls == 1
    assert late.sync.status == "lease_lost"
    assert stored(live.engine, account_id) == (0, 0, 0)  # the message, its alert and its follow-up rolled back
    assert alerts_in(live, live.slack.dm_channel("T0001", REP)) == []

    assert leases.claim(live.engine, "replica-b", Job.SYNC, limit=1, lease_seconds=LEASE_SECONDS, force=True,
                        account_ids=[account_id]) == [account_id]
    holder = runner.run(account_id, Job.SYNC, lease_owner="replica-b")
    assert holder.sync.status == "synced" and holder.sync.new_messages == 1
    assert stored(live.engine, account_id) == (1, 1, 1)
    assert len(alerts_in(live, live.slack.dm_channel("T0001", REP))) == 1

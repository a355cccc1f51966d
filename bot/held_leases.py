"""The mailbox leases this replica holds (bot/jobs.py's `Jobs` is built on this): renewing those of the runs in
flight, a queued run's look that its lease is still this replica's, who holds a mailbox now, and freeing the leases
of dead processes on this host.

The renewals are the one periodic job that stays on the scheduler's loop: anything slow there lets the leases of
running work run out mid-run (LeaseLost, or another replica takes the mailbox over). What else runs periodically
goes to threads of its own (bot/periodic.py, `start_upkeep`).
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import select

from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Lease
from crm_store.models import AccountStatus, GmailAccount

log = logging.getLogger(__name__)


class HeldLeases:
    def _renew_leases(self) -> None:
        with self._lock:
            held = list(self._in_flight)
        leases.renew(self.services.engine, self.owner, held, self.lease_seconds)

    def _lost_while_queued(self, lease: Lease) -> bool:
        """A run that waited a lease's length to start (its renewals may not have come: the scheduler's loop held
        up) renews the lease first: kept when still this replica's, nobody having claimed it, so the push's run is
        not wasted; lost when another replica took the mailbox over, and then the run asks Gmail nothing."""
        if self.clock() < lease.claimed_at + timedelta(seconds=self.lease_seconds):
            return False
        return not leases.renew(self.services.engine, self.owner, [lease.account_id], self.lease_seconds)

    def _lease_holders(self, account_ids: list[int]) -> dict[int, str | None]:
        """Who holds each (still connected) mailbox's lease now; None: nobody."""
        if not account_ids:
            return {}
        now = self.clock()
        with session_scope(self.services.engine) as session:
            rows = session.exec(select(GmailAccount.id, GmailAccount.lease_owner, GmailAccount.lease_expires_at)
                                .where(GmailAccount.id.in_(account_ids),
                                       GmailAccount.status == AccountStatus.CONNECTED.value)).all()
        return {account_id: owner if expires is not None and expires >= now else None
                for account_id, owner, expires in rows}

    def release_dead_leases(self) -> int:
        """Free the leases of dead processes on this host; wakes the loop to take their mailboxes. Never raises:
        it runs once at start (a restarted replica takes its predecessor's mailboxes at once), then on the upkeep
        threads (a slow database look never holds up the renewals)."""
        try:
            freed = leases.release_dead(self.services.engine)
        except Exception:  # noqa: BLE001 - the database is away: the leases expire as before
            log.warning("could not look for the leases of dead replicas", exc_info=True)
            return 0
        if freed:
            log.info("%d leases of dead replicas on this host freed", freed)
            self._wake.set()
        return freed

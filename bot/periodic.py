"""The scheduler's periodic jobs besides mailbox runs (bot/jobs.py's `Jobs` is built on this): the Zoho CRM sync on
its own thread, telling admins of mailbox incidents, bringing label runs forward after CRM changes, the weekly
response-time digests, housekeeping. What each does is in usecases/ (`upkeep`, `overview`, `response_digest`);
here is only when and on which thread, and that none of them ever stops the scheduler's loop.

The loop also renews the leases of the mailbox runs in flight: what may be slow (housekeeping's deletes, the Slack
calls to the admins, the looks at the CRM's change log and for dead replicas' leases, the digests) runs on threads of
its own, never on the loop (`start_upkeep`; the digests on the push pool).
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Callable

from telemetry.log_context import in_job
from usecases import upkeep

log = logging.getLogger(__name__)


class PeriodicJobs:
    def start_crm_sync(self) -> bool:
        """Start a Zoho CRM sync unless one is running here (another replica's run holds the database lease:
        this one then ends at once, "skipped")."""
        with self._lock:
            if self._stopping.is_set() or (self._crm_run is not None and not self._crm_run.done()):
                return False
            self._crm_run = self._crm_pool.submit(in_job("crm_sync", None, self._crm_sync))
        return True

    def _crm_sync(self):
        return upkeep.scheduled_crm_sync(self.services, owner=self.owner, stopping=self._stopping.is_set)

    def start_upkeep(self, name: str, work: Callable[[], object]) -> bool:
        """Run `work` on the upkeep threads, off the scheduler's loop: on the loop, a slow housekeeping (a large
        retention batch), a slow Slack call to the admins or a slow query (the refile trigger, the dead replicas'
        leases) held up the renewals of the leases of the runs in flight until they ran out mid-run
        (tests/bot/test_upkeep_off_loop.py). One run of each job at a time: a beat
        that comes while its last run goes on is skipped. Never raises."""
        with self._lock:
            last = self._upkeep_runs.get(name)
            if self._stopping.is_set() or (last is not None and not last.done()):
                return False
            try:
                self._upkeep_runs[name] = self._upkeep_pool.submit(in_job(name, None, partial(_logged, name, work)))
            except RuntimeError:  # shut down: stopping
                return False
        return True

    def tell_admins(self) -> int:
        """DM the admins of each new mailbox incident, once across replicas (usecases/overview.py). Never raises."""
        from usecases.overview import tell_admins_of_incidents

        try:
            return tell_admins_of_incidents(self.services)
        except Exception:  # noqa: BLE001 - the database or Slack: logged; the next check tries again
            log.exception("could not tell the admins of mailbox incidents")
            return 0

    def refile_changed(self) -> int:
        """Bring label runs forward after CRM category changes (`upkeep.RefileTrigger`); wakes the loop if any."""
        brought = self._refile.check()
        if brought:
            self._wake.set()
        return brought

    def send_response_digests(self, *, force: bool = False) -> int:
        """Send the digests that are due (usecases/response_digest.py); returns how many were sent."""
        from usecases.response_digest import due_digests

        sent = 0
        try:
            for digest in due_digests(self.services, self.clock(), force=force):
                try:
                    self.services.notifier.send_response_digest(digest)
                    sent += 1
                except Exception as error:  # noqa: BLE001 - one recipient's failure never stops the others
                    log.warning("response-time digest to %s not sent: %s", digest.recipient_slack_id, error)
        except Exception:  # noqa: BLE001 - the next check tries again
            log.exception("response-time digests failed")
        return sent

    def housekeeping(self) -> None:
        upkeep.housekeeping(self.services)


def _logged(name: str, work: Callable[[], object]) -> object:
    """On an upkeep thread nobody reads the result: a failure is logged, and the next beat tries again."""
    try:
        return work()
    except Exception:  # noqa: BLE001 - the database or a bug: the next beat tries again
        log.exception("%s failed; the next beat tries again", name)
        return None

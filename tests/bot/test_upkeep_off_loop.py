"""Slow periodic work never holds up the renewal of the leases of runs in flight (red team of the mailbox run, item 2,
and its leftovers).

Housekeeping (a large retention batch), telling the admins of incidents (a slow Slack call), the look at the CRM's
category changes that brings label runs forward and the look for the leases of dead replicas (slow queries) ran on
the scheduler's loop, which also renews the leases of the runs in flight: while one of them ran, no renewal came,
the leases ran out and another replica took the mailboxes over mid-run (fenced, but wasted work and late alerts).
Here the slow job is made to block until the test lets it go, while a run holds its mailbox; the run's lease must
still be renewed, the slow job must not be started a second time while it runs, and stopping afterwards hands the
lease back. The two looks that `start` also makes once (the first look at the change log: "changes from here on";
the dead replicas' leases: a restarted replica takes its predecessor's mailboxes at once) pass; the beats after
them block."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

import bot.jobs as jobs_module
import usecases.overview as overview
from bot.jobs import Jobs, RunOutcome
from bot.services import build_services
from crm_store import leases
from crm_store.db import session_scope
from crm_store.leases import Job
from crm_store.models import GmailAccount
from usecases import upkeep

LEASE_SECONDS = 15  # renewed every 5 s (bot/jobs.py: a third of the lease, at least 5 s)
WAIT = 30


def lease_of(engine, account_id):
    with session_scope(engine) as session:
        account = session.get(GmailAccount, account_id)
        return account.lease_owner, account.lease_expires_at


def eventually(condition) -> bool:
    """Polls `condition` until it holds or WAIT seconds passed (a wait, not a measure of time)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class SlowJob:
    """Stands in for the periodic job: counts its calls; after the first `free` ones, blocks until `go` is set."""

    def __init__(self, free: int = 0):
        self.calls, self.free = 0, free
        self.started, self.go = threading.Event(), threading.Event()

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.free:
            self.started.set()
            assert self.go.wait(3 * WAIT)
        return 0


def make_slow(monkeypatch, which: str) -> SlowJob:
    if which == "housekeeping":
        slow = SlowJob()
        monkeypatch.setattr(jobs_module, "HOUSEKEEPING_SECONDS", 1)
        monkeypatch.setattr(upkeep, "housekeeping", slow)
    elif which == "tell_admins":
        slow = SlowJob()
        monkeypatch.setattr(jobs_module, "INCIDENT_CHECK_SECONDS", 1)
        monkeypatch.setattr(overview, "tell_admins_of_incidents", slow)
    elif which == "refile":
        slow = SlowJob(free=1)  # the first look, made by `start`
        monkeypatch.setattr(jobs_module, "REFILE_CHECK_SECONDS", 1)
        monkeypatch.setattr(upkeep.RefileTrigger, "check", slow)
    else:
        slow = SlowJob(free=1)  # the look `start` makes
        monkeypatch.setattr(jobs_module, "DEAD_OWNER_CHECK_SECONDS", 1)
        monkeypatch.setattr(leases, "release_dead", slow)
    return slow


@pytest.mark.parametrize("which", ["housekeeping", "tell_admins", "refile", "release_dead_leases"])
def test_a_slow_periodic_job_does_not_hold_up_the_renewal_of_a_running_jobs_lease(live, monkeypatch, which):
    live.add_rep()
    account_id = live.connect_with_magnet()
    settings = live.settings.model_copy(update={"lease_seconds": LEASE_SECONDS, "worker_concurrency": 2})
    jobs = Jobs(build_services(settings), owner="replica-a")
    slow = make_slow(monkeypatch, which)
    running, finish = threading.Event(), threading.Event()

    def held_run(account_id, job, **kwargs):  # a long run: holds its mailbox until the test is done
        running.set()
        assert finish.wait(3 * WAIT)  # past the test's waits: the run never ends (and releases) before the test
        return RunOutcome(account_id, job)

    monkeypatch.setattr(jobs.runner, "run", held_run)
    [lease] = leases.claim_leases(live.engine, jobs.owner, Job.SYNC, limit=1, lease_seconds=LEASE_SECONDS,
                                  account_ids=[account_id], force=True)
    try:
        jobs._submit(lease, Job.SYNC)
        assert running.wait(WAIT)
        jobs.start()
        assert slow.started.wait(WAIT)
        _, before = lease_of(live.engine, account_id)
        assert eventually(lambda: lease_of(live.engine, account_id)[1] > before), \
            f"the running job's lease was not renewed while {which} ran"
        assert slow.calls == slow.free + 1  # its next beats came while it ran: never a second one at once
    finally:
        slow.go.set()
        finish.set()
        jobs.stop()
    assert lease_of(live.engine, account_id)[0] is None  # drained, and the lease handed back


def test_a_restarted_replica_frees_its_dead_predecessors_leases_before_start_returns(live, monkeypatch):
    """The look for dead replicas' leases runs on the upkeep threads now; the one `start` makes is still done before
    `start` returns, so a replica restarted on the same host (same host, the old pid gone) takes the mailboxes its
    predecessor held at once, not a lease's length later."""
    live.add_rep()
    account_id = live.connect_with_magnet()
    monkeypatch.setattr(jobs_module, "DEAD_OWNER_CHECK_SECONDS", 3600)  # no beat: only the look at start
    predecessor = f"{socket.gethostname()}:{os.getpid()}:0"  # this pid, another start time: that process is gone
    assert leases.owner_is_dead(predecessor)
    assert leases.claim_leases(live.engine, predecessor, Job.SYNC, limit=1, lease_seconds=3600,
                               account_ids=[account_id], force=True)
    jobs = Jobs(build_services(live.settings), owner="replica-b")
    try:
        jobs.start()
        assert lease_of(live.engine, account_id)[0] != predecessor
    finally:
        jobs.stop()

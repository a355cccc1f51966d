"""Named job leases (`crm_store.job_leases.claim_job`): one holder at a time, on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import timedelta

from crm_store.db import create_db_engine, session_scope
from crm_store.job_leases import claim_job, job_holder, release_job, renew_job, renew_job_in
from crm_store.models import utcnow


def test_a_lease_is_exclusive_until_released_or_expired(engine):
    now = utcnow()
    assert claim_job(engine, "zoho-sync", "a", lease_seconds=60, now=now)
    assert not claim_job(engine, "zoho-sync", "b", lease_seconds=60, now=now)
    assert claim_job(engine, "zoho-sync", "a", lease_seconds=60, now=now)  # ours: extended
    assert job_holder(engine, "zoho-sync", now) == "a"
    # Another job is another lease.
    assert claim_job(engine, "other-job", "b", lease_seconds=60, now=now)

    # Expired: taken over; the former holder can neither renew nor commit under it.
    later = now + timedelta(seconds=61)
    assert claim_job(engine, "zoho-sync", "b", lease_seconds=60, now=later)
    assert not renew_job(engine, "zoho-sync", "a", lease_seconds=60)
    with session_scope(engine) as session:
        assert not renew_job_in(session.connection(), "zoho-sync", "a", lease_seconds=60)
    assert not release_job(engine, "zoho-sync", "a")
    assert release_job(engine, "zoho-sync", "b")
    assert job_holder(engine, "zoho-sync") is None
    assert claim_job(engine, "zoho-sync", "a", lease_seconds=60)


def test_concurrent_claims_from_separate_engines_never_both_win(database_url):
    rounds, contenders = 15, 6
    engines = [create_db_engine(database_url) for _ in range(contenders)]
    try:
        for round_number in range(rounds):
            name = f"job-{round_number}"
            start = threading.Barrier(contenders)
            winners: list[str] = []
            lock = threading.Lock()

            def contend(index: int) -> None:
                start.wait()
                if claim_job(engines[index], name, f"replica-{index}", lease_seconds=60):
                    with lock:
                        winners.append(f"replica-{index}")

            threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert len(winners) == 1, winners
            assert job_holder(engines[0], name) == winners[0]
    finally:
        for engine in engines:
            engine.dispose()


def _dead_process_owner() -> str:
    """The owner name a replica process had, once that process is gone."""
    import subprocess
    import sys

    script = "from crm_store.leases import replica_owner; print(replica_owner())"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def test_a_dead_replicas_leases_on_this_host_are_freed_at_once_a_live_ones_never(engine):
    """A replica SIGKILLed while holding a mailbox and the Zoho sync: a replica on the same host takes both at once
    instead of waiting a lease period (the Zoho lease is ten minutes); a live replica's leases stay its own, and so
    does the lease of a process elsewhere (another host: it cannot be looked at)."""
    from crm_store.leases import Job, claim, owner_is_dead, release_dead, replica_owner
    from crm_store.models import GmailAccount
    from crm_store.users import get_or_create_user

    dead, alive, elsewhere = _dead_process_owner(), replica_owner(), "another-host:4242:123"
    assert owner_is_dead(dead) and not owner_is_dead(alive) and not owner_is_dead(elsewhere)
    with session_scope(engine) as session:
        for index in range(3):
            user = get_or_create_user(session, f"rep{index}@crm.example")
            session.add(GmailAccount(crm_user_id=user.id, slack_team_id="T1", slack_user_id=f"U{index}",
                                     email_address=f"rep{index}@gmail.example", magnet_enabled=True,
                                     setup_done=True))
    ids = []
    for owner in (dead, alive, elsewhere):
        ids += claim(engine, owner, Job.SYNC, limit=1, lease_seconds=600)
    assert len(ids) == 3
    assert claim_job(engine, "zoho-sync", dead, lease_seconds=600)

    assert release_dead(engine) == 2  # the dead one's mailbox and its Zoho sync
    assert claim(engine, "newcomer", Job.SYNC, limit=3, lease_seconds=600, force=True, account_ids=ids) == [ids[0]]
    assert claim_job(engine, "zoho-sync", "newcomer", lease_seconds=600)
    assert release_dead(engine) == 0


def test_a_running_cli_zoho_sync_is_never_taken_for_a_dead_process(engine):
    """`mailmagnet crm sync zoho` names its lease itself (crm_sync.zoho_sync.default_owner). A `serve` on the same
    host frees the leases of dead processes every two seconds: the CLI's lease, held by this live process, stays."""
    from crm_store.leases import owner_is_dead, release_dead
    from crm_sync.zoho_sync import LEASE_NAME, default_owner

    owner = default_owner()
    assert not owner_is_dead(owner)
    assert claim_job(engine, LEASE_NAME, owner, lease_seconds=600)
    assert release_dead(engine) == 0
    assert job_holder(engine, LEASE_NAME) == owner

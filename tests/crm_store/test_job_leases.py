"""Named job leases (`crm_store.leases.claim_job`): one holder at a time, on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import timedelta

from crm_store.db import create_db_engine, session_scope
from crm_store.leases import claim_job, job_holder, release_job, renew_job, renew_job_in
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

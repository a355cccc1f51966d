"""SPEC §9 with the real `serve` process: SIGKILL mid-work and Gmail faults lose and duplicate nothing.
(The full-size runs — 20 kills, 500 messages — are in benchmarks/reliability.py.)"""
from __future__ import annotations

from testsupport.chaos import fault_scenario, kill_scenario


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(database_url):
    outcome = kill_scenario(database_url, kills=3, messages=30, seed=5)
    assert outcome.messages == 30
    assert (outcome.alerts_lost, outcome.alerts_duplicated, outcome.misfiled) == (0, 0, 0), outcome


def test_a_fifth_of_gmail_calls_failing_loses_and_duplicates_nothing(database_url):
    outcome = fault_scenario(database_url, messages=60)
    assert (outcome.alerts_lost, outcome.alerts_duplicated, outcome.misfiled) == (0, 0, 0), outcome


def test_sigterm_finishes_cleanly_and_hands_the_mailboxes_back(database_url):
    import signal
    import time

    from crm_store.db import session_scope
    from crm_store.models import GmailAccount
    from testsupport.chaos import World

    world = World(database_url)
    serve = world.start_serve()
    try:
        world.mail(0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not world.settled():
            time.sleep(0.1)
        assert world.settled()
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
        with session_scope(world.engine) as session:
            assert session.get(GmailAccount, world.account_id).lease_owner is None
    finally:
        if serve.poll() is None:
            serve.kill()
        world.close()

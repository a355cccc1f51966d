"""SPEC §9 with the real `serve` process: SIGKILL mid-work and Gmail faults lose and duplicate nothing.
(The full-size runs — 20 kills, 500 messages — are in benchmarks/reliability.py.)"""
from __future__ import annotations

from sandbox.chaos import fault_scenario, kill_scenario


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(database_url):
    outcome = kill_scenario(database_url, kills=3, messages=30, seed=5)
    assert outcome.messages == 30
    assert (outcome.alerts_lost, outcome.alerts_duplicated, outcome.misfiled) == (0, 0, 0), outcome


def test_a_fifth_of_gmail_calls_failing_loses_and_duplicates_nothing(database_url):
    outcome = fault_scenario(database_url, messages=60)
    assert (outcome.alerts_lost, outcome.alerts_duplicated, outcome.misfiled) == (0, 0, 0), outcome

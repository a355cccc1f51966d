"""The polling sweep's batches: in flight together, their Python work one at a time (gmail/sweep.py)."""
from __future__ import annotations

import threading

from gmail import sweep as sweep_module
from gmail.sweep import HistorySweep, PollOutcome, TurnTakingHttp


class _Http:
    """A stand-in connection that records whether the turn was free while it was asked."""

    def __init__(self, turn: threading.Lock):
        self.turn = turn
        self.turn_free_during_request = None

    def request(self, *args, **kwargs):
        self.turn_free_during_request = not self.turn.locked()
        return "answer"


def poll_once(gmail_env, targets, **options) -> PollOutcome:
    sweep = HistorySweep(gmail_env.service, **options)
    try:
        return sweep.poll(targets)
    finally:
        sweep.close()


def test_the_turn_is_given_away_for_the_round_trip_and_taken_back_for_the_answer():
    turn = threading.Lock()
    http = _Http(turn)
    with turn:
        assert TurnTakingHttp(http, turn).request("https://example/batch") == "answer"
        assert turn.locked()  # held again: the answer is parsed in turn
    assert http.turn_free_during_request is True


def test_batches_wait_for_google_together(gmail_env, monkeypatch):
    """Four batches, four in flight: each round trip waits at a barrier for the other three. Were the turn held
    across the round trip, only one could reach it and the barrier would break (every answer then missing)."""
    barrier = threading.Barrier(4, timeout=20)

    class Together(TurnTakingHttp):
        def __init__(self, http, turn):
            class AtTheBarrier:
                def request(self, *args, **kwargs):
                    barrier.wait()
                    return http.request(*args, **kwargs)

            super().__init__(AtTheBarrier(), turn)

    monkeypatch.setattr(sweep_module, "TurnTakingHttp", Together)
    targets = gmail_env.poll_targets("together", 8)
    outcome = poll_once(gmail_env, targets, concurrency=4, batch_size=2)
    assert not barrier.broken
    assert outcome.batches == 4
    assert sorted(outcome.quiet) == sorted(t.account_id for t in targets)


def test_a_batch_that_fails_as_a_whole_sends_its_mailboxes_the_long_way(gmail_env):
    from prometheus_client import REGISTRY

    from sandbox.gmail_emulator import BATCH, Fault

    targets = gmail_env.poll_targets("whole", 3)
    failures = REGISTRY.get_sample_value("mailmagnet_gmail_batch_failures_total", {"kind": "5xx"}) or 0.0
    gmail_env.emu.add_fault(Fault(method=BATCH, count=1, status=503))
    outcome = poll_once(gmail_env, targets)
    # No answer for any of them: each is handed to the pipeline, which syncs it on its own.
    assert not outcome.quiet and outcome.busy == {t.account_id: None for t in targets}
    assert REGISTRY.get_sample_value("mailmagnet_gmail_batch_failures_total", {"kind": "5xx"}) == failures + 1

"""Pushes taken off the web threads (bot/push_intake.py): answered as before when taken promptly; past capacity
answered anyway, folded per mailbox, and taken later; none lost on a clean stop."""
from __future__ import annotations

import base64
import json
import threading

import pytest
from sqlalchemy.exc import OperationalError

from bot.push_intake import PushIntake
from usecases.push import PushOutcome


def envelope(address: str, history_id=None) -> dict:
    payload = {"emailAddress": address} if history_id is None else {"emailAddress": address, "historyId": history_id}
    return {"message": {"data": base64.b64encode(json.dumps(payload).encode()).decode(), "messageId": "1"}}


def history_id_of(taken: dict) -> int | None:
    return json.loads(base64.b64decode(taken["message"]["data"])).get("historyId")


class Gate:
    """A `take` that records what it was given and, while closed, holds the intake's threads."""

    def __init__(self, outcome=PushOutcome.ACCEPTED):
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Semaphore(0)
        self.taken: list[dict] = []
        self.outcome = outcome
        self.error: Exception | None = None

    def __call__(self, body):
        self.entered.release()
        self.open.wait(30)
        self.taken.append(body)
        if self.error is not None:
            raise self.error
        return self.outcome


def test_a_push_taken_at_once_is_answered_with_what_became_of_it():
    gate = Gate(PushOutcome.COALESCED)
    intake = PushIntake(gate, threads=2)
    assert intake.submit(envelope("rep@gmail.example", 10)) is PushOutcome.COALESCED
    assert [history_id_of(t) for t in gate.taken] == [10]


def test_an_envelope_naming_no_mailbox_is_ignored_without_being_taken():
    gate = Gate()
    intake = PushIntake(gate)
    assert intake.submit({"message": {"data": "not base64 json"}}) is PushOutcome.IGNORED
    assert intake.submit(None) is PushOutcome.IGNORED
    assert gate.taken == []


def test_the_error_of_taking_a_push_reaches_the_web_thread():
    """The route answers 503 on a database error (Pub/Sub delivers the push again): the error must reach it."""
    gate = Gate()
    gate.error = OperationalError("SELECT 1", {}, ConnectionRefusedError("restarting"))
    with pytest.raises(OperationalError):
        PushIntake(gate).submit(envelope("rep@gmail.example", 10))


def test_past_capacity_a_push_is_answered_before_it_is_taken_and_a_mailbox_waiting_pushes_are_one():
    """The intake's one thread is held by a push of mailbox A; pushes of B wait. They are answered (None: not yet
    taken) instead of holding their web threads, and when the thread is free B's pushes are taken once, with the
    newest history id (which covers the older ones)."""
    gate = Gate()
    gate.open.clear()
    intake = PushIntake(gate, threads=1, answer_within=0.05)
    held = threading.Thread(target=intake.submit, args=(envelope("a@gmail.example", 1),))
    held.start()
    assert gate.entered.acquire(timeout=10)  # A is being taken, and holds the thread
    assert intake.submit(envelope("b@gmail.example", 5)) is None
    assert intake.submit(envelope("b@gmail.example", 7)) is None
    assert intake.submit(envelope("b@gmail.example", 6)) is None
    assert intake.waiting() == 1
    gate.open.set()
    held.join(10)
    assert intake.drain(timeout=10)
    assert sorted(history_id_of(t) for t in gate.taken) == [1, 7]


def test_a_push_without_a_history_id_stands_for_the_others_of_its_mailbox():
    gate = Gate()
    gate.open.clear()
    intake = PushIntake(gate, threads=1, answer_within=0.05)
    threading.Thread(target=intake.submit, args=(envelope("a@gmail.example", 1),), daemon=True).start()
    assert gate.entered.acquire(timeout=10)
    for history_id in (5, None, 9):
        assert intake.submit(envelope("b@gmail.example", history_id)) is None
    gate.open.set()
    assert intake.drain(timeout=10)
    assert [history_id_of(t) for t in gate.taken if history_id_of(t) != 1] == [None]


def test_beyond_the_mailboxes_that_may_wait_a_push_is_taken_on_the_web_thread():
    gate = Gate()
    gate.open.clear()
    intake = PushIntake(gate, threads=1, answer_within=0.05, max_waiting=1)
    threading.Thread(target=intake.submit, args=(envelope("a@gmail.example", 1),), daemon=True).start()
    assert gate.entered.acquire(timeout=10)
    assert intake.submit(envelope("b@gmail.example", 2)) is None  # waits: the one place
    answered: list = []
    inline = threading.Thread(target=lambda: answered.append(intake.submit(envelope("c@gmail.example", 3))))
    inline.start()
    assert gate.entered.acquire(timeout=10)  # C is taken by its own (web) thread, not queued
    gate.open.set()
    inline.join(10)
    assert answered == [PushOutcome.ACCEPTED]
    assert intake.drain(timeout=10)


def test_drain_takes_the_pushes_still_waiting():
    """A clean stop: pushes answered before they were taken are taken before the process ends."""
    gate = Gate()
    gate.open.clear()
    intake = PushIntake(gate, threads=1, answer_within=0.05)
    threading.Thread(target=intake.submit, args=(envelope("a@gmail.example", 1),), daemon=True).start()
    assert gate.entered.acquire(timeout=10)
    assert intake.submit(envelope("b@gmail.example", 2)) is None
    assert intake.submit(envelope("c@gmail.example", 3)) is None
    threading.Timer(0.1, gate.open.set).start()
    assert intake.drain(timeout=10)
    assert sorted(history_id_of(t) for t in gate.taken) == [1, 2, 3]
    assert intake.submit(envelope("d@gmail.example", 4)) is PushOutcome.ACCEPTED  # after a drain: taken inline


def test_past_the_web_threads_it_may_hold_a_push_is_answered_at_once():
    """Waitress's threads serve Slack too: at most `max_held` of them wait for the intake; the next push is
    answered without waiting (and still taken later)."""
    gate = Gate()
    gate.open.clear()
    intake = PushIntake(gate, threads=1, answer_within=60, max_held=1)
    held = threading.Thread(target=intake.submit, args=(envelope("a@gmail.example", 1),), daemon=True)
    held.start()  # holds the one web thread allowed to wait (and, being taken, the intake's thread)
    assert gate.entered.acquire(timeout=10)
    answered: list = []
    second = threading.Thread(target=lambda: answered.append(intake.submit(envelope("b@gmail.example", 2))))
    second.start()
    second.join(timeout=20)  # far below the 60 s it would wait if it were held
    assert not second.is_alive() and answered == [None]
    gate.open.set()
    assert intake.drain(timeout=10)
    assert sorted(history_id_of(t) for t in gate.taken) == [1, 2]


def test_a_push_is_taken_with_the_log_context_of_the_request_that_brought_it():
    from telemetry.log_context import current, log_context

    seen: list = []
    intake = PushIntake(lambda body: seen.append(dict(current())) or PushOutcome.ACCEPTED)
    with log_context(request_id="push-request-1"):
        assert intake.submit(envelope("a@gmail.example", 1)) is PushOutcome.ACCEPTED
    assert seen == [{"request_id": "push-request-1"}]

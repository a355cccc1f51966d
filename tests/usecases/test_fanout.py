"""The mailbox fan-out's limits, on plain calls: a person's share of the threads, a deadline that cancels
what has not started, and one view in flight per person (the same through Slack: tests/security)."""
from __future__ import annotations

import threading
import time

import pytest

from crm_store.categories import LabelNames, StageRules
from usecases import fanout
from usecases.actors import Actor, ActorKind, SlackActorRef
from usecases.context import Config, Services

ANN = Actor(ActorKind.SLACK, "T1", "UANN")
BOB = Actor(ActorKind.SLACK, "T1", "UBOB")
ANN_REF, BOB_REF = SlackActorRef("T1", "UANN"), SlackActorRef("T1", "UBOB")


@pytest.fixture
def services():
    services = Services(config=Config(), engine=None, rules=StageRules(), labels=LabelNames())
    yield services
    fanout.shutdown(services)


def blocking(started: threading.Event, release: threading.Event, ran: list, name: str):
    def call():
        ran.append(name)
        started.set()
        release.wait(10)
        return name
    return call


def test_a_persons_calls_beyond_their_share_do_not_stand_in_front_of_anyone_else(services, monkeypatch):
    monkeypatch.setattr(fanout, "USER_SHARE", 2)
    release, ran, lock = threading.Event(), [], threading.Lock()
    running = {"now": 0, "most": 0}

    def ann_call(n):
        def call():
            with lock:
                running["now"] += 1
                running["most"] = max(running["most"], running["now"])
            release.wait(10)
            with lock:
                running["now"] -= 1
            return n
        return call

    outcome: dict = {}
    ann = threading.Thread(target=lambda: outcome.update(
        fanout.run_all(services, ANN, {n: ann_call(n) for n in range(10)}, timeout=10)))
    ann.start()
    deadline = time.monotonic() + 10
    while running["now"] < 2 and time.monotonic() < deadline:  # Ann's share is taken
        time.sleep(0.01)
    # Bob's one call answers while Ann's ten are all still waiting on Gmail.
    bob = fanout.run_all(services, BOB, {"bob": lambda: "bob's mailbox"}, timeout=5)
    assert bob["bob"].ok and bob["bob"].value == "bob's mailbox"
    release.set()
    ann.join(10)
    assert all(outcome[n].ok and outcome[n].value == n for n in range(10))
    assert running["most"] == 2


def test_a_deadline_cancels_the_calls_that_have_not_started(services, monkeypatch):
    monkeypatch.setattr(fanout, "USER_SHARE", 1)
    started, release, ran = threading.Event(), threading.Event(), []
    calls = {0: blocking(started, release, ran, "first")}
    calls.update({n: (lambda n=n: ran.append(n)) for n in range(1, 4)})
    outcomes = fanout.run_all(services, ANN, calls, timeout=0.3)
    assert started.is_set() and all(outcomes[n].timed_out for n in range(4))
    release.set()
    # Ann's next call runs once the first has left its thread: everything queued before it has been dealt with.
    after = fanout.run_all(services, ANN, {"next": lambda: "next"}, timeout=10)
    assert after["next"].value == "next"
    assert ran == ["first"]  # the three that were waiting never ran


def test_one_view_in_flight_per_person(services):
    started, release, ran = threading.Event(), threading.Event(), []

    @fanout.one_view_at_a_time
    def view(services, who, calls):
        return fanout.run_all(services, ANN if who.user_id == "UANN" else BOB, calls, timeout=10)

    first: dict = {}
    running = threading.Thread(target=lambda: first.update(view(services, ANN_REF, {"a": blocking(started, release,
                                                                                                  ran, "a")})))
    running.start()
    assert started.wait(10)
    with pytest.raises(fanout.ViewInFlight):
        view(services, ANN_REF, {"again": lambda: ran.append("again")})
    assert view(services, BOB_REF, {"b": lambda: "b"})["b"].value == "b"
    assert fanout.run_all(services, ANN, {"home": lambda: "home"}, timeout=10)["home"].value == "home"
    release.set()
    running.join(10)
    assert first["a"].value == "a" and ran == ["a"]
    assert view(services, ANN_REF, {"again": lambda: "again"})["again"].value == "again"


def test_a_failing_call_is_its_own_outcome(services):
    def broken():
        raise RuntimeError("Gmail exploded")

    outcomes = fanout.run_all(services, ANN, {"bad": broken, "good": lambda: 1}, timeout=5)
    assert isinstance(outcomes["bad"].error, RuntimeError) and outcomes["good"].value == 1

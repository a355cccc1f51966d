"""Real-world conditions of the Slack emulator: per-call latency with jitter, the per-channel post rate.

Driven by slack_sdk's WebClient over HTTP (its RateLimitErrorRetryHandler
included).  Drawn latencies and counts are checked exactly; elapsed time
only against generous bounds.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from sandbox.slack_emulator import Fault, SlackEmulator


@pytest.fixture
def emu():
    with SlackEmulator() as emulator:
        team = emulator.default_team()
        emulator.add_user(team.id, "U1", email="ann@example.com", real_name="Ann Rep")
        emulator.add_channel(team.id, "C1", "sales", members=["U1", team.bot_user_id])
        emulator.add_channel(team.id, "C2", "deals", members=["U1", team.bot_user_id])
        yield emulator


@pytest.fixture
def client(emu):
    return WebClient(base_url=emu.api_url, token=emu.default_team().bot_token)


def drawn(emu, method: str) -> list[float]:
    return [call.latency_ms for call in emu.calls_to(method)]


# -- latency ------------------------------------------------------------------------


def test_latency_with_jitter_is_seeded_and_stays_within_bounds(emu, client):
    emu.set_latency(100, jitter_ms=60, seed=9)
    started = time.monotonic()
    for _ in range(15):
        client.auth_test()
    elapsed = time.monotonic() - started
    first = drawn(emu, "auth.test")
    assert len(first) == 15 and all(40 <= ms <= 160 for ms in first) and len(set(first)) > 5
    assert elapsed >= sum(first) / 1000 * 0.95

    with SlackEmulator() as again:
        again.set_latency(100, jitter_ms=60, seed=9)
        other = WebClient(base_url=again.api_url, token=again.default_team().bot_token)
        for _ in range(15):
            other.auth_test()
        assert drawn(again, "auth.test") == first


def test_latency_per_method_never_negative_and_removable(emu, client):
    emu.set_latency(5, method="chat.*", jitter_ms=30, seed=1)
    emu.set_latency(50, method="users.info")
    for _ in range(20):
        client.chat_postMessage(channel="C1", text="x")
    client.users_info(user="U1")
    client.auth_test()
    posts = drawn(emu, "chat.postMessage")
    assert min(posts) == 0 and max(posts) <= 35
    assert drawn(emu, "users.info") == [50] and drawn(emu, "auth.test") == [0]
    emu.set_latency(0, method="users.info")
    client.users_info(user="U1")
    assert drawn(emu, "users.info") == [50, 0]


def test_concurrent_calls_wait_side_by_side(emu):
    """20 calls with 1 s latency each: served together, not one after the other (that would take 20 s)."""
    emu.set_latency(1000)
    emu.clear_calls()
    count = 20
    start_together = threading.Barrier(count)
    results: list[bool] = []

    def call():
        client = WebClient(base_url=emu.api_url, token=emu.default_team().bot_token)
        start_together.wait()
        results.append(client.auth_test()["ok"])

    threads = [threading.Thread(target=call) for _ in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.monotonic() - started
    assert results == [True] * count
    assert elapsed >= 1.0
    assert emu.peak_concurrent_calls >= count // 2
    assert elapsed < count * 1.0 / 4


def test_response_url_posts_get_the_latency_too(emu):
    emu.set_latency(200, method="response_url")
    url = emu.new_response_url(emu.default_team().id, "C1", "U1")
    request = urllib.request.Request(
        url, data=json.dumps({"text": "done"}).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["ok"] is True
    assert time.monotonic() - started >= 0.2 * 0.95
    assert [post["text"] for post in emu.response_url_posts(url)] == ["done"]


# -- per-channel post rate ----------------------------------------------------------------


def test_posts_beyond_the_channel_rate_get_429_with_retry_after(emu, client):
    emu.set_channel_post_rate(per_second=0.1, burst=2)  # one post per 10 s after a burst of two
    client.chat_postMessage(channel="C1", text="one")
    client.chat_postMessage(channel="C1", text="two")
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="three")
    response = limited.value.response
    assert response.status_code == 429 and response["ok"] is False and response["error"] == "ratelimited"
    assert 1 <= int(response.headers["Retry-After"]) <= 10
    assert [m["text"] for m in emu.messages("C1")] == ["one", "two"]

    # Every channel has its own bucket; a DM is a channel too; other methods are not limited.
    client.chat_postMessage(channel="C2", text="elsewhere")
    for text in ("dm 1", "dm 2"):
        client.chat_postMessage(channel="U1", text=text)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="U1", text="dm 3")
    client.chat_update(channel="C1", ts=emu.messages("C1")[0]["ts"], text="one, edited")
    dm = emu.dm_channel(emu.default_team().id, "U1")
    assert emu.rate_limited_counts() == {"C1": 1, dm: 1}
    assert [(c.http_status, c.error) for c in emu.calls_to("chat.postMessage")][2] == (429, "ratelimited")

    emu.set_channel_post_rate(None)
    client.chat_postMessage(channel="C1", text="three")
    assert [m["text"] for m in emu.messages("C1")] == ["one, edited", "two", "three"]


def test_retry_handler_posts_everything_in_order(emu):
    client = WebClient(
        base_url=emu.api_url,
        token=emu.default_team().bot_token,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=10)],
    )
    emu.set_channel_post_rate(per_second=1.0, burst=1)
    texts = [f"alert {n}" for n in range(4)]
    for text in texts:
        assert client.chat_postMessage(channel="C1", text=text)["ok"] is True
    assert [m["text"] for m in emu.messages("C1")] == texts
    calls = emu.calls_to("chat.postMessage")
    refused = [c for c in calls if c.http_status == 429]
    assert refused and len(calls) == len(texts) + len(refused)
    assert emu.rate_limited_counts() == {"C1": len(refused)}
    accepted = [c for c in calls if c.ok]
    assert all(b.time - a.time >= 0.8 for a, b in zip(accepted, accepted[1:]))  # one a second


def test_post_rate_is_off_by_default(emu, client):
    for n in range(30):
        client.chat_postMessage(channel="C1", text=str(n))
    assert len(emu.messages("C1")) == 30 and emu.rate_limited_counts() == {}


# -- faults with a rate: a post carried out and its answer lost -----------------------------------------------------


@pytest.fixture
def bare(emu):
    """A client that never retries and gives up after 1 s: it shows what the network did."""
    return WebClient(base_url=emu.api_url, token=emu.default_team().bot_token, timeout=1, retry_handlers=[])


@pytest.mark.parametrize(("status", "client_sees"), [
    (500, SlackApiError), (503, SlackApiError), ("reset", ConnectionResetError),
    ("drop", http.client.RemoteDisconnected), ("timeout", TimeoutError),
])
def test_a_post_can_be_carried_out_and_its_answer_lost(emu, bare, status, client_sees):
    emu.add_fault(Fault(status=status, count=1, timeout_seconds=3))
    with pytest.raises(client_sees):
        bare.chat_postMessage(channel="C1", text="landed")
    # The message is in the channel and its history all the same.
    assert [m["text"] for m in emu.messages("C1")] == ["landed"]
    history = bare.conversations_history(channel="C1")["messages"]
    assert [m["text"] for m in history] == ["landed"]
    [call] = emu.calls_to("chat.postMessage")
    assert call.fault == str(status)


@pytest.mark.parametrize("status", [500, "reset", "drop"])
def test_a_fault_before_the_post_stores_nothing(emu, bare, status):
    emu.add_fault(Fault(status=status, accepted=False, count=1))
    with pytest.raises((SlackApiError, OSError, http.client.HTTPException)):
        bare.chat_postMessage(channel="C1", text="never")
    assert emu.messages("C1") == []


def test_a_429_fault_has_retry_after_and_stores_nothing(emu, bare):
    emu.add_fault(Fault(status=429, retry_after=7, count=1))
    with pytest.raises(SlackApiError) as limited:
        bare.chat_postMessage(channel="C1", text="never")
    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "7"
    assert emu.messages("C1") == []
    with pytest.raises(ValueError):
        Fault(status=418)


def test_faults_fire_at_their_rate_on_their_method_while_posts_are_in_flight(emu):
    client = WebClient(base_url=emu.api_url, token=emu.default_team().bot_token, timeout=2, retry_handlers=[])
    emu.set_latency(20, method="chat.postMessage")
    stop, failed = threading.Event(), []

    def post_until_stopped():
        n = 0
        while not stop.is_set():
            try:
                client.chat_postMessage(channel="C1", text=str(n))
            except (SlackApiError, OSError, http.client.HTTPException):
                failed.append(n)
            n += 1

    worker = threading.Thread(target=post_until_stopped)
    worker.start()
    try:
        emu.wait_for(lambda: len(emu.messages("C1")) >= 5)
        fault = emu.add_fault(Fault(status="reset", rate=0.5, seed=1))  # turned on while posts go on
        emu.wait_for(lambda: fault.hits >= 5)
        emu.remove_fault(fault)
        seen = fault.seen
        emu.wait_for(lambda: len(emu.calls_to("chat.postMessage")) >= seen + 20)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert fault.seen == seen and 0.2 < fault.hits / fault.seen < 0.8
    assert len(failed) == fault.hits  # every reset reached the client as a failure…
    assert len(emu.messages("C1")) == len(emu.calls_to("chat.postMessage"))  # …and every post landed anyway
    assert client.conversations_history(channel="C1")["ok"]  # other methods are untouched


def test_clear_faults_turns_faults_with_a_rate_off(emu, bare):
    emu.add_fault(Fault(status=500, rate=1.0))
    emu.clear_faults()
    assert bare.chat_postMessage(channel="C1", text="fine")["ok"]

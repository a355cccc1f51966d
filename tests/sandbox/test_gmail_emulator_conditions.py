"""Real-world conditions of the Gmail emulator: latency with jitter, concurrency, the per-user rate limit.

Everything goes through real HTTP (googleapiclient, or http.client for many
threads at once).  Nothing asserts how fast the machine is: drawn latencies
and counts are checked exactly, elapsed time only against generous bounds.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest
from googleapiclient.errors import HttpError

from sandbox.gmail_emulator import Fault, GmailEmulator
from sandbox.gmail_emulator.conformance import google_error_problems
from sandbox.gmail_emulator.testing import authorize, gmail_service, new_batch

CLIENT_ID = "mailmagnet-test.apps.googleusercontent.com"
CLIENT_SECRET = "test-secret"
REP = "rep@example.com"
OTHER = "colleague@example.com"


@pytest.fixture
def emu():
    with GmailEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        emulator.add_user(REP)
        emulator.add_user(OTHER)
        yield emulator


@pytest.fixture
def gmail(emu):
    return gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET))


def get_profile(emu: GmailEmulator, token: str) -> int:
    """One plain HTTP call on its own connection (httplib2 is not thread-safe)."""
    parts = urlsplit(emu.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("GET", "/gmail/v1/users/me/profile", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def latencies(emu: GmailEmulator) -> list[float]:
    return [call.latency_ms for call in emu.calls]


# -- latency ------------------------------------------------------------------------


def test_jitter_draws_uniformly_around_the_latency_and_a_seed_repeats_the_draws(emu, gmail):
    emu.set_latency(100, jitter_ms=50, seed=7)
    for _ in range(20):
        gmail.users().getProfile(userId="me").execute()
    first = latencies(emu)
    assert len(first) == 20
    assert all(50 <= ms <= 150 for ms in first)
    assert len(set(first)) > 10  # jitter, not a constant

    with GmailEmulator() as again:
        again.register_client(CLIENT_ID, CLIENT_SECRET)
        again.add_user(REP)
        other_client = gmail_service(again, authorize(again, CLIENT_ID, CLIENT_SECRET))
        again.set_latency(100, jitter_ms=50, seed=7)
        started = time.monotonic()
        for _ in range(20):
            other_client.users().getProfile(userId="me").execute()
        elapsed = time.monotonic() - started
        assert latencies(again) == first
    assert elapsed >= sum(first) / 1000 * 0.95  # the waits really happened


def test_jitter_never_makes_latency_negative(emu, gmail):
    emu.set_latency(10, jitter_ms=40, seed=3)
    for _ in range(30):
        gmail.users().labels().list(userId="me").execute()
    drawn = latencies(emu)
    assert min(drawn) == 0 and max(drawn) <= 50
    assert all(ms >= 0 for ms in drawn)


def test_latency_per_method_and_removal(emu, gmail):
    emu.set_latency(80, method="gmail.users.labels.*")
    emu.set_latency(30, method="gmail.users.labels.list")  # an exact id wins over the glob
    gmail.users().labels().list(userId="me").execute()
    gmail.users().labels().create(userId="me", body={"name": "Customers"}).execute()
    gmail.users().getProfile(userId="me").execute()
    assert latencies(emu) == [30, 80, 0]
    emu.set_latency(0, method="gmail.users.labels.*")
    emu.set_latency(0, method="gmail.users.labels.list")
    gmail.users().labels().list(userId="me").execute()
    assert latencies(emu)[-1] == 0


def test_concurrent_calls_wait_side_by_side(emu):
    """100 calls with 1 s latency each: served together, not one after the other (that would take 100 s)."""
    token = emu.issue_tokens(REP, CLIENT_ID)["access_token"]
    emu.set_latency(1000)
    emu.reset_counters()
    count = 100
    start_together = threading.Barrier(count)
    statuses: list[int] = []

    def call():
        start_together.wait()
        statuses.append(get_profile(emu, token))

    threads = [threading.Thread(target=call) for _ in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.monotonic() - started
    assert statuses == [200] * count
    assert elapsed >= 1.0
    assert emu.peak_concurrent_requests >= count // 2
    assert elapsed < count * 1.0 / 4  # serialised calls would need 100 s


def test_a_batch_waits_for_its_slowest_part_not_the_sum(emu, gmail):
    ids = [emu.insert_message(REP, sender="ann@acme.test", to=REP) for _ in range(20)]
    emu.reset_counters()
    emu.set_latency(500, method="gmail.users.messages.get", jitter_ms=100, seed=11)
    answers = {}
    batch = new_batch(emu, lambda rid, response, exc: answers.__setitem__(rid, exc or response["id"]))
    for gmail_id in ids:
        batch.add(gmail.users().messages().get(userId="me", id=gmail_id, format="minimal"), request_id=gmail_id)
    started = time.monotonic()
    batch.execute()
    elapsed = time.monotonic() - started
    assert answers == {gmail_id: gmail_id for gmail_id in ids}
    drawn = latencies(emu)
    assert len(drawn) == 20 and all(400 <= ms <= 600 for ms in drawn)
    assert elapsed >= max(drawn) / 1000 * 0.95
    assert elapsed < sum(drawn) / 1000 / 2  # the sum would be ~10 s


# -- per-user rate limit ------------------------------------------------------------------


def error_of(exc: HttpError) -> dict:
    return json.loads(exc.content)


def test_rate_limit_answers_429_rate_limit_exceeded_and_rejected_calls_cost_nothing(emu, gmail):
    message = emu.insert_message(REP, sender="ann@acme.test", to=REP)
    # 1 unit/s over a minute: a 60-unit budget that no slow machine can refill mid-test.
    emu.set_user_rate_limit(units_per_second=1, window_seconds=60)
    emu.reset_counters()
    for _ in range(12):  # 12 x 5 units = 60
        gmail.users().messages().get(userId="me", id=message, format="minimal").execute()
    for _ in range(3):
        with pytest.raises(HttpError) as refused:
            gmail.users().messages().get(userId="me", id=message, format="minimal").execute()
        assert refused.value.status_code == 429
    response = refused.value.resp
    body = error_of(refused.value)
    assert google_error_problems(body, 429) == []
    error = body["error"]
    assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["errors"][0]["domain"] == "usageLimits"
    assert error["message"].startswith("User-rate limit exceeded.  Retry after ")
    retry_at = datetime.fromisoformat(error["message"].rsplit(" ", 1)[1].replace("Z", "+00:00"))
    assert datetime.now(timezone.utc) < retry_at
    assert (retry_at - datetime.now(timezone.utc)).total_seconds() <= 61
    assert "retry-after" not in response  # Google names the time in the message only

    assert emu.quota_units(REP) == 60
    refused_calls = [call for call in emu.calls if call.status == 429]
    assert len(refused_calls) == 3 and all(c.rate_limited and c.units == 0 for c in refused_calls)
    assert emu.rate_limited_counts() == {REP: 3}

    # Another user has a window of their own; a cheaper call still fits nowhere once the budget is spent.
    other = gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET, login_hint=OTHER))
    assert other.users().getProfile(userId="me").execute()["emailAddress"] == OTHER
    with pytest.raises(HttpError):
        gmail.users().getProfile(userId="me").execute()
    assert emu.rate_limited_counts() == {REP: 4}

    emu.set_user_rate_limit(None)
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == REP


def test_rate_limit_can_answer_403_user_rate_limit_exceeded_instead(emu, gmail):
    message = emu.insert_message(REP, sender="ann@acme.test", to=REP)
    emu.set_user_rate_limit(units_per_second=1, window_seconds=60, answer=403)
    for _ in range(12):  # 12 x 5 units = 60
        gmail.users().messages().get(userId="me", id=message, format="minimal").execute()
    with pytest.raises(HttpError) as refused:
        gmail.users().messages().get(userId="me", id=message, format="minimal").execute()
    body = error_of(refused.value)
    assert refused.value.status_code == 403 and google_error_problems(body, 403) == []
    assert body["error"]["errors"][0]["reason"] == "userRateLimitExceeded"
    assert body["error"]["errors"][0]["domain"] == "usageLimits"
    assert emu.rate_limited_counts() == {REP: 1}
    with pytest.raises(ValueError):
        emu.set_user_rate_limit(answer=500)


def test_batch_parts_are_charged_one_by_one_and_fail_individually(emu, gmail):
    ids = [emu.insert_message(REP, sender="ann@acme.test", to=REP) for _ in range(20)]
    emu.set_user_rate_limit(units_per_second=1, window_seconds=60)
    emu.reset_counters()
    statuses = {}
    batch = new_batch(emu, lambda rid, response, exc: statuses.__setitem__(rid, exc.status_code if exc else 200))
    for gmail_id in ids:
        batch.add(gmail.users().messages().get(userId="me", id=gmail_id, format="minimal"), request_id=gmail_id)
    batch.execute()
    assert [statuses[gmail_id] for gmail_id in ids] == [200] * 12 + [429] * 8
    assert emu.quota_units(REP) == 60
    assert emu.rate_limited_counts() == {REP: 8}
    assert all(call.in_batch for call in emu.calls)


def test_injected_faults_give_their_units_back(emu, gmail):
    message = emu.insert_message(REP, sender="ann@acme.test", to=REP)
    emu.set_user_rate_limit(units_per_second=1, window_seconds=10)  # 10 units: two messages.get
    emu.add_fault(Fault(method="gmail.users.messages.get", status=503, count=1))
    emu.reset_counters()
    with pytest.raises(HttpError) as unavailable:
        gmail.users().messages().get(userId="me", id=message).execute()
    assert unavailable.value.status_code == 503
    gmail.users().messages().get(userId="me", id=message).execute()
    gmail.users().messages().get(userId="me", id=message).execute()
    with pytest.raises(HttpError) as limited:
        gmail.users().messages().get(userId="me", id=message).execute()
    assert limited.value.status_code == 429
    assert [call.status for call in emu.calls] == [503, 200, 200, 429]


def test_the_window_moves(emu, gmail):
    """Units leave the window after window_seconds: a refused call is admitted again later."""
    emu.set_user_rate_limit(units_per_second=2, window_seconds=0.5)  # one getProfile per half second
    emu.reset_counters()
    started = time.monotonic()
    gmail.users().getProfile(userId="me").execute()
    deadline = started + 10
    while True:  # ask again until the first unit has left the window
        try:
            gmail.users().getProfile(userId="me").execute()
            break
        except HttpError as refused:
            assert refused.resp.status == 429
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert time.monotonic() - started >= 0.5 * 0.95
    statuses = [call.status for call in emu.calls]
    assert statuses[0] == 200 and statuses[-1] == 200
    assert set(statuses[1:-1]) <= {429}

"""The Gmail client against the emulator: batching, paging, retries under injected faults, error mapping."""
from __future__ import annotations

import pytest

from gmail.accounts import load_credentials
from gmail.client import GmailService
from gmail.errors import GmailTemporaryError, HistoryExpired, InvalidRequest
from sandbox.gmail_emulator import Fault
from tests.support.gmail import google_config

USER = "ann@gmail.example"


@pytest.fixture
def mailbox(gmail_env):
    account_id = gmail_env.connect(USER)
    credentials = load_credentials(gmail_env.cipher, gmail_env.account(account_id), gmail_env.config)
    return gmail_env.service.mailbox(credentials)


def insert(env, count, **kwargs):
    return [env.emu.insert_message(USER, sender=f"Sender {i} <s{i}@acme.example>", to=USER, subject=f"S{i}",
                                   **kwargs) for i in range(count)]


def gets(env):
    return [c for c in env.emu.calls if c.method == "gmail.users.messages.get"]


def test_metadata_is_fetched_in_batches_once_per_message(gmail_env, mailbox):
    ids = insert(gmail_env, 120)
    gmail_env.emu.reset_counters()
    result = mailbox.get_metadata(ids, batch_size=50)
    assert set(result) == set(ids)
    headers = {h["name"]: h["value"] for h in result[ids[7]]["payload"]["headers"]}
    assert headers["Subject"] == "S7" and "s7@acme.example" in headers["From"]
    assert len(gets(gmail_env)) == 120 and all(c.in_batch for c in gets(gmail_env))
    assert gmail_env.emu.quota_units(USER) == 120 * 5


def test_vanished_message_maps_to_none(gmail_env, mailbox):
    ids = insert(gmail_env, 2)
    result = mailbox.get_metadata([ids[0], "ffffffffffffffff"])
    assert result["ffffffffffffffff"] is None and result[ids[0]]["id"] == ids[0]


@pytest.mark.parametrize("status", [429, 403, 500, 503, "drop"])
def test_batches_recover_from_faults(gmail_env, mailbox, status):
    ids = insert(gmail_env, 60)
    gmail_env.emu.add_fault(Fault(method="gmail.users.messages.get", rate=0.3, status=status, seed=7))
    result = mailbox.get_metadata(ids, batch_size=25)
    assert all(result[i] and result[i]["id"] == i for i in ids)


def test_single_calls_recover_from_faults_and_timeouts(gmail_env, mailbox):
    gmail_env.emu.add_fault(Fault(method="gmail.users.getProfile", count=2, status=503))
    assert mailbox.get_profile()["emailAddress"] == USER
    impatient = GmailService(google_config(gmail_env.emu, timeout_seconds=0.5)).mailbox(mailbox.credentials)
    gmail_env.emu.add_fault(Fault(method="gmail.users.getProfile", count=1, status="timeout", timeout_seconds=3))
    assert impatient.get_profile()["emailAddress"] == USER  # the client gives up after 0.5 s, then retries


def test_persistent_rate_limit_becomes_a_temporary_error(gmail_env, mailbox):
    gmail_env.emu.add_fault(Fault(method="gmail.users.getProfile", rate=1.0, status=429))
    with pytest.raises(GmailTemporaryError):
        mailbox.get_profile()


def test_history_pages_and_expiry(gmail_env, mailbox):
    start = mailbox.get_profile()["historyId"]
    ids = insert(gmail_env, 1100)
    insert(gmail_env, 5, label_ids=("SENT",))  # not Inbox: not listed
    pages = list(mailbox.history_pages(start, page_size=500))
    assert len(pages) == 3
    assert [i for p in pages for i in p.added_ids] == ids
    assert int(pages[-1].history_id) >= int(start) and int(start) > 2**63  # uint64 ids survive as text
    gmail_env.emu.expire_history(USER)
    with pytest.raises(HistoryExpired):
        list(mailbox.history_pages(start))


def test_bad_request_is_not_retried(gmail_env, mailbox):
    ids = insert(gmail_env, 3)
    gmail_env.emu.reset_counters()
    with pytest.raises(InvalidRequest):
        mailbox.batch_modify(ids, add=["Label_does_not_exist"])
    assert len([c for c in gmail_env.emu.calls if c.method.endswith("batchModify")]) == 1


def test_a_batch_over_the_per_user_rate_limit_waits_as_google_asks_and_gets_through(gmail_env, mailbox):
    """Found by the fleet's rate-limit scenario: with a short configured backoff, the refused parts of a /batch were
    retried within the same second, refused again, and the attempts ran out: a large backfill never finished. A
    rate-limit answer now waits at least a second, or until the moment Gmail's message names."""
    from gmail.config import RetryPolicy

    ids = insert(gmail_env, 60)
    hasty = GmailService(google_config(gmail_env.emu, retry=RetryPolicy(attempts=4, base_seconds=0.01,
                                                                        max_seconds=5))).mailbox(mailbox.credentials)
    for answer in (429, 403):  # 429 names a moment in its message; 403 userRateLimitExceeded names none
        gmail_env.emu.set_user_rate_limit(units_per_second=150, window_seconds=1, answer=answer)
        result = hasty.get_metadata(ids, batch_size=50)  # 300 units: twice what a second allows
        assert all(result[i] and result[i]["id"] == i for i in ids), answer
        assert gmail_env.emu.rate_limited_counts()  # the limit did refuse some
        gmail_env.emu.set_user_rate_limit(None)
        gmail_env.emu.reset_counters()

"""A Gmail call under a deadline (`GmailService.deadline`): it starts no request past it, waits on its socket
no longer than what is left, and retries nothing once it has passed."""
from __future__ import annotations

import time

import pytest

from gmail.accounts import load_credentials
from gmail.client import GmailService
from gmail.config import RetryPolicy
from gmail.errors import DeadlinePassed, GmailTemporaryError
from sandbox.gmail_emulator import Fault
from tests.support.gmail import google_config

USER = "ann@gmail.example"


@pytest.fixture
def mailbox(gmail_env):
    account_id = gmail_env.connect(USER)
    credentials = load_credentials(gmail_env.cipher, gmail_env.account(account_id), gmail_env.config)
    return gmail_env.service.mailbox(credentials)


def profiles(env) -> int:
    return env.emu.call_counts(USER).get("gmail.users.getProfile", 0)


def test_a_slow_answer_is_not_waited_for_past_the_deadline_nor_retried(gmail_env, mailbox):
    gmail_env.emu.reset_counters()
    gmail_env.emu.add_fault(Fault(method="gmail.users.getProfile", count=1, status="timeout", timeout_seconds=3))
    with gmail_env.service.deadline(time.monotonic() + 0.5):
        with pytest.raises(GmailTemporaryError):
            mailbox.get_profile()
    assert profiles(gmail_env) <= 1  # no retry once the deadline has passed
    # The client's own timeout (5 s) would have waited the 3 s out; without a deadline it does.
    gmail_env.emu.add_fault(Fault(method="gmail.users.getProfile", count=1, status="timeout", timeout_seconds=1))
    assert mailbox.get_profile()["emailAddress"] == USER  # no deadline now: the 1 s answer is waited for


def test_nothing_is_sent_once_the_deadline_has_passed(gmail_env, mailbox):
    gmail_env.emu.reset_counters()
    with gmail_env.service.deadline(time.monotonic() - 1):
        with pytest.raises(DeadlinePassed):
            mailbox.get_profile()
        with pytest.raises(DeadlinePassed):
            mailbox.get_metadata(["0000000000000001"])
    assert gmail_env.emu.call_counts(USER) == {}


def test_a_temporary_failure_is_not_retried_when_the_wait_would_outlast_the_deadline(gmail_env, mailbox):
    slept: list[float] = []
    patient = GmailService(google_config(gmail_env.emu, retry=RetryPolicy(attempts=8, base_seconds=2, max_seconds=2)),
                           rand=lambda: 1.0, sleep=slept.append)
    client = patient.mailbox(mailbox.credentials)
    gmail_env.emu.add_fault(Fault(method="gmail.users.getProfile", rate=1.0, status=503))
    gmail_env.emu.reset_counters()
    with patient.deadline(time.monotonic() + 1):
        with pytest.raises(GmailTemporaryError):
            client.get_profile()
    assert profiles(gmail_env) == 1 and slept == []  # a 2 s back-off does not fit in what was left
    with pytest.raises(GmailTemporaryError):
        client.get_profile()  # without a deadline the policy runs its course
    assert profiles(gmail_env) == 1 + 8 and slept == [2] * 7

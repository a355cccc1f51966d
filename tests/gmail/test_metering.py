"""Gmail calls, quota units and errors on /metrics, counted once in the client, against the emulator's own count."""
from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import REGISTRY

from gmail.accounts import load_credentials
from gmail.errors import AccessRevoked
from gmail.metering import UNITS_PER_CALL
from sandbox.gmail_emulator import BATCH, Fault
from sandbox.gmail_emulator._routes import ROUTES_BY_ID

USER = "meter@gmail.example"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def snapshot(methods) -> dict:
    return {m: (sample("mailmagnet_gmail_calls_total", method=m), sample("mailmagnet_gmail_quota_units_total",
                                                                        method=m)) for m in methods}


def errors() -> dict[str, float]:
    return {s.labels["kind"]: s.value for metric in REGISTRY.collect() if metric.name == "mailmagnet_gmail_errors"
            for s in metric.samples if s.name == "mailmagnet_gmail_errors_total"}


@pytest.fixture
def mailbox(gmail_env):
    account_id = gmail_env.connect(USER)
    credentials = load_credentials(gmail_env.cipher, gmail_env.account(account_id), gmail_env.config)
    return gmail_env.service.mailbox(credentials)


def test_the_unit_costs_are_googles_as_the_emulator_charges_them():
    for method, units in UNITS_PER_CALL.items():
        assert ROUTES_BY_ID[method].units == units, method


def test_calls_and_units_by_method_match_what_gmail_counted(gmail_env, mailbox):
    ids = [gmail_env.emu.insert_message(USER, sender=f"s{i}@acme.example", to=USER, subject="Hi") for i in range(3)]
    gmail_env.emu.reset_counters()
    methods = ["gmail.users.getProfile", "gmail.users.messages.list", "gmail.users.messages.get",
               "gmail.users.labels.list"]
    before = snapshot(methods)
    mailbox.get_profile()
    mailbox.list_message_ids(label_ids=["INBOX"])
    mailbox.get_metadata(ids)  # one /batch of three parts: three calls
    mailbox.list_labels()
    after = snapshot(methods)
    charged = Counter()
    made = Counter()
    for call in gmail_env.emu.calls:
        made[call.method] += 1
        charged[call.method] += call.units
    for method in methods:
        assert after[method][0] - before[method][0] == made[method], method
        assert after[method][1] - before[method][1] == charged[method], method
    assert made["gmail.users.messages.get"] == 3


def test_errors_are_counted_by_kind_and_refused_rate_limits_cost_nothing(gmail_env, mailbox):
    profile = ["gmail.users.getProfile"]
    before, errors_before = snapshot(profile), errors()
    gmail_env.emu.add_fault(Fault(method="gmail.users.getProfile", count=1, status=429))
    gmail_env.emu.add_fault(Fault(method="gmail.users.getProfile", count=1, status=503))
    assert mailbox.get_profile()["emailAddress"] == USER  # retried through both
    after, errors_after = snapshot(profile), errors()
    calls, units = (after[profile[0]][i] - before[profile[0]][i] for i in (0, 1))
    assert calls == 3
    assert units == 2  # the 503 and the answer; Google does not charge the rate-limited call
    grew = {kind: errors_after.get(kind, 0) - errors_before.get(kind, 0) for kind in errors_after}
    assert grew.get("rateLimitExceeded") == 1 and grew.get("5xx") == 1


def test_a_revoked_grant_is_counted_as_such(gmail_env, mailbox):
    errors_before = errors()
    gmail_env.emu.revoke_access(USER)  # Gmail answers 401, and Google refuses to refresh the token
    with pytest.raises(AccessRevoked):
        mailbox.get_profile()
    errors_after = errors()
    grew = {kind: errors_after.get(kind, 0) - errors_before.get(kind, 0) for kind in errors_after}
    assert grew.get("invalid_grant") == 1


def test_the_polling_sweep_is_counted_per_mailbox_and_a_refused_part_by_its_status(gmail_env):
    from gmail.sweep import HistorySweep

    targets = gmail_env.poll_targets("swept", 3)
    gmail_env.emu.expire_access_tokens("swept2@gmail.example")  # its part is answered 401, inside the batch
    history = ["gmail.users.history.list"]
    before, errors_before = snapshot(history), errors()
    sweep = HistorySweep(gmail_env.service)
    try:
        outcome = sweep.poll(targets)
    finally:
        sweep.close()
    after, errors_after = snapshot(history), errors()
    assert len(outcome.quiet) == 2
    assert after[history[0]][0] - before[history[0]][0] == 3
    assert after[history[0]][1] - before[history[0]][1] == 2 * 2  # a part refused for its token costs nothing
    assert errors_after.get("401", 0) - errors_before.get("401", 0) == 1


def test_a_batch_that_fails_as_a_whole_is_counted_and_its_parts_answered_in_halves(gmail_env, mailbox):
    ids = [gmail_env.emu.insert_message(USER, sender=f"w{i}@acme.example", to=USER, subject="Hi") for i in range(4)]
    gmail_env.emu.reset_counters()
    failures_before = sample("mailmagnet_gmail_batch_failures_total", kind="5xx")
    gets_before = snapshot(["gmail.users.messages.get"])["gmail.users.messages.get"][0]
    gmail_env.emu.add_fault(Fault(method=BATCH, count=1, status=503))
    metadata = mailbox.get_metadata(ids)
    assert sorted(metadata) == sorted(ids) and all(metadata.values())
    assert sample("mailmagnet_gmail_batch_failures_total", kind="5xx") == failures_before + 1
    # The failed batch's parts were never answered, so they are not calls; the two halves' four parts are.
    assert snapshot(["gmail.users.messages.get"])["gmail.users.messages.get"][0] == gets_before + 4
    batches = [c for c in gmail_env.emu.calls if c.method == "gmail.users.messages.get"]
    assert len(batches) == 4 and all(c.in_batch for c in batches)


def test_quota_units_are_attributed_to_each_mailbox_for_the_per_user_peak(gmail_env):
    """Google's per-user limit is per mailbox: two mailboxes busy at once are two peaks, not one sum. Single calls
    and the parts of a /batch both count for the mailbox whose credentials they carried."""
    from telemetry.metrics import MailboxUnitPeaks
    import telemetry.metrics as metrics_module

    mailboxes = []
    for address in ("peak-a@gmail.example", "peak-b@gmail.example"):
        account_id = gmail_env.connect(address)
        mailboxes.append((address, gmail_env.service.mailbox(
            load_credentials(gmail_env.cipher, gmail_env.account(account_id), gmail_env.config))))
    frozen = MailboxUnitPeaks(clock=lambda: 1000.0)  # every call within the same second
    original, metrics_module.MAILBOX_UNIT_PEAKS = metrics_module.MAILBOX_UNIT_PEAKS, frozen
    try:
        for address, mailbox in mailboxes:
            ids = [gmail_env.emu.insert_message(address, sender=f"s{i}@acme.example", to=address, subject="Hi")
                   for i in range(4)]
            mailbox.get_profile()  # 1 unit
            mailbox.get_metadata(ids)  # one /batch, four parts: 20 units
    finally:
        metrics_module.MAILBOX_UNIT_PEAKS = original
    assert frozen.peak() == 21


def test_the_per_mailbox_peak_forgets_what_is_older_than_its_window():
    from telemetry.metrics import MailboxUnitPeaks

    now = [0.0]
    peaks = MailboxUnitPeaks(window_seconds=60, clock=lambda: now[0])
    peaks.add("a", 200)
    now[0] = 1.0
    peaks.add("a", 5)
    peaks.add("b", 5)
    assert peaks.peak() == 200
    now[0] = 61.5
    assert peaks.peak() == 5
    now[0] = 200.0
    assert peaks.peak() == 0

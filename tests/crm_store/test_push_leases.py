"""A push's mailbox leased in one statement (`crm_store.push_leases.claim_pushed`): only when the push has news for
it, as `gmail.push.already_synced` judges, and never when that is uncertain (the caller then decides as before)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

import base64
import json
from datetime import timedelta

from crm_store.db import session_scope
from crm_store.leases import release
from crm_store.models import AccountStatus, GmailAccount, utcnow
from crm_store.push_leases import claim_pushed
from crm_store.users import get_or_create_user
from gmail.push import Push, already_synced
from usecases.push import decide, mailboxes_to_sync

ADDRESS = "rep@gmail.example"


@pytest.fixture
def mailbox(engine):
    with session_scope(engine) as session:
        user = get_or_create_user(session, "rep@crm.example")
        account = GmailAccount(crm_user_id=user.id, slack_team_id="T1", slack_user_id="U1", email_address=ADDRESS,
                               magnet_enabled=True, setup_done=True)
        session.add(account)
        session.flush()
        return account.id


def set_mailbox(engine, account_id, **values):
    with session_scope(engine) as session:
        account = session.get(GmailAccount, account_id)
        for name, value in values.items():
            setattr(account, name, value)


# (stored cursor, push's history id): claimed when the push is news for certain.
CASES = [(None, 100), ("99", 100), ("100", 100), ("101", 100), ("1000", 999), ("999", 1000), ("0099", 100),
         ("12a", 100), ("", 100), ("18446744073709551615", 18446744073709551614),
         ("18446744073709551614", 18446744073709551615), ("100", None), ("99999999999999999999", 100)]


@pytest.mark.parametrize("cursor,history_id", CASES)
def test_a_push_is_claimed_only_when_it_is_news_for_certain(engine, mailbox, cursor, history_id):
    set_mailbox(engine, mailbox, history_id=cursor)
    lease = claim_pushed(engine, "me", ADDRESS, history_id, lease_seconds=60).lease
    news = not already_synced(Push(ADDRESS, history_id), cursor)
    if lease is not None:
        assert news and lease.account_id == mailbox  # never a run the push did not ask for
    if news and (cursor is None or (cursor.isdigit() and not cursor.startswith("0") and int(cursor) < 2**64)):
        assert lease is not None  # a cursor as Gmail gives it (decimal, 64 bits) is judged in the statement


def test_a_held_off_or_other_mailbox_is_not_claimed(engine, mailbox):
    set_mailbox(engine, mailbox, history_id="5")
    assert claim_pushed(engine, "me", "someone@gmail.example", 10, lease_seconds=60).lease is None
    assert claim_pushed(engine, "me", ADDRESS, 10, lease_seconds=60).lease is not None
    # Leased: the run holding it covers the push.
    assert claim_pushed(engine, "other", ADDRESS, 10, lease_seconds=60).lease is None
    release(engine, "me", mailbox)
    set_mailbox(engine, mailbox, magnet_enabled=False)
    assert claim_pushed(engine, "me", ADDRESS, 10, lease_seconds=60).lease is None
    set_mailbox(engine, mailbox, magnet_enabled=True, status=AccountStatus.REVOKED)
    assert claim_pushed(engine, "me", ADDRESS, 10, lease_seconds=60).lease is None


def test_decimal_cursors_of_every_length_are_judged_as_numbers(engine, mailbox):
    """The statement orders history ids by length, then as text: checked against `already_synced` for cursors and
    pushes from 1 to 20 digits (a cursor of "0", ids either side of a power of ten, 2**64 - 1), on the database's
    own collation for text."""
    import random

    rng = random.Random(17)
    edges = [0, 1, 9, 10, 99, 100, 10**18 - 1, 10**18, 10**19 - 1, 10**19, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
    numbers = edges + [rng.randrange(10 ** (digits - 1), min(10 ** digits, 2**64)) for digits in range(1, 21)
                       for _ in range(2)]
    pairs = [(cursor, push) for cursor in edges for push in edges]
    pairs += [(rng.choice(numbers), rng.choice(numbers)) for _ in range(60)]
    wrong = []
    for cursor, push in pairs:
        set_mailbox(engine, mailbox, history_id=str(cursor))
        lease = claim_pushed(engine, "me", ADDRESS, push, lease_seconds=60).lease
        if lease is not None:
            release(engine, "me", mailbox)
        if (lease is not None) != (not already_synced(Push(ADDRESS, push), str(cursor))):
            wrong.append((cursor, push, lease is not None))
    assert wrong == []


LEASE_STATES = {"free": {}, "held": {"lease_owner": "other", "lease_expires_at": utcnow() + timedelta(hours=1)},
                "expired": {"lease_owner": "other", "lease_expires_at": utcnow() - timedelta(hours=1)},
                "off": {"magnet_enabled": False}, "revoked": {"status": AccountStatus.REVOKED}}


def envelope(address, history_id):
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": history_id}).encode()).decode()
    return {"message": {"data": data}}


def columns(engine, account_id):
    with session_scope(engine) as session:
        account = session.get(GmailAccount, account_id)
        return {name: getattr(account, name) for name in ("lease_owner", "lease_expires_at", "sync_requested",
                                                          "history_id", "next_sync_at", "status", "magnet_enabled")}


@pytest.mark.parametrize("state", sorted(LEASE_STATES))
@pytest.mark.parametrize("cursor,history_id", CASES)
def test_what_the_claim_saw_decides_as_the_read_does_and_changes_nothing_it_did_not_lease(
        engine, mailbox, state, cursor, history_id):
    """When the claim leased nothing, the mailboxes it says it saw (if it says) are the read's, so the push's outcome
    is the same without the read; and the mailbox is left as it was (SQLite matches it to give its cursor back)."""
    set_mailbox(engine, mailbox, history_id=cursor, sync_requested=True, **LEASE_STATES[state])
    before = columns(engine, mailbox)
    push = Push(ADDRESS, history_id)
    read = mailboxes_to_sync(engine, envelope(ADDRESS, history_id))
    claim = claim_pushed(engine, "me", ADDRESS, history_id, lease_seconds=60)
    if claim.lease is not None:
        assert read.to_sync == [mailbox] and state in ("free", "expired")
        return
    assert columns(engine, mailbox) == before
    if claim.seen is not None:
        assert decide(push, claim.seen) == read
    if engine.dialect.name == "postgresql":
        assert claim.seen is not None  # one statement decides every push there
    elif already_synced(push, cursor) and state not in ("off", "revoked"):
        assert claim.seen == [(mailbox, cursor)]  # the common push, nothing new: no read after the claim


def test_an_address_of_no_mailbox_is_seen_so_on_postgresql_and_left_to_the_read_on_sqlite(engine, mailbox):
    claim = claim_pushed(engine, "me", "someone@gmail.example", 10, lease_seconds=60)
    assert claim.lease is None
    assert claim.seen == ([] if engine.dialect.name == "postgresql" else None)


def test_a_push_with_nothing_new_writes_no_row_version_on_postgresql(engine, mailbox):
    """PostgreSQL answers a push with nothing new with the read in the claim's statement: the row is not rewritten
    (no new version, no dead tuple to vacuum), unlike SQLite's UPDATE, which matches it to give its cursor back."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite rewrites the row: the price of one statement there (crm_store/push_leases.py)")
    set_mailbox(engine, mailbox, history_id="100")
    version = "SELECT xmin::text FROM gmail_accounts WHERE id = :id"
    with engine.connect() as connection:
        before = connection.execute(sa.text(version), {"id": mailbox}).scalar()
    claim = claim_pushed(engine, "me", ADDRESS, 100, lease_seconds=60)
    assert claim.lease is None and claim.seen == [(mailbox, "100")]
    with engine.connect() as connection:
        assert connection.execute(sa.text(version), {"id": mailbox}).scalar() == before

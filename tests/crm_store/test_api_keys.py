"""Ingest API keys (`crm_store.api_keys`), on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from crm_store.api_keys import KeyNameTaken, create_key, list_keys, revoke_key, verify_key
from crm_store.db import session_scope
from crm_store.errors import InvalidInput


def table_text(engine) -> str:
    """Every value of every column of api_keys, as text."""
    with session_scope(engine) as session:
        rows = session.execute(sa.text("SELECT * FROM api_keys")).all()
    return "\n".join(" ".join(str(value) for value in row) for row in rows)


def test_a_key_verifies_until_revoked(engine):
    key = create_key(engine, "zapier")

    assert key.startswith("mm_") and len(key) >= 40
    assert verify_key(engine, key) == "zapier"
    assert verify_key(engine, key + "x") is None
    assert verify_key(engine, "") is None and verify_key(engine, None) is None
    [info] = list_keys(engine)
    assert (info.name, info.prefix, info.active) == ("zapier", key[:10], True)
    assert info.last_used_at is not None

    assert revoke_key(engine, "zapier") is True
    assert verify_key(engine, key) is None
    assert revoke_key(engine, "zapier") is False
    assert revoke_key(engine, "nobody") is False


def test_only_the_hash_is_stored(engine):
    key = create_key(engine, "hubspot-webhook")
    stored = table_text(engine)

    assert key not in stored
    assert key[10:] not in stored  # not even the part after the displayed prefix
    assert hashlib.sha256(key.encode()).hexdigest() in stored


def test_names_are_unique_and_a_revoked_name_can_be_reused(engine):
    first = create_key(engine, "zapier")
    with pytest.raises(KeyNameTaken):
        create_key(engine, "zapier")
    revoke_key(engine, "zapier")
    second = create_key(engine, "zapier")

    assert second != first
    assert verify_key(engine, first) is None
    assert verify_key(engine, second) == "zapier"
    assert [info.name for info in list_keys(engine)] == ["zapier"]
    with pytest.raises(InvalidInput):
        create_key(engine, "two words")


def test_keys_are_independent(engine):
    one, two = create_key(engine, "one"), create_key(engine, "two")
    revoke_key(engine, "one")
    assert (verify_key(engine, one), verify_key(engine, two)) == (None, "two")
    assert [(info.name, info.active) for info in list_keys(engine)] == [("two", True), ("one", False)]

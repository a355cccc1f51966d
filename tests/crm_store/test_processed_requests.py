"""Idempotency keys of Slack requests: kept a day, then deleted by the housekeeping job (the one place that prunes)."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import update

from crm_store import processed_requests
from crm_store.db import session_scope
from crm_store.models import ProcessedSlackRequest, utcnow


def test_keys_older_than_a_day_are_deleted_and_a_repeat_within_the_day_is_still_refused(engine):
    assert processed_requests.claim(engine, "trigger:old") and processed_requests.claim(engine, "trigger:new")
    with session_scope(engine) as session:
        session.execute(update(ProcessedSlackRequest).where(ProcessedSlackRequest.key == "trigger:old")
                        .values(created_at=utcnow() - processed_requests.KEEP_FOR - timedelta(minutes=1)))

    with session_scope(engine) as session:
        processed_requests.delete_expired(session, utcnow())

    assert not processed_requests.seen(engine, "trigger:old")
    assert processed_requests.seen(engine, "trigger:new") and not processed_requests.claim(engine, "trigger:new")
    assert processed_requests.claim(engine, "trigger:old")  # a day later the same key is new again

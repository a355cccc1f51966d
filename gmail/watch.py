"""Gmail's `users.watch` (Pub/Sub pushes of a mailbox's news): when it is due, and renewing it.

A watch lasts 7 days; it is renewed once less than `RENEW_BEFORE` is left (so daily). A failing `users.watch`
(100 quota units) is retried with exponential backoff stored on the mailbox (RETRY_FIRST doubling up to
RETRY_MAX), so replicas and restarts respect it. This is the one place the rule is written: the polling sweep
(which sends a mailbox whose watch is due to the full run) and the full run (which renews it) both ask here.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import update

from crm_store.db import session_scope
from crm_store.models import GmailAccount
from gmail.client import MailboxClient
from gmail.errors import GmailError

log = logging.getLogger(__name__)

RENEW_BEFORE = timedelta(days=6)  # Gmail watches last 7 days; renew daily
RETRY_FIRST = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)


def _aware(moment: datetime | None, now: datetime) -> datetime | None:
    if moment is not None and moment.tzinfo is None:  # SQLite gives back naive UTC
        return moment.replace(tzinfo=now.tzinfo)
    return moment


def is_watched(account: GmailAccount, now: datetime) -> bool:
    """Gmail pushes this mailbox's news: its watch has not expired."""
    expires = _aware(account.watch_expires_at, now)
    return expires is not None and expires > now


def watch_due(account: GmailAccount, now: datetime, topic: str | None) -> bool:
    """The watch should be (re)made now: a topic is configured, no failed attempt's backoff is running, and the
    watch is missing or has less than RENEW_BEFORE left."""
    if not topic:
        return False
    retry_at = _aware(account.watch_retry_at, now)
    if retry_at is not None and retry_at > now:
        return False  # the last attempt failed: wait out the backoff
    expires = _aware(account.watch_expires_at, now)
    return expires is None or expires - now < RENEW_BEFORE


def renew_watch(engine: Engine, account: GmailAccount, mailbox: MailboxClient, topic: str, now: datetime) -> bool:
    """Call `users.watch` and store its expiry, or the failure and when to try again. True if it was renewed."""
    try:
        response = mailbox.watch(topic)
        expires = datetime.fromtimestamp(int(response["expiration"]) / 1000, tz=now.tzinfo)
    except (GmailError, KeyError, TypeError, ValueError, OverflowError, OSError) as error:
        failures = account.watch_failures + 1
        delay = min(RETRY_MAX, RETRY_FIRST * 2 ** min(failures - 1, 16))
        log.warning("users.watch failed for mailbox %s (%s in a row; polling continues, next try in %s): %s",
                    account.id, failures, delay, error)
        values = {"watch_failures": failures, "watch_retry_at": now + delay}
        renewed = False
    else:
        values = {"watch_expires_at": expires, "watch_failures": 0, "watch_retry_at": None}
        renewed = True
    with session_scope(engine) as session:
        session.execute(update(GmailAccount).where(GmailAccount.id == account.id).values(**values)
                        .execution_options(synchronize_session=False))
    return renewed

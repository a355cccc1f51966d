"""Follow-ups (SPEC §3): the rep's setting, and the nudge's buttons (Reply, Snooze 1 day, Done).

A nudge's button names (follow-up, mailbox); both are checked on every click: only the mailbox's owner acts on
its follow-ups, and a value whose follow-up is not that mailbox's is a stale button, never another rep's data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from crm_store.db import session_scope
from crm_store.errors import InvalidInput, NotAllowed
from crm_store.models import Followup, GmailAccount, utcnow
from gmail.followups import MAX_HOURS, SNOOZE
from usecases import access, compose
from usecases.actors import SlackActorRef, resolve
from usecases.compose import Draft
from usecases.context import Services
from usecases.refusals import Refusal


@dataclass(frozen=True)
class FollowupSetting:
    enabled: bool
    hours: int
    working_hours: str  # the deployment's working day, as configured


def change_followups(services: Services, who: SlackActorRef, *, enabled: bool | None = None,
                     hours: int | None = None) -> FollowupSetting:
    """`/gmail followups on|off|<hours>`: hours turn follow-ups on with that delay."""
    if hours is not None and not (isinstance(hours, int) and 1 <= hours <= MAX_HOURS):
        raise InvalidInput(Refusal.FOLLOWUP_HOURS, limit=MAX_HOURS)
    actor = resolve(services, who)
    with session_scope(services.engine) as session:
        account = access.require_own_connected_mailbox(session, actor)
        if hours is not None:
            account.followup_hours, account.followups_enabled = hours, True
        elif enabled is not None:
            account.followups_enabled = enabled
        session.add(account)
        return FollowupSetting(account.followups_enabled, account.followup_hours,
                               services.config.followup_working_hours)


@dataclass(frozen=True)
class FollowupRef:
    followup_id: int
    account_id: int

    @classmethod
    def of(cls, value: Any) -> "FollowupRef":
        if not isinstance(value, dict) or not isinstance(value.get("f"), int) or not isinstance(value.get("a"), int):
            raise InvalidInput(Refusal.STALE_BUTTON)
        return cls(value["f"], value["a"])


def _owned(session: Session, services: Services, who: SlackActorRef, ref: FollowupRef) -> tuple[GmailAccount, Followup]:
    actor = resolve(services, who)
    account = access.require_mailbox_owner(session, actor, ref.account_id)
    followup = session.get(Followup, ref.followup_id)
    if followup is None or followup.account_id != account.id:
        raise NotAllowed(Refusal.STALE_BUTTON)
    return account, followup


def start_reply(services: Services, who: SlackActorRef, ref: FollowupRef) -> Draft:
    """Reply: the compose modal on the thread's newest customer email (threaded, as an alert's Reply)."""
    with session_scope(services.engine) as session:
        account, followup = _owned(session, services, who, ref)
        account_id, gmail_id, contact_id = account.id, followup.gmail_id, followup.contact_id
    return compose.start_reply(services, who, account_id, gmail_id, contact_id)


def snooze(services: Services, who: SlackActorRef, ref: FollowupRef) -> None:
    """Snooze 1 day: nudged once more after a day, if still unanswered."""
    with session_scope(services.engine) as session:
        _, followup = _owned(session, services, who, ref)
        followup.snoozed_until = utcnow() + SNOOZE
        followup.nudged_at = None
        session.add(followup)


def done(services: Services, who: SlackActorRef, ref: FollowupRef) -> None:
    with session_scope(services.engine) as session:
        _, followup = _owned(session, services, who, ref)
        if followup.done_at is None:
            followup.done_at = utcnow()
            session.add(followup)

"""Why an email is (not) under a label (SPEC F9): `/gmail why` for a rep's mailbox, `mailmagnet explain`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.errors import NotFoundError
from crm_store.explain import Explanation, explain_sender
from crm_store.models import GmailAccount, utcnow
from gmail.sync_batch import rep_timezone
from gmail.why import WhyAnswer, explain_for_mailbox
from usecases import access
from usecases.actors import SlackActorRef, acting
from usecases.context import Services


def why(services: Services, who: SlackActorRef, query: str) -> WhyAnswer:
    """For the rep's own mailbox: the category, the deals that decided it, and what happened to the email."""
    with acting(services, who) as (session, actor):
        account = access.require_own_connected_mailbox(session, actor)
        tz = rep_timezone(session, account, services.config.default_timezone)
        session.expunge(account)
    return explain_for_mailbox(
        services.engine, account, query, mailbox=services.mailbox_client(account), at=utcnow(), tz=tz,
        rules=services.rules, labels=services.labels, lookback_days=services.config.backfill_lookback_days,
        label_interval_minutes=services.config.label_interval_minutes)


@dataclass(frozen=True)
class CliExplanation:
    explanation: Explanation
    messages: list[str] | None


def explain(services: Services, sender: str, *, at: datetime, tz: str, account_email: str | None = None) -> CliExplanation:
    """`mailmagnet explain` (the operator): the CRM's answer, and with `--account` what the database says about
    that mailbox's emails from the sender (no Gmail call)."""
    if account_email is None:
        with session_scope(services.engine) as session:
            return CliExplanation(explain_sender(session, sender, at=at, tz=tz, rules=services.rules,
                                                 labels=services.labels), None)
    with session_scope(services.engine) as session:
        account = session.exec(select(GmailAccount).where(
            GmailAccount.email_address == account_email.strip().lower())).first()
        if account is None:
            raise NotFoundError(f"no connected mailbox {account_email}")
        session.expunge(account)
    answer = explain_for_mailbox(services.engine, account, sender, mailbox=None, at=at, tz=tz, rules=services.rules,
                                 labels=services.labels, lookback_days=services.config.backfill_lookback_days,
                                 label_interval_minutes=services.config.label_interval_minutes)
    return CliExplanation(answer.explanation, answer.message_status)

"""`/gmail why <sender email or Gmail link>` (SPEC F9)."""
from __future__ import annotations

from slack_bolt import Respond

from bot.services import mailbox_client
from crm_store.identity import require_mail_integration
from crm_store.mailboxes import connected_mailbox_of
from crm_store.models import utcnow
from gmail.sync import rep_timezone
from gmail.why import explain_for_mailbox
from handlers.blocks.why import why_blocks
from handlers.context import SlackRequest

USAGE = ("Tell me which email: `/gmail why jane@acme.com`, `/gmail why \"Jane Doe\" <jane@acme.com>` "
         "or `/gmail why <Gmail link or message id>`.")


def why(request: SlackRequest, args: list[str], respond: Respond) -> None:
    query = " ".join(args).strip()
    if not query:
        respond(text=USAGE, response_type="ephemeral")
        return
    services = request.services
    with request.scope() as (session, actor):
        require_mail_integration(session, actor)
        account = connected_mailbox_of(session, actor.user)
        tz = rep_timezone(session, account, services.settings.default_timezone)
        session.expunge(account)
    answer = explain_for_mailbox(
        services.engine, account, query, mailbox=mailbox_client(services, account), at=utcnow(), tz=tz,
        rules=services.rules, labels=services.labels, lookback_days=services.settings.backfill_lookback_days,
        label_interval_minutes=max(1, services.settings.label_interval_seconds // 60))
    text, blocks = why_blocks(answer.explanation.label, answer.explanation.reason, answer.message_status)
    respond(text=text, blocks=blocks, response_type="ephemeral")

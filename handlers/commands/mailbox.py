"""`/gmail status|disconnect|sharing|magnet|labels|alerts`: the rep's own mailbox and its settings."""
from __future__ import annotations

import secrets

from slack_bolt import Respond

from crm_store.identity import require_linked, require_mail_integration
from crm_store.mailboxes import connected_mailbox_of, mailbox_of
from crm_store.models import Sharing, SharingDepth, SharingPolicy
from crm_store.sharing import effective_sharing, org_policy
from handlers import changes
from handlers.blocks.commands import (
    disconnect_confirmation,
    message,
    status_report,
    usage,
)
from handlers.blocks.wording import POLICY_TITLES, sharing_line
from handlers.context import SlackRequest
from handlers.gmail_check import check_connection
from handlers.parsing import UsageError, channel_ref, on_off, shown
from handlers.status import load_status, mailbox_token

SHARING_WORDS = {s.value for s in Sharing}
DEPTH_WORDS = {d.value for d in SharingDepth}


def _say(respond: Respond, text: str) -> None:
    reply, blocks = message(text)
    respond(text=reply, blocks=blocks, response_type="ephemeral")


def _no_arguments(args: list[str], topic: str) -> None:
    if args:
        raise UsageError(f"`/gmail {topic}` takes no arguments.", topic)


def status(request: SlackRequest, args: list[str], respond: Respond) -> None:
    with request.scope() as (session, actor):
        require_mail_integration(session, actor)
        _no_arguments(args, "status")
        report = load_status(session, actor, request.team_id)
    if report.connected and request.services.gmail is not None:
        report.live_check = check_connection(request.services, report.account_id)
    text, blocks = status_report(report)
    respond(text=text, blocks=blocks, response_type="ephemeral")


def disconnect(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _no_arguments(args, "disconnect")
    with request.scope() as (session, actor):
        user = require_linked(session, actor)
        account = mailbox_of(session, user)
        if account is None:
            # Deleting one's own data never needs a permission; with nothing to delete, F10 applies as usual.
            require_mail_integration(session, actor)
            raise UsageError("You have no Gmail connected, so there is nothing to disconnect.", "connect")
        token = f"{mailbox_token(account)}:{secrets.token_urlsafe(9)}"
        text, blocks = disconnect_confirmation(account.email_address, token)
    respond(text=text, blocks=blocks, response_type="ephemeral")


def sharing(request: SlackRequest, args: list[str], respond: Respond) -> None:
    choice: Sharing | None = None
    depth: SharingDepth | None = None
    for word in args:
        lowered = word.lower()
        if lowered in SHARING_WORDS and choice is None:
            choice = Sharing(lowered)
        elif lowered in DEPTH_WORDS and depth is None:
            depth = SharingDepth(lowered)
        else:
            raise UsageError(f"`{shown(word)}` is not a sharing option here.", "sharing")
    if choice is None and depth is None:
        _show_sharing(request, respond)
        return
    _say(respond, changes.change_sharing(request, choice, depth))


def _show_sharing(request: SlackRequest, respond: Respond) -> None:
    with request.scope() as (session, actor):
        account = connected_mailbox_of(session, require_mail_integration(session, actor))
        policy = org_policy(session, request.team_id)
        current = sharing_line(effective_sharing(policy, account).value, account.sharing_depth)
    lines = [f"Your sharing: {current}."]
    if policy is not SharingPolicy.CHOICE:
        lines.append(f"Your organisation set *{POLICY_TITLES[policy.value]}* for everyone; you can still choose "
                     "how much colleagues see (`metadata`, `subject` or `full`).")
    text, blocks = usage("\n".join(lines), "sharing")
    respond(text=text, blocks=blocks, response_type="ephemeral")


def magnet(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _check_permission(request)
    _say(respond, changes.change_magnet(request, on_off(args, "magnet")))


def labels(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _check_permission(request)
    _say(respond, changes.change_labels(request, on_off(args, "labels")))


def alerts(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _check_permission(request)
    if len(args) != 1:
        raise UsageError("`/gmail alerts` takes `dm` or one `#channel`.", "alerts")
    ref = None if args[0].lower() in ("dm", "me", "direct") else channel_ref(args[0], "alerts")
    _say(respond, changes.change_alert_destination(request, ref))


def _check_permission(request: SlackRequest) -> None:
    """F10 before anything else: without Mail Integration the refusal, not a usage message."""
    with request.scope() as (session, actor):
        require_mail_integration(session, actor)


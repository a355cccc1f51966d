"""`/gmail admin grant|revoke|policy|link` (SPEC §1): Slack workspace admins and CRM admins only."""
from __future__ import annotations

import logging

from slack_bolt import Respond

from crm_store.errors import InvalidInput
from crm_store.identity import require_admin
from crm_store.mailboxes import mailbox_of, org_settings, set_policy
from crm_store.models import SharingPolicy
from crm_store.users import (
    find_user_by_email,
    find_user_by_slack,
    get_or_create_user,
    link_slack_user,
    set_permissions,
)
from handlers.blocks.commands import message, usage
from handlers.blocks.wording import POLICY_TITLES, SHARING_HELP, escape
from handlers.context import SlackRequest
from handlers.identity import slack_identity
from handlers.parsing import UsageError, email_address, mentioned_user, shown

log = logging.getLogger(__name__)

TOPIC = "admin"


def _say(respond: Respond, text: str) -> None:
    reply, blocks = message(text)
    respond(text=reply, blocks=blocks, response_type="ephemeral")


def _require_admin(request: SlackRequest) -> None:
    with request.scope() as (_session, actor):
        require_admin(actor)


def admin(request: SlackRequest, args: list[str], respond: Respond) -> None:
    _require_admin(request)  # a non-admin learns that first, whatever they typed
    action = args[0].lower() if args else ""
    handler = ACTIONS.get(action)
    if handler is None:
        problem = f"`/gmail admin {shown(args[0])}` is not an admin command." if args else None
        text, blocks = usage(problem, TOPIC)
        respond(text=text, blocks=blocks, response_type="ephemeral")
        return
    handler(request, args[1:], respond)


def _one_mention(args: list[str], action: str) -> str:
    if len(args) != 1:
        raise UsageError(f"`/gmail admin {action}` takes one @user.", TOPIC)
    return mentioned_user(args[0], TOPIC)


def grant(request: SlackRequest, args: list[str], respond: Respond) -> None:
    target = _one_mention(args, "grant")
    identity = slack_identity(request.client, request.team_id, target)  # before the transaction
    with request.scope() as (session, actor):
        require_admin(actor)
        user = find_user_by_slack(session, request.team_id, target)
        created = False
        if user is None:
            if not identity.email:
                raise InvalidInput(f"I can't read <@{target}>'s email from Slack, so I can't find their CRM user. "
                                   f"Link them first: `/gmail admin link @user their-crm-email`.")
            existing = find_user_by_email(session, identity.email)
            if existing is not None and existing.slack_user_id and existing.slack_user_id != target:
                raise InvalidInput(f"The CRM user {escape(identity.email)} is linked to <@{existing.slack_user_id}>. "
                                   "Use `/gmail admin link` to change that.")
            created = existing is None
            user = existing or get_or_create_user(session, identity.email, identity.name)
            link_slack_user(session, user, team_id=request.team_id, slack_user_id=target, timezone=identity.tz)
        set_permissions(session, user, mail_integration=True)
        email = user.email
    note = f" (a new CRM user, {escape(email)})" if created else f" (CRM user {escape(email)})"
    _say(respond, f"<@{target}> now has the Mail Integration permission{note}. They can run `/gmail connect`.")


def revoke(request: SlackRequest, args: list[str], respond: Respond) -> None:
    target = _one_mention(args, "revoke")
    identity = slack_identity(request.client, request.team_id, target)
    with request.scope() as (session, actor):
        require_admin(actor)
        user = find_user_by_slack(session, request.team_id, target)
        if user is None and identity.email:
            user = find_user_by_email(session, identity.email)
        if user is None:
            raise InvalidInput(f"<@{target}> is not a CRM user, so there is nothing to revoke.")
        set_permissions(session, user, mail_integration=False)
        account = mailbox_of(session, user)
        account_id = account.id if account else None
    text = f"<@{target}> no longer has the Mail Integration permission."
    if account_id is not None:
        # Without the permission MailMagnet must not keep reading their mail (F10): disconnect as in F8.
        from handlers.changes import disconnect_any_mailbox

        address = disconnect_any_mailbox(request, account_id)
        if address:
            text += (f" Their Gmail {escape(address)} was disconnected: Google access revoked, stored credentials "
                     "and email records deleted.")
    _say(respond, text)


def policy(request: SlackRequest, args: list[str], respond: Respond) -> None:
    if not args:
        with request.scope() as (session, actor):
            require_admin(actor)
            current = org_settings(session, request.team_id).sharing_policy
        text, blocks = usage(f"The organisation's sharing policy is *{POLICY_TITLES.get(current, current)}*.", TOPIC)
        respond(text=text, blocks=blocks, response_type="ephemeral")
        return
    if len(args) != 1 or args[0].lower() not in {p.value for p in SharingPolicy}:
        raise UsageError("The policy is one of `private`, `public`, `custom` or `choice` (each rep picks).", TOPIC)
    chosen = SharingPolicy(args[0].lower())
    with request.scope() as (session, actor):
        require_admin(actor)
        set_policy(session, request.team_id, chosen)
    if chosen is SharingPolicy.CHOICE:
        _say(respond, "Sharing policy: *User's choice* — each rep picks Private, Public or Custom for their mailbox.")
    else:
        _say(respond, f"Sharing policy: *{POLICY_TITLES[chosen.value]}* for everyone — "
                      f"{SHARING_HELP[chosen.value]}. Reps still choose how much colleagues see.")


def link(request: SlackRequest, args: list[str], respond: Respond) -> None:
    if len(args) != 2:
        raise UsageError("`/gmail admin link` takes an @user and their CRM email.", TOPIC)
    target = mentioned_user(args[0], TOPIC)
    email = email_address(args[1], TOPIC)
    with request.scope() as (session, actor):
        require_admin(actor)
        existed = find_user_by_email(session, email) is not None
        user = get_or_create_user(session, email)
        previous = user.slack_user_id if user.slack_team_id == request.team_id else None
        link_slack_user(session, user, team_id=request.team_id, slack_user_id=target)
    text = f"<@{target}> is now linked to the CRM user {escape(email)}"
    text += "." if existed else " (new CRM user, with no permissions yet: `/gmail admin grant` gives Mail Integration)."
    if previous and previous != target:
        text += f" That CRM user was linked to <@{previous}> before."
    _say(respond, text)


ACTIONS = {"grant": grant, "revoke": revoke, "policy": policy, "link": link}

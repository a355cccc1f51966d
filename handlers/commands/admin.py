"""`/gmail admin status|grant|revoke|policy|managers|link|allow|audit` (SPEC §1, §3, §5): Slack workspace admins
and CRM admins only."""
from __future__ import annotations

from handlers.blocks.commands import Reply, message, usage
from handlers.blocks.wording import POLICY_TITLES, SHARING_HELP, escape
from handlers.blocks.onboarding import grant_report
from handlers.parsing import UsageError, channel_choice, email_address, mentioned_user, shown, since_moment, usergroup_id
from handlers.blocks.audit import audit_blocks
from handlers.blocks.overview import overview_reply
from usecases import admin as admin_use_cases
from usecases import audit as audit_use_cases
from usecases import onboarding as onboarding_use_cases
from usecases import overview as overview_use_cases
from usecases.values import (
    GrantSource,
    GroupNotFound,
    ManagersSee,
    NotAMember,
    Services,
    SharingPolicy,
    SlackActorRef,
    UsergroupNotFound,
)

TOPIC = "admin"


def admin(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    """A non-admin learns that first, whatever they typed. Every action's use case refuses a non-admin first thing
    in its session (`access.require_admin`, before any Slack call), so the check is made here only when no use case
    runs: an unknown action, or words the action could not parse (a usage answer is no non-admin's business). One
    session per request, not one more for the check."""
    action = args[0].lower() if args else ""
    handler = ACTIONS.get(action)
    if handler is None:
        admin_use_cases.show_policy(services, who)
        problem = f"`/gmail admin {shown(args[0])}` is not an admin command." if args else None
        return usage(problem, TOPIC)
    try:
        return handler(services, who, args[1:])
    except UsageError:
        admin_use_cases.show_policy(services, who)
        raise


def _one_mention(args: list[str], action: str) -> str:
    if len(args) != 1:
        raise UsageError(f"`/gmail admin {action}` takes one @user.", TOPIC)
    return mentioned_user(args[0], TOPIC)


def grant(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    """`/gmail admin grant @user|@usergroup|#channel`."""
    if len(args) == 1 and (usergroup_id(args[0]) or args[0].startswith(("<#", "#"))):
        return _grant_members(services, who, args[0])
    target = _one_mention(args, "grant")
    change = admin_use_cases.grant(services, who, target)
    onboarding_use_cases.invite_granted(services, change.email, granted_by=who.user_id)
    note = f" (a new CRM user, {escape(change.email)})" if change.created else f" (CRM user {escape(change.email)})"
    return message(f"<@{target}> now has the Mail Integration permission{note}. They can run `/gmail connect`.")


def _grant_members(services: Services, who: SlackActorRef, word: str) -> Reply:
    group = usergroup_id(word)
    if group:
        source, shown_as = GrantSource(usergroup_id=group), f"<!subteam^{group}>"
    else:
        channel = channel_choice(word, TOPIC)
        source = GrantSource(channel_id=channel.id, channel_name=channel.name)
        shown_as = f"<#{channel.id}>" if channel.id else f"#{escape(channel.name or '')}"
    try:
        report = onboarding_use_cases.grant_members(services, who, source)
    except UsergroupNotFound:
        return message(f"I can't read the members of {shown_as}: it does not exist in this workspace, is disabled, "
                       "or MailMagnet lacks the `usergroups:read` permission (reinstall the app).")
    except NotAMember:
        return message(f"{shown_as} is a private channel you are not in: its members are not yours to see. Ask one "
                       "of them, or use a user group.")
    except GroupNotFound:
        return message(f"I can't use the members of {shown_as}: MailMagnet is not in it, it does not exist, or "
                       "people outside your organisation are in it. Invite MailMagnet to the channel, or use a "
                       "user group.")
    return grant_report(report, shown_as)


def revoke(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    target = _one_mention(args, "revoke")
    change = admin_use_cases.revoke(services, who, target)
    text = f"<@{target}> no longer has the Mail Integration permission."
    if change.disconnected:
        text += (f" Their Gmail {escape(change.disconnected)} was disconnected: Google access revoked, stored "
                 "credentials and email records deleted.")
    return message(text)


POLICY_CHOICES = "`private`, `public`, `custom` or `choice` (each rep picks)"


def _policy_word(word: str, *, clearable: bool = False) -> SharingPolicy | None:
    word = word.lower()
    if clearable and word in ("clear", "default", "none"):
        return None
    if word not in {p.value for p in SharingPolicy}:
        extra = ", or `clear` to go back to the wider setting" if clearable else ""
        raise UsageError(f"The policy is one of {POLICY_CHOICES}{extra}.", TOPIC)
    return SharingPolicy(word)


def _policy_phrase(policy: SharingPolicy) -> str:
    if policy is SharingPolicy.CHOICE:
        return "*User's choice* (they pick Private, Public or Custom)"
    return f"*{POLICY_TITLES[policy.value]}* — {SHARING_HELP[policy.value]}"


def policy(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    """`/gmail admin policy [P]` (the workspace), `… policy role NAME P|clear`, `… policy @user P|clear`: the most
    specific setting wins."""
    if not args:
        return _policy_overview(services, who)
    if args[0].lower() == "role":
        if len(args) < 3:
            raise UsageError("`/gmail admin policy role <role name> <policy>|clear`.", TOPIC)
        chosen = _policy_word(args[-1], clearable=True)
        role, holders = admin_use_cases.change_role_policy(services, who, " ".join(args[1:-1]), chosen)
        if chosen is None:
            return message(f"The role “{escape(role)}” has no policy of its own now: its {holders} CRM users follow "
                           "the organisation's policy (or one set for them).")
        return message(f"Sharing policy for the role “{escape(role)}” ({holders} CRM users): {_policy_phrase(chosen)}. "
                       "A policy set for one user still wins over it.")
    if args[0].startswith(("<@", "@")):
        if len(args) != 2:
            raise UsageError("`/gmail admin policy @user <policy>|clear`.", TOPIC)
        target = mentioned_user(args[0], TOPIC)
        chosen = _policy_word(args[1], clearable=True)
        email = admin_use_cases.change_user_policy(services, who, target, chosen)
        if chosen is None:
            return message(f"<@{target}> ({escape(email)}) follows their role's policy again (else the "
                           "organisation's).")
        return message(f"Sharing policy for <@{target}> ({escape(email)}): {_policy_phrase(chosen)}.")
    if len(args) != 1:
        raise UsageError(f"The policy is one of {POLICY_CHOICES}.", TOPIC)
    chosen = admin_use_cases.change_policy(services, who, _policy_word(args[0]))
    if chosen is SharingPolicy.CHOICE:
        return message("Sharing policy: *User's choice* — each rep picks Private, Public or Custom for their mailbox.")
    return message(f"Sharing policy: *{POLICY_TITLES[chosen.value]}* for everyone — {SHARING_HELP[chosen.value]}. "
                   "Reps still choose how much colleagues see. A policy set for a role or a user wins over it.")


def _policy_overview(services: Services, who: SlackActorRef) -> Reply:
    overview = admin_use_cases.policy_overview(services, who)
    current = overview.organisation.value
    lines = [f"Your workspace's sharing policy is *{POLICY_TITLES.get(current, current)}*."]
    for role, chosen in overview.roles:
        lines.append(f"• Role “{escape(role)}”: {POLICY_TITLES[chosen.value]}")
    for email, slack_id, chosen in overview.users:
        who_ = f"<@{slack_id}>" if slack_id else escape(email)
        lines.append(f"• {who_}: {POLICY_TITLES[chosen.value]}")
    lines.append(f"Managers see their reports' customer email: *{MANAGERS_WORDS[overview.managers_see]}*.")
    return usage("\n".join(lines), TOPIC)


MANAGERS_WORDS = {
    ManagersSee.NONE: "no (only what the reports' sharing allows)",
    ManagersSee.METADATA: "from, to and date",
    ManagersSee.SUBJECT: "from, to, date and subject",
    ManagersSee.FULL: "subject and snippet too (never the body)",
}


def managers(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    """`/gmail admin managers none|metadata|subject|full` (SPEC §1 Roles)."""
    if len(args) != 1 or args[0].lower() not in {d.value for d in ManagersSee}:
        raise UsageError("`/gmail admin managers none|metadata|subject|full`: how much of their reports' customer "
                         "email managers see, whatever the reports' sharing.", TOPIC)
    depth = admin_use_cases.change_managers_see(services, who, ManagersSee(args[0].lower()))
    if depth is ManagersSee.NONE:
        return message("Managers now see their reports' emails only as the reports' sharing allows.")
    return message(f"Managers (and their managers) now see their reports' emails with CRM contacts: "
                   f"*{MANAGERS_WORDS[depth]}*, whatever the reports' sharing. Never mail that is not with a CRM "
                   "contact. Each view is in the audit log.")


def link(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    if len(args) != 2:
        raise UsageError("`/gmail admin link` takes an @user and their CRM email.", TOPIC)
    target = mentioned_user(args[0], TOPIC)
    result = admin_use_cases.link(services, who, target, email_address(args[1], TOPIC))
    text = f"<@{target}> is now linked to the CRM user {escape(result.email)}"
    text += (" (new CRM user, with no permissions yet: `/gmail admin grant` gives Mail Integration)."
             if result.created else ".")
    if result.previous_slack_user:
        text += f" That CRM user was linked to <@{result.previous_slack_user}> before."
    return message(text)


def allow(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    if len(args) != 2:
        raise UsageError("`/gmail admin allow` takes an @user and the Gmail address they may connect.", TOPIC)
    target = mentioned_user(args[0], TOPIC)
    address = admin_use_cases.allow_address(services, who, target, email_address(args[1], TOPIC))
    return message(f"<@{target}> may now connect the Gmail {escape(address)} (`/gmail connect`, signing in to "
                   "Google as that address).")


def audit(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    """`/gmail admin audit [@user] [since]`, the words in any order."""
    wrong = UsageError("`/gmail admin audit` takes an optional @user and an optional date (`2026-01-31`, `7d`).",
                       TOPIC)
    if len(args) > 2:
        raise wrong
    user, since = None, None
    for word in args:
        if word.startswith(("<@", "@")) and user is None:
            user = mentioned_user(word, TOPIC)
        elif since is None and not word.startswith(("<@", "@")):
            since = since_moment(word, TOPIC)
        else:
            raise wrong
    page = audit_use_cases.audit_for_slack(services, who, user, since)
    return audit_blocks(page, user=user, since=since, own_team=page.workspace)


def status(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    """`/gmail admin status`: every rep of the admin's scope, problems first."""
    if args:
        raise UsageError("`/gmail admin status` takes nothing after it.", TOPIC)
    return overview_reply(overview_use_cases.admin_overview(services, who))


ACTIONS = {"status": status, "managers": managers, "grant": grant, "revoke": revoke, "policy": policy, "link": link,
           "allow": allow, "audit": audit}

"""Who may do what (SPEC §1, §5): every actor kind × every action, through signed Slack requests.

Actors: the rep (whose mailbox is the target), another rep of the same workspace, a Slack workspace admin of
this workspace and one of the organisation's other workspace, a CRM admin (profile flag, in the other
workspace), and a Slack user who is no CRM user. Each cell is either allowed (and does what it says) or
refused (and changes nothing).
"""
from __future__ import annotations

import json

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Alert, CrmUser, GmailAccount, MailboxAlias, MutedContact, OrgSettings
from crm_store.users import find_user_by_email, user_profile
from sandbox.stack import OTHER_TEAM, start_org_stack
from tests.handlers.conftest import shown_text
from tests.harness import REP, REP_EMAIL, REP_GMAIL, TEAM

CONTACTS = "email,first_name,last_name,company,external_id\njane@acme.example,Jane,Doe,Acme,C1\n"
DEALS = "name,contact_external_id,stage,closing_date,amount,external_id\nAcme renewal,C1,Negotiation,2099-01-15,1000,D1\n"

# actor -> (team, Slack user id)
ACTORS = {
    "rep": (TEAM, REP),
    "other_rep": (TEAM, "U300OTH"),
    "workspace_admin": (TEAM, "U900ADM"),
    "other_workspace_admin": (OTHER_TEAM, "U2ADMIN"),
    "crm_admin": (OTHER_TEAM, "U2CRMAD"),
    "non_crm_user": (TEAM, "U404NOB"),
}
NEWCOMER = {TEAM: "U1NEW", OTHER_TEAM: "U2NEW"}  # a Slack user of the actor's workspace, no CRM user yet

Y, N = True, False
# link-new: linking a newcomer to a CRM email that is not theirs, which creates that CRM user: a CRM admin's word
# suffices; a Slack workspace admin neither claims nor creates a CRM user (SPEC §1 "Linking needs proof").
# Expected outcome of each action (columns) for each actor (rows). Destructive actions come last.
MATRIX = {
    #                        status view  mute  reply link-self link-new allow policy revoke
    "rep":                   (Y,    Y,    Y,    Y,    N,        N,       N,    N,     N),
    "other_rep":             (Y,    Y,    N,    N,    N,        N,       N,    N,     N),
    "workspace_admin":       (N,    N,    N,    N,    N,        N,       Y,    Y,     Y),
    "other_workspace_admin": (N,    N,    N,    N,    N,        N,       N,    Y,     N),
    "crm_admin":             (Y,    Y,    N,    N,    N,        Y,       N,    Y,     N),
    "non_crm_user":          (N,    N,    N,    N,    N,        N,       N,    N,     N),
}
ACTIONS = ("status", "view_contact", "mute", "reply", "link_self_to_rep", "link_newcomer", "allow_for_rep",
           "policy", "revoke_rep")


@pytest.fixture
def org(database_url):
    running = start_org_stack(database_url, scheduler=True, start_scheduler=False)
    running.import_crm(CONTACTS, DEALS)
    running.add_rep()
    running.add_rep("U300OTH", "other@crm.example", gmail="other@gmail.example")
    running.slack.add_user(TEAM, "U900ADM", email="it@crm.example", is_admin=True)
    running.slack.add_user(OTHER_TEAM, "U2ADMIN", email="it2@other.example", is_admin=True)
    running.add_rep("U2CRMAD", "ceo@crm.example", gmail=None, admin=True, team=OTHER_TEAM)
    running.slack.add_user(TEAM, "U404NOB", email="guest@elsewhere.example")
    for team, user in NEWCOMER.items():
        running.slack.add_user(team, user, email=f"{user.lower()}@newcomers.example")
    running.connect_with_magnet()
    running.mail("jane@acme.example", "Renewal")
    running.run("sync")
    yield running
    running.stop()


def state(stack) -> dict:
    """Everything an action on the rep could change."""
    with session_scope(stack.engine) as session:
        rep = find_user_by_email(session, REP_EMAIL)
        account = session.exec(select(GmailAccount).where(GmailAccount.email_address == REP_GMAIL)).first()
        return {
            "rep_link": (rep.slack_team_id, rep.slack_user_id),
            "rep_mail_integration": user_profile(session, rep).mail_integration,
            "rep_mailbox": account.status if account else None,
            "mutes": len(session.exec(select(MutedContact)).all()),
            "aliases": sorted(a.address for a in session.exec(select(MailboxAlias)).all()),
            "policies": sorted((o.team_id, o.sharing_policy) for o in session.exec(select(OrgSettings)).all()),
            "links": sorted((u.email, u.slack_team_id, u.slack_user_id) for u in session.exec(select(CrmUser)).all()),
            "sent": len(stack.gmail.sent_messages(REP_GMAIL)),
        }


def command(stack, team, user, text) -> str:
    driver = stack.driver_for(team)
    response = driver.slash_command(user, "/gmail", text)
    assert response.status == 200
    posts = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url), timeout=15)
    stack.services.jobs.wait_for_requested()
    return shown_text(posts[-1])


def click(stack, team, user, action_id) -> str:
    dm = stack.slack.dm_channel(TEAM, REP)
    alert = next(m for m in reversed(stack.slack.messages(dm))
                 if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert")
    value = next(e["value"] for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == action_id)
    before_posts, before_views = len(stack.slack.response_url_posts()), len(stack.slack.view_calls)
    response = stack.driver_for(team).block_action(user, action_id, value=value, channel_id=dm, message=alert)
    assert response.status == 200
    if action_id == "alert_reply":
        views = stack.slack.wait_for(lambda: [v for v in stack.slack.view_calls[before_views:]
                                              if v.get("method") == "views.update"] or None, timeout=15)
        return json.dumps(views[-1])
    return shown_text(stack.slack.wait_for(lambda: stack.slack.response_url_posts()[before_posts:] or None,
                                           timeout=15)[-1])


def attempt(stack, actor: str, action: str) -> tuple[bool, str]:
    """Run one action as one actor: (it was allowed, what the actor read)."""
    team, user = ACTORS[actor]
    if action == "status":
        text = command(stack, team, user, "status")
        return "MailMagnet status" in text or "no Gmail connected" in text, text
    if action == "view_contact":
        text = click(stack, team, user, "alert_view_contact")
        return "Acme renewal" in text, text
    if action == "mute":
        text = click(stack, team, user, "alert_mute_contact")
        return text.startswith("Muted"), text
    if action == "reply":
        text = click(stack, team, user, "alert_reply")
        return "reply_body" in text, text  # the compose form opened (else the refusal modal)
    if action == "link_self_to_rep":
        text = command(stack, team, user, f"admin link <@{user}> {REP_EMAIL}")
        return "is now linked" in text, text
    if action == "link_newcomer":
        text = command(stack, team, user, f"admin link <@{NEWCOMER[team]}> {NEWCOMER[team].lower()}@crm.example")
        return "is now linked" in text, text
    if action == "allow_for_rep":
        text = command(stack, team, user, f"admin allow <@{REP}> rep.alias@gmail.example")
        return "may now connect" in text, text
    if action == "policy":
        text = command(stack, team, user, "admin policy public")
        return "Sharing policy: *Public*" in text, text
    if action == "revoke_rep":
        text = command(stack, team, user, f"admin revoke <@{REP}>")
        return "no longer has the Mail Integration permission" in text, text
    raise AssertionError(action)


@pytest.mark.parametrize("actor", list(MATRIX))
def test_permission_matrix(org, actor):
    for action, expected in zip(ACTIONS, MATRIX[actor]):
        before = state(org)
        allowed, text = attempt(org, actor, action)
        assert allowed == expected, (actor, action, text)
        after = state(org)
        if not expected:
            assert after == before, (actor, action, "a refusal changed something", text)
        elif action in ("status", "view_contact"):
            assert after == before  # reading changes nothing
        elif action == "mute":
            assert after["mutes"] == before["mutes"] + 1
        elif action == "reply":
            assert after == before  # the form opened; nothing is sent until it is submitted
        elif action == "link_newcomer":
            assert len(after["links"]) == len(before["links"]) + 1
        elif action == "allow_for_rep":
            assert after["aliases"] == sorted(before["aliases"] + ["rep.alias@gmail.example"])
        elif action == "policy":
            assert after["policies"] != before["policies"] and after["rep_link"] == before["rep_link"]
        elif action == "revoke_rep":
            assert not after["rep_mail_integration"] and after["rep_mailbox"] is None

"""Who may do what (SPEC §1, §5): every actor kind × every action, through signed Slack requests.

Actors: the rep (whose mailbox is the target), another rep of the same workspace, a Slack workspace admin of
this workspace and one of the organisation's other workspace, a CRM admin (profile flag, in the other
workspace), and a Slack user who is no CRM user. Each cell is either allowed (the actor reads that action's
success, and it did what it says) or refused (the actor reads the specific refusal, and nothing changed).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import CrmUser, GmailAccount, MailboxAlias, MutedContact, OrgSettings
from crm_store.users import find_user_by_email, user_profile
from testsupport.stack import OTHER_TEAM, start_org_stack
from tests.support.slack import shown_text
from testsupport.stack import REP, REP_EMAIL, REP_GMAIL, TEAM
from handlers.blocks import refusals

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

# What each actor reads for each action: the action's own success, or the one refusal that applies. A cell
# passes only on those words, so a refusal for another reason — or an unhandled error's "something went
# wrong" — fails it. One line per cell, so rows added for a new rule merge cleanly.


@dataclass(frozen=True)
class Allowed:
    reads: str  # words only this action's success shows


@dataclass(frozen=True)
class Refused:
    reads: str  # the specific refusal (the domain error's message as the user reads it)


ADMIN_ONLY = Refused(refusals.ADMIN_ONLY)  # AdminOnly
NOT_LINKED = Refused("is not linked to a CRM user. Ask ")  # NotLinked (require_linked)
CRM_USERS_ONLY = Refused("Contact details are shown to CRM users only")  # NotLinked (require_crm_user)
ONLY_THE_OWNER = Refused(f"Only <@{REP}> can do that for their mailbox.")  # NotAllowed (require_mailbox_owner)
MAILBOX_KEEPS_ITS_REP = Refused("A mailbox belongs to its rep: it must be disconnected")  # NotAllowed (relinkable)
NOT_A_CRM_USER_HERE = Refused(f"<@{REP}> is not a CRM user yet")  # InvalidInput: no such user in their workspace
LINK_NEEDS_PROOF = Refused("A Slack workspace admin links someone only to the CRM user whose email")  # LinkNeedsProof
NOTHING_TO_REVOKE = Refused(f"<@{REP}> is not a CRM user, so there is nothing to revoke.")  # InvalidInput

STATUS = Allowed("MailMagnet status")
NO_MAILBOX_STATUS = Allowed("You have no Gmail connected. Run `/gmail connect`")
CARD = Allowed("Acme renewal")
MUTED = Allowed("Muted Jane Doe: no more MailMagnet alerts")
COMPOSE_FORM = Allowed('"block_id": "reply_body"')
LINKED = Allowed("is now linked to the CRM user")
MAY_CONNECT = Allowed("may now connect the Gmail rep.alias@gmail.example")
POLICY_PUBLIC = Allowed("Sharing policy: *Public*")
REVOKED = Allowed("no longer has the Mail Integration permission")
OVERVIEW = Allowed("Team overview")
MANAGERS_SUBJECT = Allowed("Managers (and their managers) now see their reports' emails")

# Destructive actions come last: each actor's row runs in this order on one organisation.
ACTIONS = ("status", "view_contact", "mute", "reply", "admin_status", "link_self_to_rep", "link_newcomer",
           "allow_for_rep", "policy", "managers", "revoke_rep")
EXPECTED: dict[tuple[str, str], Allowed | Refused] = {
    ("rep", "status"): STATUS,
    ("rep", "view_contact"): CARD,
    ("rep", "mute"): MUTED,
    ("rep", "reply"): COMPOSE_FORM,
    ("rep", "admin_status"): ADMIN_ONLY,
    ("rep", "link_self_to_rep"): ADMIN_ONLY,
    ("rep", "link_newcomer"): ADMIN_ONLY,
    ("rep", "allow_for_rep"): ADMIN_ONLY,
    ("rep", "policy"): ADMIN_ONLY,
    ("rep", "managers"): ADMIN_ONLY,
    ("rep", "revoke_rep"): ADMIN_ONLY,

    ("other_rep", "status"): NO_MAILBOX_STATUS,
    ("other_rep", "view_contact"): CARD,
    ("other_rep", "mute"): ONLY_THE_OWNER,
    ("other_rep", "reply"): ONLY_THE_OWNER,
    ("other_rep", "admin_status"): ADMIN_ONLY,
    ("other_rep", "link_self_to_rep"): ADMIN_ONLY,
    ("other_rep", "link_newcomer"): ADMIN_ONLY,
    ("other_rep", "allow_for_rep"): ADMIN_ONLY,
    ("other_rep", "policy"): ADMIN_ONLY,
    ("other_rep", "managers"): ADMIN_ONLY,
    ("other_rep", "revoke_rep"): ADMIN_ONLY,

    ("workspace_admin", "status"): NOT_LINKED,
    ("workspace_admin", "view_contact"): CRM_USERS_ONLY,
    ("workspace_admin", "mute"): ONLY_THE_OWNER,
    ("workspace_admin", "reply"): ONLY_THE_OWNER,
    ("workspace_admin", "admin_status"): OVERVIEW,
    ("workspace_admin", "link_self_to_rep"): LINK_NEEDS_PROOF,
    ("workspace_admin", "link_newcomer"): LINK_NEEDS_PROOF,
    ("workspace_admin", "allow_for_rep"): MAY_CONNECT,
    ("workspace_admin", "policy"): POLICY_PUBLIC,
    ("workspace_admin", "managers"): MANAGERS_SUBJECT,
    ("workspace_admin", "revoke_rep"): REVOKED,

    ("other_workspace_admin", "status"): NOT_LINKED,
    ("other_workspace_admin", "view_contact"): CRM_USERS_ONLY,
    ("other_workspace_admin", "mute"): ONLY_THE_OWNER,
    ("other_workspace_admin", "reply"): ONLY_THE_OWNER,
    ("other_workspace_admin", "admin_status"): OVERVIEW,
    ("other_workspace_admin", "link_self_to_rep"): LINK_NEEDS_PROOF,
    ("other_workspace_admin", "link_newcomer"): LINK_NEEDS_PROOF,
    ("other_workspace_admin", "allow_for_rep"): NOT_A_CRM_USER_HERE,
    ("other_workspace_admin", "policy"): POLICY_PUBLIC,
    ("other_workspace_admin", "managers"): MANAGERS_SUBJECT,
    ("other_workspace_admin", "revoke_rep"): NOTHING_TO_REVOKE,

    ("crm_admin", "status"): NO_MAILBOX_STATUS,
    ("crm_admin", "view_contact"): CARD,
    ("crm_admin", "mute"): ONLY_THE_OWNER,
    ("crm_admin", "reply"): ONLY_THE_OWNER,
    ("crm_admin", "admin_status"): OVERVIEW,
    ("crm_admin", "link_self_to_rep"): MAILBOX_KEEPS_ITS_REP,
    ("crm_admin", "link_newcomer"): LINKED,
    ("crm_admin", "allow_for_rep"): NOT_A_CRM_USER_HERE,
    ("crm_admin", "policy"): POLICY_PUBLIC,
    ("crm_admin", "managers"): MANAGERS_SUBJECT,
    ("crm_admin", "revoke_rep"): NOTHING_TO_REVOKE,

    ("non_crm_user", "status"): NOT_LINKED,
    ("non_crm_user", "view_contact"): CRM_USERS_ONLY,
    ("non_crm_user", "mute"): ONLY_THE_OWNER,
    ("non_crm_user", "reply"): ONLY_THE_OWNER,
    ("non_crm_user", "admin_status"): ADMIN_ONLY,
    ("non_crm_user", "link_self_to_rep"): ADMIN_ONLY,
    ("non_crm_user", "link_newcomer"): ADMIN_ONLY,
    ("non_crm_user", "allow_for_rep"): ADMIN_ONLY,
    ("non_crm_user", "policy"): ADMIN_ONLY,
    ("non_crm_user", "managers"): ADMIN_ONLY,
    ("non_crm_user", "revoke_rep"): ADMIN_ONLY,
}
UNHANDLED = "something went wrong on our side"


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
            "policies": sorted((o.team_id, o.sharing_policy, o.managers_see)
                               for o in session.exec(select(OrgSettings)).all()),
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


def attempt(stack, actor: str, action: str) -> str:
    """Run one action as one actor; returns what the actor read."""
    team, user = ACTORS[actor]
    if action == "status":
        return command(stack, team, user, "status")
    if action == "view_contact":
        return click(stack, team, user, "alert_view_contact")
    if action == "mute":
        return click(stack, team, user, "alert_mute_contact")
    if action == "reply":
        return click(stack, team, user, "alert_reply")  # the compose form, or the modal saying no
    if action == "link_self_to_rep":
        return command(stack, team, user, f"admin link <@{user}> {REP_EMAIL}")
    if action == "link_newcomer":
        return command(stack, team, user, f"admin link <@{NEWCOMER[team]}> {NEWCOMER[team].lower()}@crm.example")
    if action == "allow_for_rep":
        return command(stack, team, user, f"admin allow <@{REP}> rep.alias@gmail.example")
    if action == "policy":
        return command(stack, team, user, "admin policy public")
    if action == "admin_status":
        return command(stack, team, user, "admin status")
    if action == "managers":
        return command(stack, team, user, "admin managers subject")
    if action == "revoke_rep":
        return command(stack, team, user, f"admin revoke <@{REP}>")
    raise AssertionError(action)


def test_every_cell_says_what_it_expects():
    assert set(EXPECTED) == {(actor, action) for actor in ACTORS for action in ACTIONS}
    # An outcome's words must tell it from every other outcome of its action (else a wrong answer could pass).
    for action in ACTIONS:
        outcomes = {EXPECTED[(actor, action)] for actor in ACTORS}
        for outcome in outcomes:
            assert not any(outcome.reads in other.reads for other in outcomes if other != outcome), (action, outcome)


@pytest.mark.parametrize("actor", list(ACTORS))
def test_permission_matrix(org, actor, caplog):
    caplog.set_level(logging.ERROR, logger="mailmagnet.handlers")
    for action in ACTIONS:
        expected = EXPECTED[(actor, action)]
        before = state(org)
        text = attempt(org, actor, action)
        assert UNHANDLED not in text, (actor, action, text)
        assert expected.reads in text, (actor, action, expected, text)
        after = state(org)
        if isinstance(expected, Refused):
            assert after == before, (actor, action, "a refusal changed something", text)
        elif action in ("status", "view_contact", "admin_status"):
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
        elif action == "managers":
            assert after["policies"] != before["policies"] and after["links"] == before["links"]
        elif action == "revoke_rep":
            assert not after["rep_mail_integration"] and after["rep_mailbox"] is None
        else:
            raise AssertionError(f"no check of what {action} changes")
    unhandled = [r.getMessage() for r in caplog.records if r.name == "mailmagnet.handlers"]
    assert unhandled == []

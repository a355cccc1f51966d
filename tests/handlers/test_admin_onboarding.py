"""Onboarding a team at once (SPEC §3): `/gmail admin grant @usergroup|#channel`, `mailmagnet users grant --csv`.
Identity rules of SPEC §1 hold: a bulk grant links only on proof and never creates a CRM user."""
from __future__ import annotations

import json

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import CrmUser
from crm_store.users import find_user_by_email, user_profile
from tests.support.slack import ask, shown_text
from testsupport.stack import TEAM

OWNER = "U901OWN"  # a Slack workspace admin with no CRM user
BOSS = "U900ADM"  # a CRM admin


def invitations(stack, user: str) -> list[dict]:
    return [m for m in stack.slack.dms(user) if m.get("text") == "You can now connect your Gmail to MailMagnet"]


def granted(stack, email: str) -> bool:
    with session_scope(stack.engine) as session:
        user = find_user_by_email(session, email)
        return bool(user and user_profile(session, user).mail_integration)


def crm_users(stack) -> set[str]:
    with session_scope(stack.engine) as session:
        return set(session.exec(select(CrmUser.email)).all())


def team_of(stack, count: int, prefix: str = "rep") -> list[str]:
    """`count` Slack users whose CRM users come from the CRM data (owners of contacts), not yet granted."""
    ids = [f"U5{prefix[:3].upper()}{i:03d}" for i in range(count)]
    rows = "".join(f"c{i}@customer.example,{prefix}{i}@crm.example\n" for i in range(count))
    stack.import_crm("email,owner_email\n" + rows)
    for i, slack_id in enumerate(ids):
        stack.slack.add_user(TEAM, slack_id, email=f"{prefix}{i}@crm.example", real_name=f"Rep {i}")
    return ids


def test_a_rep_cannot_grant_a_group_and_a_workspace_admin_never_creates_or_claims_crm_users(stack):
    reps = team_of(stack, 2)
    stack.add_rep()  # an ordinary rep tries it
    stack.slack.add_user(TEAM, "U6NOCRM", email="stranger@crm.example")  # no CRM user
    stack.slack.add_user(TEAM, "U6UNCONF", email="rep0@crm.example", is_email_confirmed=False)  # claims rep0
    stack.slack.add_user(TEAM, "U6BOT", email="bot@crm.example", is_bot=True)
    stack.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    stack.slack.set_user(TEAM, BOSS, is_email_confirmed=True)
    stack.slack.add_user(TEAM, OWNER, email="owner@crm.example", is_admin=True)
    group = stack.slack.add_usergroup(TEAM, "sales", [reps[1], "U6NOCRM", "U6UNCONF", "U6BOT", OWNER])["id"]
    mention = stack.driver.usergroup_mention(group)
    before = crm_users(stack)

    refused = shown_text(ask(stack, f"admin grant {mention}"))
    assert "Only MailMagnet admins and Slack workspace admins" in refused
    assert not granted(stack, "rep1@crm.example") and invitations(stack, reps[1]) == []

    report = shown_text(ask(stack, f"admin grant {mention}", user=OWNER))
    assert f"Mail Integration granted to 1: <@{reps[1]}>" in report
    assert "<@U6NOCRM>: no CRM user has their Slack email" in report
    assert "<@U6UNCONF>: Slack shows no confirmed email" in report
    assert "<@U6BOT>: an app, not a person" in report
    assert f"<@{OWNER}>: no CRM user has their Slack email" in report
    assert crm_users(stack) == before  # nobody created, not even the admin themselves
    assert not granted(stack, "rep0@crm.example")  # not claimed by the unconfirmed look-alike
    with session_scope(stack.engine) as session:
        assert find_user_by_email(session, "rep0@crm.example").slack_user_id is None

    # A CRM admin's user is not a Slack workspace admin's to change.
    stack.slack.set_usergroup(TEAM, group, users=[BOSS])
    report = shown_text(ask(stack, f"admin grant {mention}", user=OWNER))
    assert f"<@{BOSS}>: their CRM user is a CRM admin" in report or f"Already granted (1): <@{BOSS}>" in report

    assert "I can't read the members of <!subteam^SNOPE>" in shown_text(
        ask(stack, "admin grant <!subteam^SNOPE|@nope>", user=OWNER))


def test_twenty_reps_granted_with_one_command_each_dmed_once(stack):
    reps = team_of(stack, 20)
    stack.slack.add_user(TEAM, OWNER, email="owner@crm.example", is_admin=True)
    group = stack.slack.add_usergroup(TEAM, "sales", reps)["id"]
    report = shown_text(ask(stack, f"admin grant @sales", user=OWNER, escape=True))
    assert "Mail Integration granted to 20" in report and "Skipped" not in report
    assert all(granted(stack, f"rep{i}@crm.example") for i in range(20))
    for slack_id in reps:
        dms = invitations(stack, slack_id)
        assert len(dms) == 1
        assert "gmail_reconnect" in str(dms[0]["blocks"]) and f"<@{OWNER}> gave you" in str(dms[0]["blocks"])
    # Again (a repeat, or Slack retrying): nobody is granted anew, nobody is DMed again.
    again = shown_text(ask(stack, f"admin grant {stack.driver.usergroup_mention(group)}", user=OWNER))
    assert "Already granted (20)" in again and "granted to" not in again
    assert all(len(invitations(stack, slack_id)) == 1 for slack_id in reps)
    # The Connect button starts the rep's own Google consent.
    invitation = invitations(stack, reps[0])[0]
    before = len(stack.slack.response_url_posts())
    stack.driver.block_action(reps[0], "gmail_reconnect", value="invitation",
                              channel_id=stack.slack.dm_channel(TEAM, reps[0]), message=invitation)
    prompt = stack.slack.wait_for(lambda: stack.slack.response_url_posts()[before:] or None, timeout=15)[-1]
    assert "Authenticate" in json.dumps(prompt) and "Connect your Gmail to MailMagnet" in shown_text(prompt)
    # Granting one of them on their own: they have their invitation already.
    assert "now has the Mail Integration permission" in shown_text(ask(stack, f"admin grant <@{reps[0]}>", user=OWNER))
    assert len(invitations(stack, reps[0])) == 1


def test_grant_a_channel_skips_who_has_no_crm_user_and_refuses_channels_shared_outside(stack):
    reps = team_of(stack, 3)
    stack.slack.add_user(TEAM, OWNER, email="owner@crm.example", is_admin=True)
    stack.slack.add_user(TEAM, "U6NOCRM", email="stranger@crm.example")
    bot = stack.slack.team(TEAM).bot_user_id
    stack.slack.add_channel(TEAM, "C0SALES01", "sales", members=[*reps, "U6NOCRM", bot])
    report = shown_text(ask(stack, "admin grant #sales", user=OWNER, escape=True))
    assert "Mail Integration granted to 3" in report and "<@U6NOCRM>: no CRM user" in report
    assert all(len(invitations(stack, r)) == 1 for r in reps)

    stack.slack.add_channel(TEAM, "C0SHARED1", "partners", members=[reps[0], bot])
    stack.slack.share_channel(TEAM, "C0SHARED1", ["T0OTHER"], external=True)
    refused = shown_text(ask(stack, "admin grant <#C0SHARED1|partners>", user=OWNER))
    assert "people outside your organisation" in refused
    # A private channel the admin is not in: its members are not theirs to learn, even with the bot in it.
    stack.slack.add_channel(TEAM, "G0SECRET1", "secret", members=[reps[1], reps[2], bot], is_private=True)
    secret = shown_text(ask(stack, "admin grant <#G0SECRET1>", user=OWNER))
    assert "a private channel you are not in" in secret and reps[1] not in secret
    stack.slack.add_channel(TEAM, "C0NOBOT01", "private-ish", members=[reps[0]], is_private=True)
    assert "MailMagnet is not in it" in shown_text(ask(stack, "admin grant <#C0NOBOT01>", user=OWNER))


def test_users_grant_csv_grants_existing_crm_users_only_and_invites_linked_reps(stack, tmp_path, capsys,
                                                                                monkeypatch):
    from bot import cli
    from bot.commands import common

    reps = team_of(stack, 2)
    stack.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    # rep0 is linked (they used /gmail once); rep1 is not linked to Slack yet.
    ask(stack, "status", user=reps[0])
    path = tmp_path / "team.csv"
    path.write_text("email,name\nrep0@crm.example,Rep 0\nREP1@crm.example,Rep 1\nghost@crm.example,Ghost\n"
                    "not-an-email,x\n")
    monkeypatch.setattr(common, "services", lambda: stack.services)
    before = crm_users(stack)
    assert cli.main(["users", "grant", "--csv", str(path)]) == 0
    out = capsys.readouterr().out
    assert "granted: rep0@crm.example (invited to connect in Slack)" in out and "granted: rep1@crm.example" in out
    assert "skipped line 4 (ghost@crm.example): no CRM user has this email" in out
    assert "skipped line 5 (not-an-email): not an email address" in out
    assert crm_users(stack) == before and granted(stack, "rep1@crm.example")
    assert len(invitations(stack, reps[0])) == 1
    assert cli.main(["users", "grant", "--csv", str(path)]) == 0
    assert "0 granted, 2 already" in capsys.readouterr().out and len(invitations(stack, reps[0])) == 1
    assert cli.main(["users", "grant", "--csv", str(tmp_path / "missing.csv")]) != 0


def test_a_group_larger_than_a_grant_takes_is_refused_whole(stack, monkeypatch):
    from usecases import onboarding

    monkeypatch.setattr(onboarding, "MAX_MEMBERS", 3)
    reps = team_of(stack, 4)
    stack.slack.add_user(TEAM, OWNER, email="owner@crm.example", is_admin=True)
    group = stack.slack.add_usergroup(TEAM, "sales", reps)["id"]
    refused = shown_text(ask(stack, f"admin grant {stack.driver.usergroup_mention(group)}", user=OWNER))
    assert "4 members: a grant takes at most 3" in refused
    assert not any(granted(stack, f"rep{i}@crm.example") for i in range(4))
    assert all(invitations(stack, r) == [] for r in reps)

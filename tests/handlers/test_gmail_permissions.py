"""F10 (Mail Integration) and §1 (admins) refusals, and the admin subcommands that grant, revoke, link and set policy."""
from __future__ import annotations

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import CrmUser, OrgSettings
from crm_store.users import find_user_by_email, user_profile
from tests.support.slack import account_of, ask, shown_text
from testsupport.stack import REP, REP_GMAIL, TEAM

ADMIN = "U900ADM"
NEWBIE = "U300NEW"
GMAIL_SUBCOMMANDS = ["connect", "status", "sharing public", "magnet on", "labels on", "alerts dm",
                     "quiet 22:00-07:00", "digest on", "mute a@b.example", "share <@U900ADM>", "disconnect"]


def crm_user(stack, email: str) -> tuple[CrmUser | None, bool]:
    with session_scope(stack.engine) as session:
        user = find_user_by_email(session, email)
        return user, bool(user and user_profile(session, user).mail_integration)


def test_without_mail_integration_every_gmail_command_is_refused_naming_who_grants(stack):
    stack.add_rep(ADMIN, "boss@crm.example", gmail=None, admin=True)
    stack.add_rep(mail_integration=False)
    for text in GMAIL_SUBCOMMANDS:
        refusal = shown_text(ask(stack, text))
        assert "Mail Integration permission" in refusal, text
        assert f"<@{ADMIN}>" in refusal and "Slack workspace admin" in refusal, text
    assert account_of(stack) is None
    with session_scope(stack.engine) as session:
        assert session.exec(select(OrgSettings)).all() == []


def test_a_slack_user_with_no_crm_user_is_told_how_to_get_linked(stack):
    stack.slack.add_user(TEAM, "U404NOB", email="nobody@crm.example")
    refusal = shown_text(ask(stack, "magnet on", user="U404NOB"))
    assert "not linked to a CRM user" in refusal and "nobody@crm.example" in refusal
    assert "/gmail admin grant" in refusal


def test_admin_commands_are_refused_to_reps(stack, rep):
    for text in ["admin", "admin grant <@U100REP>", "admin revoke <@U100REP>", "admin policy public",
                 "admin link <@U100REP> x@crm.example", "admin wat", "admin policy", "admin policy wat",
                 "admin grant", "admin managers full", "admin allow <@U100REP> x@gmail.example", "admin status",
                 "admin audit", "admin status now"]:
        assert "Only MailMagnet admins and Slack workspace admins" in shown_text(ask(stack, text)), text
    with session_scope(stack.engine) as session:
        assert session.exec(select(OrgSettings)).all() == []


def test_slack_workspace_admin_grants_mail_integration_to_a_crm_user_of_their_workspace(stack):
    stack.slack.add_user(TEAM, ADMIN, email="owner@crm.example", is_admin=True)  # no CRM user needed
    stack.slack.add_user(TEAM, NEWBIE, email="New.Rep@crm.example", real_name="New Rep")
    stack.gmail.add_user("newrep@gmail.example")
    # No CRM user with their email yet: a Slack workspace admin does not make one, and is told who does.
    refused = shown_text(ask(stack, f"admin grant <@{NEWBIE}|newrep>", user=ADMIN))
    assert "does not create CRM users" in refused and "mailmagnet users grant new.rep@crm.example" in refused
    assert crm_user(stack, "new.rep@crm.example")[0] is None
    stack.import_crm("email,owner_email\njane@acme.example,new.rep@crm.example\n")  # the CRM data brings them
    granted = shown_text(ask(stack, f"admin grant <@{NEWBIE}|newrep>", user=ADMIN))
    assert f"<@{NEWBIE}> now has the Mail Integration permission (CRM user new.rep@crm.example)" in granted
    user, allowed = crm_user(stack, "new.rep@crm.example")
    assert allowed and user.slack_user_id == NEWBIE
    # Their Gmail is not their CRM address: an admin allows it, then they can connect.
    allowed_text = shown_text(ask(stack, f"admin allow <@{NEWBIE}|newrep> newrep@gmail.example", user=ADMIN))
    assert "may now connect the Gmail newrep@gmail.example" in allowed_text
    stack.connect(NEWBIE, "newrep@gmail.example")
    assert account_of(stack, NEWBIE).email_address == "newrep@gmail.example"


def test_crm_admin_revokes_mail_integration_and_the_mailbox_is_disconnected(stack, connected, jobs):
    stack.add_rep(ADMIN, "boss@crm.example", gmail=None, admin=True)
    account_id = account_of(stack).id
    revoked = shown_text(ask(stack, f"admin revoke <@{REP}>", user=ADMIN))
    assert "no longer has the Mail Integration permission" in revoked and REP_GMAIL in revoked
    assert account_of(stack) is None
    assert "Mail Integration permission" in shown_text(ask(stack, "status"))
    assert "not a CRM user" in shown_text(ask(stack, "admin revoke <@U777XYZ>", user=ADMIN))


def test_admin_policy_fixes_sharing_for_everyone(stack, connected):
    stack.add_rep(ADMIN, "boss@crm.example", gmail=None, slack_admin=True, mail_integration=False)
    assert "is *User's choice*" in shown_text(ask(stack, "admin policy", user=ADMIN))
    assert "*Private* for everyone" in shown_text(ask(stack, "admin policy private", user=ADMIN))
    assert "policy is Private for everyone" in shown_text(ask(stack, "sharing public"))
    assert "Private" in shown_text(ask(stack, "status"))
    assert "one of `private`, `public`, `custom` or `choice`" in shown_text(ask(stack, "admin policy all",
                                                                                    user=ADMIN))
    ask(stack, "admin policy choice", user=ADMIN)
    ask(stack, "sharing public")
    assert account_of(stack).sharing == "public"


def test_admin_links_a_slack_user_to_a_crm_user_explicitly(stack):
    stack.add_rep(ADMIN, "boss@crm.example", gmail=None, admin=True)
    stack.slack.add_user(TEAM, NEWBIE, email="personal@home.example")  # Slack email is not the CRM one
    linked = shown_text(ask(stack, f"admin link <@{NEWBIE}> <mailto:ann@crm.example|ann@crm.example>", user=ADMIN))
    assert f"<@{NEWBIE}> is now linked to the CRM user ann@crm.example" in linked and "no permissions yet" in linked
    ask(stack, f"admin grant <@{NEWBIE}>", user=ADMIN)
    user, allowed = crm_user(stack, "ann@crm.example")
    assert allowed and user.slack_user_id == NEWBIE
    assert crm_user(stack, "personal@home.example")[0] is None
    assert "Usage" in shown_text(ask(stack, f"admin link <@{NEWBIE}>", user=ADMIN))
    assert "is not an e-mail address" in shown_text(ask(stack, f"admin link <@{NEWBIE}> ann", user=ADMIN))


def test_admin_usage_for_admins(stack):
    stack.add_rep(ADMIN, "boss@crm.example", gmail=None, admin=True)
    for text in ("admin", "admin frob", "admin grant", "admin grant bob"):
        shown = shown_text(ask(stack, text, user=ADMIN))
        assert "`/gmail admin grant @user`" in shown

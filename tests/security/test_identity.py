"""Identity only from proof, and a refusal never damages a third party (issue 16, points 3 and 4; SPEC §1;
THREATS "Identity only from proof", "A retry or a refusal never damages a third party").

Each attack is replayed through the running stack: signed Slack requests from two allowed workspaces of one
organisation into the real server, the Slack and Gmail/Google emulators over real HTTP.
"""
from __future__ import annotations

import json

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import AccountStatus, AuditLog, CrmUser, GmailAccount
from crm_store.users import find_user_by_email, user_profile
from testsupport.stack import OTHER_TEAM, authorize_url_in, start_org_stack
from tests.support.slack import shown_text
from testsupport.stack import GOOGLE_CLIENT_ID, REP, REP_GMAIL, TEAM

# jane is owned by owner@crm.example: the CSV makes that CRM user, linked to nobody yet (a rep who has not
# used the bot). The rep shares Custom at full depth, so the contact's owner sees the rep's mail with jane.
CONTACTS = ("email,first_name,last_name,company,external_id,owner_email\n"
            "jane@acme.example,Jane,Doe,Acme,C1,owner@crm.example\n")
DEALS = ("name,contact_external_id,stage,closing_date,amount,external_id\n"
         "Acme renewal,C1,Negotiation,2099-01-15,1000,D1\n")
JANE = "jane@acme.example"
OWNER_EMAIL = "owner@crm.example"
SECRET_SUBJECT = "Renewal pricing: 40% discount"
OTHER_ADMIN = "U2ADMIN"  # a Slack admin of the organisation's other workspace, no CRM user
COLLEAGUE, COLLEAGUE_EMAIL, COLLEAGUE_GMAIL = "U200COL", "colleague@crm.example", "colleague@gmail.example"


@pytest.fixture
def org(database_url):
    running = start_org_stack(database_url, scheduler=True, start_scheduler=False)
    running.import_crm(CONTACTS, DEALS)
    running.add_rep()
    running.connect_with_magnet()
    running.update_mailbox(sharing="custom", sharing_depth="full")
    running.mail(JANE, SECRET_SUBJECT)
    running.run("sync")
    running.slack.add_user(OTHER_TEAM, OTHER_ADMIN, email="boss@other.example", is_admin=True)
    yield running
    running.stop()


def ask(stack, team: str, user: str, text: str, command: str = "/gmail") -> str:
    """A slash command from `user` of `team`; what they read in the answer."""
    response = stack.driver_for(team).slash_command(user, command, text)
    assert response.status == 200, response.body
    if command == "/contact":  # "looking…" first, then the answer (or the refusal) replaces it
        posts = stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.response_url)
                                              if p.get("replace_original")], timeout=20)
    else:
        posts = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url), timeout=15)
    if stack.services.jobs is not None:
        stack.services.jobs.wait_for_requested()
    return shown_text(posts[-1])


def crm_user(stack, email: str) -> tuple[str | None, str | None, bool] | None:
    """(Slack workspace, Slack user, Mail Integration) of the CRM user with this email; None: no such user."""
    with session_scope(stack.engine) as session:
        user = find_user_by_email(session, email)
        if user is None:
            return None
        return user.slack_team_id, user.slack_user_id, user_profile(session, user).mail_integration


def crm_emails(stack) -> set[str]:
    with session_scope(stack.engine) as session:
        return set(session.exec(select(CrmUser.email)).all())


# -- another workspace's admin claims an unlinked CRM user ---------------------------------------------------

def test_another_workspaces_admin_cannot_claim_an_unlinked_crm_user_and_read_their_shared_mail(org):
    assert crm_user(org, OWNER_EMAIL) == (None, None, False)  # the victim: in the CRM, never used the bot

    # The whole attack first, then what each step got.
    answer = ask(org, OTHER_TEAM, OTHER_ADMIN, f"admin link <@{OTHER_ADMIN}> {OWNER_EMAIL}")
    view = ask(org, OTHER_TEAM, OTHER_ADMIN, JANE, command="/contact")
    grant = ask(org, OTHER_TEAM, OTHER_ADMIN, f"admin grant <@{OTHER_ADMIN}>")
    assert SECRET_SUBJECT not in view and "Renewal" not in view
    assert "now has the Mail Integration permission" not in grant
    assert "is now linked" not in answer
    assert "Slack email" in answer and "CRM admin" in answer  # says why, and who can link other emails
    assert "not linked to a CRM user" in ask(org, OTHER_TEAM, OTHER_ADMIN, "connect")

    assert crm_user(org, OWNER_EMAIL) == (None, None, False)  # still nobody's, still without Mail Integration
    with session_scope(org.engine) as session:
        assert session.exec(select(AuditLog)).all() == []  # nothing was shown to anyone


def test_a_workspace_admin_never_creates_crm_users(org):
    org.slack.add_user(OTHER_TEAM, "U2NEW", email="new@other.example")
    before = crm_emails(org)

    answer = ask(org, OTHER_TEAM, OTHER_ADMIN, f"admin link <@{OTHER_ADMIN}> fresh@crm.example")
    assert "is now linked" not in answer and "new CRM user" not in answer
    grant = ask(org, OTHER_TEAM, OTHER_ADMIN, "admin grant <@U2NEW>")
    assert "now has the Mail Integration permission" not in grant
    # The refusal says who can make the CRM user.
    assert "mailmagnet users grant new@other.example" in grant and "CRM admin" in grant and "CSV" in grant
    # The same in the admin's own workspace of the deployment's first team.
    org.slack.add_user(TEAM, "U900ADM", email="it@crm.example", is_admin=True)
    org.slack.add_user(TEAM, "U1NEW", email="newbie@crm.example")
    assert "now has the Mail Integration permission" not in ask(org, TEAM, "U900ADM", "admin grant <@U1NEW>")
    assert "is now linked" not in ask(org, TEAM, "U900ADM", "admin link <@U1NEW> newbie@crm.example")

    assert crm_emails(org) == before


def test_a_workspace_admin_may_force_only_the_matching_link_in_their_own_workspace(org):
    # Sam's CRM user is linked to an old Slack account of the workspace; Sam's new account has Sam's CRM
    # secondary email as its (Slack-confirmed) profile email.
    org.add_rep("U1OLD", "sam@crm.example", gmail=None)
    with session_scope(org.engine) as session:
        sam = find_user_by_email(session, "sam@crm.example")
        sam.secondary_email = "sam@sales.example"
        session.add(sam)
    org.slack.add_user(TEAM, "U1SAM", email="sam@sales.example")
    org.slack.add_user(TEAM, "U1EVE", email="eve@crm.example")
    org.slack.add_user(TEAM, "U900ADM", email="it@crm.example", is_admin=True)

    refused = ask(org, TEAM, "U900ADM", "admin link <@U1EVE> sam@crm.example")  # eve is not sam
    assert "is now linked" not in refused
    assert crm_user(org, "sam@crm.example")[:2] == (TEAM, "U1OLD")

    linked = ask(org, TEAM, "U900ADM", "admin link <@U1SAM> sam@crm.example")
    assert "<@U1SAM> is now linked to the CRM user sam@crm.example" in linked
    assert crm_user(org, "sam@crm.example")[:2] == (TEAM, "U1SAM")

    # The other workspace's admin may do the same for a user of their own workspace whose email matches.
    org.slack.add_user(OTHER_TEAM, "U2SALES", email="Sales2@CRM.example")
    with session_scope(org.engine) as session:
        from crm_store.users import get_or_create_user

        get_or_create_user(session, "sales2@crm.example")
    granted = ask(org, OTHER_TEAM, OTHER_ADMIN, "admin grant <@U2SALES>")
    assert "<@U2SALES> now has the Mail Integration permission (CRM user sales2@crm.example)" in granted
    assert crm_user(org, "sales2@crm.example") == (OTHER_TEAM, "U2SALES", True)


def test_an_admin_may_not_allow_themselves_another_users_address(org):
    org.add_rep("U900ADM", "it@crm.example", gmail=None, mail_integration=False, slack_admin=True)
    org.add_rep("U1SAM", "sam@crm.example", gmail=None)
    with session_scope(org.engine) as session:
        sam = find_user_by_email(session, "sam@crm.example")
        sam.secondary_email = "sam@sales.example"
        session.add(sam)
    answer = ask(org, TEAM, "U900ADM", "admin allow <@U900ADM> sam@sales.example")
    assert "may now connect" not in answer and "another CRM user (sam@crm.example)" in answer
    with session_scope(org.engine) as session:
        from crm_store.models import MailboxAlias

        assert session.get(MailboxAlias, "sam@sales.example") is None


def test_an_email_slack_has_not_confirmed_proves_nothing(org):
    org.slack.add_user(OTHER_TEAM, "U2FAKE", email=OWNER_EMAIL)
    org.slack.set_user(OTHER_TEAM, "U2FAKE", is_email_confirmed=False)
    assert "not linked to a CRM user" in ask(org, OTHER_TEAM, "U2FAKE", "status")
    assert "now has the Mail Integration" not in ask(org, OTHER_TEAM, OTHER_ADMIN, "admin grant <@U2FAKE>")
    assert crm_user(org, OWNER_EMAIL) == (None, None, False)


def test_the_audit_names_the_slack_user_who_looked_even_after_the_crm_user_moves(org):
    org.add_rep(COLLEAGUE, OWNER_EMAIL, gmail=None)  # the contact's owner, linked by their own Slack email
    assert SECRET_SUBJECT in ask(org, TEAM, COLLEAGUE, JANE, command="/contact")
    # Later the CRM user is linked to another Slack account (a CRM admin may do that).
    org.add_rep("U2CRMAD", "ceo@crm.example", gmail=None, admin=True, team=OTHER_TEAM)
    org.slack.add_user(OTHER_TEAM, "U2OWNER", email="owner.two@other.example")
    assert "is now linked" in ask(org, OTHER_TEAM, "U2CRMAD", f"admin link <@U2OWNER> {OWNER_EMAIL}")

    audit = ask(org, OTHER_TEAM, "U2CRMAD", "admin audit")
    assert f"`{COLLEAGUE}`" in audit and f"`{TEAM}`" in audit and OWNER_EMAIL in audit
    assert "U2OWNER" not in audit  # who is linked now did not look
    with session_scope(org.engine) as session:
        row = session.exec(select(AuditLog)).one()
        assert (row.viewer_slack_team_id, row.viewer_slack_user_id) == (TEAM, COLLEAGUE)


# -- a refused consent must not revoke someone else's live grant -------------------------------------------

def _follow_link_of(stack, link_owner: str, google_account: str) -> tuple[int, str]:
    """`link_owner` runs /gmail connect; whoever holds `google_account` signs in on that link."""
    response = stack.driver.slash_command(link_owner, "/gmail", "connect")
    post = stack.slack.wait_for(lambda: next((p for p in stack.slack.response_url_posts(response.response_url)
                                              if p.get("blocks")), None))
    return stack.follow_consent(authorize_url_in(post), google_account)


def test_a_colleague_signing_in_on_my_link_keeps_their_own_live_mailbox(org):
    org.add_rep(COLLEAGUE, COLLEAGUE_EMAIL, gmail=COLLEAGUE_GMAIL)
    org.connect_with_magnet(COLLEAGUE, COLLEAGUE_GMAIL)
    org.add_rep("U300NEW", "newrep@crm.example", gmail="newrep@gmail.example")

    # A new rep sends the colleague their own Authenticate link; the colleague signs in as themselves.
    status, page = _follow_link_of(org, "U300NEW", COLLEAGUE_GMAIL)

    assert org.gmail.granted_scopes(COLLEAGUE_GMAIL, GOOGLE_CLIENT_ID) is not None  # the grant lives on at Google
    org.mail(JANE, "Still flowing", gmail=COLLEAGUE_GMAIL)
    org.run("sync", COLLEAGUE_GMAIL)
    with session_scope(org.engine) as session:
        colleague = session.exec(select(GmailAccount).where(GmailAccount.email_address == COLLEAGUE_GMAIL)).one()
        assert colleague.status == AccountStatus.CONNECTED and colleague.last_sync_error is None
        assert session.exec(select(GmailAccount).where(GmailAccount.slack_user_id == "U300NEW")).first() is None
    alerts = [m for m in org.slack.dms(COLLEAGUE) if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"]
    assert "Still flowing" in json.dumps(alerts)
    assert not any("reconnect" in json.dumps(m).lower() for m in org.slack.dms(COLLEAGUE))
    # The page still says why nothing was connected, and does not claim a revocation that did not happen.
    assert status == 403
    assert f"You signed in to Google as {COLLEAGUE_GMAIL}" in page and "already connected" in page
    assert "revoked" not in page


def test_a_stranger_signing_in_on_my_link_is_still_refused_and_revoked(org):
    org.gmail.add_user("stranger@gmail.example")
    status, page = _follow_link_of(org, REP, "stranger@gmail.example")
    assert status == 403 and "connects only your own mailbox" in page and "revoked" in page
    assert org.gmail.granted_scopes("stranger@gmail.example", GOOGLE_CLIENT_ID) is None
    with session_scope(org.engine) as session:  # the rep's own mailbox is untouched
        assert session.exec(select(GmailAccount)).one().email_address == REP_GMAIL
    assert org.gmail.granted_scopes(REP_GMAIL, GOOGLE_CLIENT_ID) is not None

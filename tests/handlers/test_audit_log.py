"""Reading the audit log (SPEC §5): `/gmail admin audit [@user] [since]` for admins, with paging, and
`mailmagnet audit [--viewer] [--mailbox] [--since] [--json]` for the operator; a Slack workspace admin reads
their own workspace's rows only."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from crm_store.db import session_scope
from crm_store.errors import AdminOnly
from crm_store.models import AuditLog, GmailAccount
from crm_store.users import get_or_create_user, link_slack_user, set_permissions
from handlers.blocks.ids import ActionId
from tests.support.cli import run_cli
from tests.support.slack import ask, shown_text
from tests.support.contact_world import CONTACTS, DEALS, JANE, buttons, contact_command, mail_from_jane
from testsupport.stack import REP, REP_GMAIL, TEAM
from usecases.actors import OPERATOR, Actor, ActorKind
from usecases.audit import AuditQuery, read_audit
from usecases.context import SlackIdentity

COLLEAGUE, ADMIN = "U200COL", "U900ADM"


@pytest.fixture
def viewed(stack, connected):
    """The colleague looked at 20 of the rep's emails with Jane (two pages of /contact)."""
    stack.import_crm(CONTACTS, DEALS)
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    stack.add_rep(ADMIN, "boss@crm.example", gmail=None, admin=True)
    stack.update_mailbox(sharing="public", sharing_depth="subject")
    start = datetime.now(timezone.utc) - timedelta(days=2)
    for n in range(20):
        mail_from_jane(stack, f"Private subject {n}", date=start + timedelta(minutes=n))
    post = contact_command(stack, JANE, user=COLLEAGUE)
    more = [m for m in stack.slack.ephemerals(COLLEAGUE) if m.get("response_url_key") == post["key"]][-1]
    stack.driver.block_action(COLLEAGUE, ActionId.CONTACT_MORE.value, message=more)
    stack.slack.wait_for(lambda: len(audit_count(stack)) == 20, timeout=15)
    return stack


def audit_count(stack) -> list:
    with session_scope(stack.engine) as session:
        return session.exec(AuditLog.__table__.select()).all()


def test_admins_read_the_audit_with_filters_and_paging(viewed):
    stack = viewed
    first = ask(stack, "admin audit", user=ADMIN)
    text = shown_text(first)
    assert (f"<@{COLLEAGUE}> (colleague@crm.example) saw an email with Jane Doe from <@{REP}>'s mailbox "
            f"({REP_GMAIL}) in /contact") in text
    assert "Private subject" not in text  # the log holds no content
    assert text.count(" saw an email ") == 15
    message = [m for m in stack.slack.ephemerals(ADMIN) if m.get("response_url_key") == first["key"]][-1]
    older = buttons(message, ActionId.AUDIT_OLDER.value)
    response = stack.driver.block_action(ADMIN, ActionId.AUDIT_OLDER.value, value=older[0]["value"], message=message)
    page_two = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.payload["response_url"]))[-1]
    assert shown_text(page_two).count(" saw an email ") == 5 and not buttons(page_two, ActionId.AUDIT_OLDER.value)

    assert shown_text(ask(stack, f"admin audit <@{COLLEAGUE}|col> 1d", user=ADMIN)).count(" saw an email ") == 15
    assert shown_text(ask(stack, f"admin audit <@{REP}|rep>", user=ADMIN)).count(" saw an email ") == 15  # owner
    assert "No views recorded" in shown_text(ask(stack, f"admin audit <@{ADMIN}|boss>", user=ADMIN))
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert "No views recorded" in shown_text(ask(stack, f"admin audit {tomorrow}", user=ADMIN))
    assert "is not a date" in shown_text(ask(stack, "admin audit yesterday-ish", user=ADMIN))


def test_reps_may_not_read_the_audit(viewed):
    refusal = shown_text(ask(viewed, "admin audit", user=COLLEAGUE))
    assert "Only MailMagnet admins and Slack workspace admins" in refusal and "saw an email" not in refusal


def test_the_operator_reads_it_from_the_cli(viewed):
    url = viewed.settings.database_url
    listed = run_cli(url, "audit", "--viewer", "colleague@crm.example", "--limit", "12", "--json")
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert len(page["rows"]) == 12 and page["older_than"] is not None
    assert {row["viewer"] for row in page["rows"]} == {"colleague@crm.example"}
    # The Slack user who looked, and their workspace, besides the CRM user (SPEC §1).
    assert {(row["viewer_slack_workspace"], row["viewer_slack_user"]) for row in page["rows"]} == {(TEAM, COLLEAGUE)}
    assert {row["mailbox"] for row in page["rows"]} == {REP_GMAIL} and page["rows"][0]["depth"] == "subject"
    rest = run_cli(url, "audit", "--before", str(page["older_than"]), "--limit", "12")
    assert rest.returncode == 0 and rest.stdout.count(" saw ") == 8 and "more:" not in rest.stdout
    assert rest.stdout.count(f"colleague@crm.example (as {TEAM}/{COLLEAGUE})") == 8
    assert "Private subject" not in listed.stdout + rest.stdout
    nothing = run_cli(url, "audit", "--mailbox", "someone@else.example")
    assert nothing.returncode == 0 and "no views recorded" in nothing.stdout
    bad = run_cli(url, "audit", "--since", "not-a-date")
    assert bad.returncode == 1 and "--since" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_slack_workspace_admin_reads_only_their_workspace(engine):
    with session_scope(engine) as session:
        users = {}
        for name, team in (("rep1", "T1"), ("viewer1", "T1"), ("rep2", "T2"), ("viewer2", "T2")):
            user = get_or_create_user(session, f"{name}@crm.example")
            set_permissions(session, user, mail_integration=True)
            link_slack_user(session, user, team_id=team, slack_user_id=f"U{name.upper()}")
            users[name] = user
        accounts = {}
        for rep, team in (("rep1", "T1"), ("rep2", "T2")):
            account = GmailAccount(crm_user_id=users[rep].id, slack_team_id=team, slack_user_id=f"U{rep.upper()}",
                                   email_address=f"{rep}@gmail.example")
            session.add(account)
            session.flush()
            accounts[rep] = account
        for viewer, rep, gmail_id in (("viewer1", "rep1", "a1"), ("viewer2", "rep2", "b1"), ("viewer2", "rep1", "c1")):
            session.add(AuditLog(viewer_user_id=users[viewer].id, account_id=accounts[rep].id,
                                 mailbox_address=accounts[rep].email_address, gmail_id=gmail_id, surface="contact_view",
                                 depth="subject"))
    services = type("S", (), {"engine": engine})()

    def admin_of(team: str) -> Actor:
        identity = SlackIdentity(team_id=team, user_id="UADMIN", is_workspace_admin=True)
        return Actor(ActorKind.SLACK, team, "UADMIN", identity)

    def seen(actor) -> set[str]:
        return {row.gmail_id for row in read_audit(services, actor, AuditQuery()).rows}

    assert seen(OPERATOR) == {"a1", "b1", "c1"}
    # T2's admin: views by T2's people (b1, and c1 of a T1 mailbox), never T1's own business (a1).
    assert seen(admin_of("T2")) == {"b1", "c1"}
    assert seen(admin_of("T1")) == {"a1", "c1"}
    with pytest.raises(AdminOnly):
        read_audit(services, Actor(ActorKind.SLACK, "T1", "UREP1"), AuditQuery())

"""Roles and managers end to end (SPEC §1 Roles, §5): `mailmagnet users import`, `PUT /crm/v1/users`,
`/gmail admin policy role|@user`, `/gmail admin managers`, and what a manager, their manager and a peer see of a
rep's customer email in `/contact` — audited, and never mail that is not with the contact."""
from __future__ import annotations

import contextlib
import io
import json
import urllib.error
import urllib.request

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import AuditSurface, CrmUser, RoleSharingPolicy
from tests.support.slack import account_of, ask, shown_text
from tests.support.contact_world import CONTACTS, DEALS, JANE, audit_rows, contact_command, mail_from_jane, text_of
from testsupport.stack import REP, REP_EMAIL, REP_GMAIL

MANAGER, VP, PEER, BOSS = "U210MGR", "U220VPX", "U230PER", "U900ADM"


def roles_csv(tmp_path, text: str) -> str:
    path = tmp_path / "users.csv"
    path.write_text(text)
    return str(path)


def import_users(stack, monkeypatch, path: str) -> tuple[int, str, str]:
    from bot import cli
    from bot.commands import common

    monkeypatch.setattr(common, "store", lambda: stack.engine)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["users", "import", path])
    return code, out.getvalue(), err.getvalue()


def managers_of(stack) -> dict[str, tuple[str | None, str | None]]:
    with session_scope(stack.engine) as session:
        users = session.exec(select(CrmUser)).all()
        emails = {u.id: u.email for u in users}
        return {u.email: (u.role, emails.get(u.manager_id)) for u in users}


def test_users_import_sets_roles_and_managers_and_refuses_loops_whole(stack, tmp_path, monkeypatch):
    stack.add_rep()
    bad = roles_csv(tmp_path, "email,role,manager_email\n"
                              f"{REP_EMAIL},Sales Rep,mgr@crm.example\n"
                              "mgr@crm.example,Sales Manager,vp@crm.example\n"
                              f"vp@crm.example,VP Sales,{REP_EMAIL}\n"  # a loop: rep -> mgr -> vp -> rep
                              "self@crm.example,,self@crm.example\n"
                              "not-an-email,Sales Rep,\n")
    code, _, err = import_users(stack, monkeypatch, bad)
    assert code != 0 and "line 5, manager_email: a user cannot be their own manager" in err
    assert "line 6, email: not an email address" in err
    assert managers_of(stack)[REP_EMAIL] == (None, None)  # nothing written
    no_self = roles_csv(tmp_path, "email,role,manager_email\n"
                                  f"{REP_EMAIL},Sales Rep,mgr@crm.example\n"
                                  "mgr@crm.example,Sales Manager,vp@crm.example\n"
                                  f"vp@crm.example,VP Sales,{REP_EMAIL}\n")
    code, _, err = import_users(stack, monkeypatch, no_self)
    assert code != 0 and "closes a loop" in err and managers_of(stack)[REP_EMAIL] == (None, None)
    good = roles_csv(tmp_path, "email,role,manager_email\n"
                               f"{REP_EMAIL},Sales Rep,mgr@crm.example\n"
                               "mgr@crm.example,Sales Manager,vp@crm.example\n"
                               "vp@crm.example,VP Sales,\n")
    code, out, _ = import_users(stack, monkeypatch, good)
    assert code == 0 and "users: 2 created, 1 updated, 0 unchanged" in out
    assert managers_of(stack)[REP_EMAIL] == ("Sales Rep", "mgr@crm.example")
    assert managers_of(stack)["mgr@crm.example"] == ("Sales Manager", "vp@crm.example")
    code, out, _ = import_users(stack, monkeypatch, good)
    assert "0 created, 0 updated, 3 unchanged" in out  # idempotent


def _put(stack, path: str, body, key: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{stack.server.url.rstrip('/')}{path}", data=json.dumps(body).encode(),
                                     method="PUT", headers={"Content-Type": "application/json"})
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_ingest_api_users_needs_a_key_and_validates_every_record(stack):
    from usecases.crm import create_api_key

    stack.add_rep()
    body = [{"email": REP_EMAIL, "role": "Sales Rep", "manager_email": "mgr@crm.example"}]
    assert _put(stack, "/crm/v1/users", body, None)[0] == 401
    assert managers_of(stack)[REP_EMAIL] == (None, None)
    key = create_api_key(stack.services, "hr-system")
    status, answer = _put(stack, "/crm/v1/users", [*body, {"email": "x@crm.example", "mail_integration": True},
                                                   {"email": "y@crm.example", "role": ["x"]}], key)
    assert status == 422 and {(p["index"], p["field"]) for p in answer["problems"]} == {
        (1, "mail_integration"), (2, "role")}
    assert managers_of(stack)[REP_EMAIL] == (None, None)  # all or nothing; permissions never come this way
    status, answer = _put(stack, "/crm/v1/users", body, key)
    assert status == 200 and answer["created"] == 1 and answer["updated"] == 1
    assert managers_of(stack)[REP_EMAIL] == ("Sales Rep", "mgr@crm.example")
    status, answer = _put(stack, "/crm/v1/users", [{"email": REP_EMAIL, "manager_email": None}], key)
    assert status == 200 and managers_of(stack)[REP_EMAIL] == ("Sales Rep", None)


def test_a_manager_sees_a_reports_customer_mail_at_the_configured_depth_audited_and_nothing_else(stack, connected):
    stack.import_crm(CONTACTS, DEALS)
    stack.add_rep(MANAGER, "mgr@crm.example", gmail=None)
    stack.add_rep(VP, "vp@crm.example", gmail=None)
    stack.add_rep(PEER, "peer@crm.example", gmail=None)
    stack.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    with session_scope(stack.engine) as session:
        users = {u.email: u for u in session.exec(select(CrmUser)).all()}
        users[REP_EMAIL].manager_id = users["mgr@crm.example"].id
        users["peer@crm.example"].manager_id = users["mgr@crm.example"].id
        users["mgr@crm.example"].manager_id = users["vp@crm.example"].id
        for user in users.values():
            session.add(user)
    ask(stack, "sharing private")
    mail_from_jane(stack, "Renewal terms", body="Secret pricing body")
    # Not with Jane by its own headers: from a stranger, Jane only in Cc (Gmail's search would still match it).
    stack.gmail.insert_message(REP_GMAIL, sender="Stranger <someone@else.example>", to=REP_GMAIL, cc=JANE,
                               subject="Private thing about Jane", body="not customer mail")
    jane = "<mailto:jane@acme.example|jane@acme.example>"

    assert "Renewal terms" not in text_of(contact_command(stack, jane, user=MANAGER))  # managers_see: none
    assert "Only MailMagnet admins" in shown_text(ask(stack, "admin managers subject", user=MANAGER))
    assert "whatever the reports' sharing" in shown_text(ask(stack, "admin managers subject", user=BOSS))

    for viewer in (MANAGER, VP):
        shown = text_of(contact_command(stack, jane, user=viewer))
        assert "Renewal terms" in shown, viewer  # subject depth
        assert "Secret pricing body" not in shown and "Private thing about Jane" not in shown, viewer
    peer_view = text_of(contact_command(stack, jane, user=PEER))
    assert "Renewal terms" not in peer_view and "Private thing" not in peer_view
    rows = [r for r in audit_rows(stack) if r.surface == AuditSurface.CONTACT_VIEW.value]
    assert {(r.viewer_slack_user_id, r.depth) for r in rows} == {(MANAGER, "subject"), (VP, "subject")}
    assert len(rows) == 2  # one email each, never the stranger's

    ask(stack, "admin managers metadata", user=BOSS)
    assert "Renewal terms" not in text_of(contact_command(stack, jane, user=MANAGER))  # metadata: no subject
    ask(stack, "admin managers none", user=BOSS)
    assert "Renewal terms" not in text_of(contact_command(stack, jane, user=VP))


def test_admin_sets_policies_for_a_role_and_a_user_the_most_specific_winning(stack, connected):
    stack.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    stack.add_rep("U901OWN", "owner@crm.example", gmail=None, slack_admin=True, mail_integration=False)
    with session_scope(stack.engine) as session:
        rep = session.exec(select(CrmUser).where(CrmUser.email == REP_EMAIL)).one()
        rep.role = "Sales Rep"
        session.add(rep)
    ask(stack, "sharing public")
    # Roles span the organisation's workspaces: a Slack workspace admin does not set them.
    refused = shown_text(ask(stack, "admin policy role Sales Rep private", user="U901OWN"))
    assert "only a MailMagnet (CRM) admin sets a role's sharing policy" in refused
    assert "No CRM user has the role" in shown_text(ask(stack, "admin policy role Nobody private", user=BOSS))
    set_role = shown_text(ask(stack, "admin policy role Sales Rep private", user=BOSS))
    assert "Sharing policy for the role “Sales Rep” (1 CRM users): *Private*" in set_role
    assert "An admin set your sharing to Private (for your role)" in shown_text(ask(stack, "sharing public"))
    assert "Private" in shown_text(ask(stack, "status"))
    ask(stack, f"admin policy <@{REP}> choice", user="U901OWN")  # one user: their own choice again
    assert "Sharing is now" in shown_text(ask(stack, "sharing public"))
    overview = shown_text(ask(stack, "admin policy", user=BOSS))
    assert "Role “Sales Rep”: Private" in overview and f"<@{REP}>: User's choice" in overview
    ask(stack, f"admin policy <@{REP}> clear", user=BOSS)
    ask(stack, "admin policy role Sales Rep clear", user=BOSS)
    with session_scope(stack.engine) as session:
        assert session.exec(select(RoleSharingPolicy)).all() == []
    assert account_of(stack).sharing == "public"

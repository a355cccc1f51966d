"""The admin overview (SPEC §3 "For admins"): `/gmail admin status`, the App Home's admin section,
`mailmagnet users list`, and the admins told once per incident (a revoked or an hour-long failing mailbox)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone


from crm_store.db import session_scope
from crm_store.users import get_or_create_user, link_slack_user, set_permissions
from sandbox.gmail_emulator import Fault
from tests.support.slack import ask, shown_text
from testsupport.stack import REP, REP_EMAIL, REP_GMAIL, TEAM
from usecases.overview import RepState, overview_for, tell_admins_of_incidents

BOSS = "U900ADM"
OWNER = "U901OWN"
OTHER_TEAM = "T0002"


def incident_dms(stack, user: str) -> list[dict]:
    return [m for m in stack.slack.dms(user) if "Gmail" in (m.get("text") or "")
            and ("lost its Google access" in m["text"] or "has been failing" in m["text"])]


def test_reps_and_other_workspaces_admins_see_no_overview(live):
    """A colleague asks for everyone's state; a Slack workspace admin would see another workspace's reps."""
    live.add_rep()
    live.add_rep(OWNER, "owner@crm.example", gmail=None, slack_admin=True, mail_integration=False)
    with session_scope(live.engine) as session:  # a rep of another workspace of the organisation
        far = get_or_create_user(session, "far@crm.example")
        set_permissions(session, far, mail_integration=True)
        link_slack_user(session, far, team_id=OTHER_TEAM, slack_user_id="U555FAR")
    refused = shown_text(ask(live, "admin status"))
    assert "Only MailMagnet admins and Slack workspace admins" in refused and "far@crm.example" not in refused
    shown = shown_text(ask(live, "admin status", user=OWNER))
    assert REP_EMAIL in shown and "far@crm.example" not in shown
    # A CRM admin (and the operator at the CLI) sees the whole organisation.
    live.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    assert "far@crm.example" in shown_text(ask(live, "admin status", user=BOSS))
    assert "far@crm.example" in [row.email for row in overview_for(live.services).rows]


def test_overview_shows_each_state_and_a_revoked_rep_after_one_sync_and_the_admin_is_told_once(live):
    live.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    live.add_rep()
    live.add_rep("U200NEW", "new@crm.example", gmail=None)  # granted, never connected
    live.add_rep("U201NOT", "not@crm.example", gmail=None, mail_integration=False)
    live.connect_with_magnet()
    live.run("sync")
    shown = shown_text(ask(live, "admin status", user=BOSS))
    assert f"<@{REP}> {REP_EMAIL}" in shown and f"connected as {REP_GMAIL}" in shown
    assert "quota units today" in shown and "alerts On, labels Off" in shown
    assert "never connected" in shown and "no Mail Integration" in shown

    live.gmail.revoke_access(REP_GMAIL)
    live.gmail.expire_access_tokens(REP_GMAIL)
    live.run("sync")  # one sync interval
    rows = {row.email: row for row in overview_for(live.services).rows}
    assert rows[REP_EMAIL].state is RepState.REVOKED
    assert rows["new@crm.example"].state is RepState.NEVER_CONNECTED
    assert rows["not@crm.example"].state is RepState.NOT_GRANTED
    assert rows[REP_EMAIL].quota_units_today > 0
    assert "access revoked" in shown_text(ask(live, "admin status", user=BOSS))

    # Two replicas look at once, and again later: the admin is told once.
    threads = [threading.Thread(target=tell_admins_of_incidents, args=(live.services,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live.services.jobs.tell_admins()
    told = incident_dms(live, BOSS)
    assert len(told) == 1 and f"<@{REP}>'s Gmail {REP_GMAIL} lost its Google access" in told[0]["text"]
    assert incident_dms(live, REP) == []  # the rep got their own reconnect DM, not the admin's


def test_a_mailbox_failing_for_an_hour_is_told_once_and_a_new_incident_after_recovery_again(live):
    live.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    live.add_rep()
    live.connect_with_magnet()
    live.gmail.add_fault(Fault(method="gmail.users.history.list", status=500, user=REP_GMAIL, rate=1.0))
    live.run("sync")
    row = next(r for r in overview_for(live.services).rows if r.email == REP_EMAIL)
    assert row.state is RepState.FAILING and row.failing_since is not None and row.last_error
    assert live.services.jobs.tell_admins() == 0  # failing, but not for an hour yet
    live.update_mailbox(failing_since=datetime.now(timezone.utc) - timedelta(minutes=61))
    live.run("sync")  # still failing: the streak keeps its start
    assert live.services.jobs.tell_admins() == 1
    assert live.services.jobs.tell_admins() == 0
    assert len(incident_dms(live, BOSS)) == 1 and "has been failing since" in incident_dms(live, BOSS)[0]["text"]

    live.gmail.clear_faults()
    live.run("sync")
    assert next(r for r in overview_for(live.services).rows if r.email == REP_EMAIL).state is RepState.CONNECTED
    live.gmail.add_fault(Fault(method="gmail.users.history.list", status=500, user=REP_GMAIL, rate=1.0))
    live.run("sync")
    live.update_mailbox(failing_since=datetime.now(timezone.utc) - timedelta(hours=2))
    assert live.services.jobs.tell_admins() == 1
    assert len(incident_dms(live, BOSS)) == 2


def test_app_home_has_the_admin_section_for_admins_only(live):
    live.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    live.add_rep()
    for user in (BOSS, REP):
        live.driver.event({"type": "app_home_opened", "user": user, "tab": "home"})
    views = {user: live.slack.wait_for(lambda u=user: live.slack.home_view(u, TEAM)) for user in (BOSS, REP)}
    assert "Team overview" in json.dumps(views[BOSS]) and REP_EMAIL in json.dumps(views[BOSS])
    assert "Team overview" not in json.dumps(views[REP])


def test_users_list_json(live, capsys, monkeypatch):
    from bot import cli
    from bot.commands import common

    live.add_rep()
    live.connect_with_magnet()
    monkeypatch.setattr(common, "services", lambda: live.services)
    assert cli.main(["users", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    mine = next(r for r in rows if r["email"] == REP_EMAIL)
    assert mine["state"] == "connected" and mine["mailbox"] == REP_GMAIL and mine["alerts"] is True
    assert cli.main(["users", "list"]) == 0
    assert REP_GMAIL in capsys.readouterr().out

"""SPEC §5 as a matrix: every organisation policy × every depth × every relationship to the mailbox and the contact
(the reps' manager, their manager's manager, a peer and a report among them, managers seeing at metadata depth),
on every surface that shows emails — `/contact`, the email detail, channel alerts (private and public channels)
and the App Home. Nobody sees more than allowed, everyone sees what they should, and every view of someone
else's email is audited exactly once per surface.

Three reps' mailboxes carry the three depths (metadata, subject, full); under "User's choice" they also pick three
different sharings. Each mailbox holds an email from the contact whose subject, snippet and body carry markers,
so what reached Slack can be read off the text: SUBJ-x (subject), SNIP-x (the snippet: the body's first 200
characters), BODY-x (only further down the body). The expected level is computed here, independently of the code.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
from slack_sdk.oauth.installation_store import Installation

from crm_store.sharing import Visibility
from handlers.blocks.ids import ActionId
from sandbox.slack_emulator import SlackDriver
from tests.support.slack import shown_text
from tests.support.contact_world import audit_rows, buttons, share
from testsupport.stack import SIGNING_SECRET, TEAM, start_stack

OTHER_TEAM = "T0002"  # another workspace of the same organisation
FOREIGN_TEAM = "T0003"  # a workspace this deployment does not serve
JANE = "jane@acme.example"
CONTACTS = ("email,first_name,last_name,company,owner_email,external_id\n"
            f"{JANE},Jane,Doe,Acme,owner@crm.example,C1\n")
DEALS = ("name,contact_external_id,stage,closing_date,amount,owner_email,external_id\n"
         "Acme renewal,C1,Negotiation,2099-01-15,12500,dealer@crm.example,D1\n"
         "Acme services,C1,Proposal,2099-03-01,800,fardealer@crm.example,D2\n")


@dataclass(frozen=True)
class Rep:
    tag: str
    slack_id: str
    email: str
    gmail: str
    depth: str
    own_choice: str  # the sharing this rep picks under "User's choice"


REPS = [Rep("A", "U1REPA", "repa@crm.example", "repa@gmail.example", "metadata", "public"),
        Rep("B", "U1REPB", "repb@crm.example", "repb@gmail.example", "subject", "custom"),
        Rep("C", "U1REPC", "repc@crm.example", "repc@gmail.example", "full", "private")]


@dataclass(frozen=True)
class Viewer:
    name: str
    slack_id: str
    email: str | None  # None: a Slack user who is not a CRM user
    team: str = TEAM
    related: bool = False  # contact owner, deal owner or explicitly shared with (Custom)
    crm_admin: bool = False
    above_reps: bool = False  # the reps' manager, or their manager's manager (SPEC §1 Roles)


VIEWERS = [
    Viewer("contact owner", "U2COWN", "owner@crm.example", related=True),
    Viewer("deal owner", "U2DEAL", "dealer@crm.example", related=True),
    Viewer("shared with", "U2SHAR", "friend@crm.example", related=True),
    Viewer("unrelated CRM user", "U2OTHR", "other@crm.example"),
    Viewer("CRM admin", "U2ADMN", "boss@crm.example", crm_admin=True),
    Viewer("non-CRM Slack user", "U2NOCR", None),
    Viewer("other workspace, unrelated", "U3FAR1", "far@crm.example", team=OTHER_TEAM),
    Viewer("other workspace, deal owner", "U3FAR2", "fardealer@crm.example", team=OTHER_TEAM, related=True),
    # The reps report to a manager, who reports to a VP in the other workspace; someone reports to rep A. The reps
    # are one another's peers. Managers see their reports' customer mail at MANAGERS_SEE whatever the sharing.
    Viewer("manager", "U2MNGR", "manager@crm.example", above_reps=True),
    Viewer("manager's manager, other workspace", "U3VPXX", "vp@crm.example", team=OTHER_TEAM, above_reps=True),
    Viewer("report of rep A", "U2RPRT", "report@crm.example"),
]
MANAGERS_SEE = "metadata"
REPORTING_LINE = {"repa@crm.example": "manager@crm.example", "repb@crm.example": "manager@crm.example",
                  "repc@crm.example": "manager@crm.example", "manager@crm.example": "vp@crm.example",
                  "report@crm.example": "repa@crm.example"}
LEVELS = {"metadata": Visibility.METADATA, "subject": Visibility.SUBJECT, "full": Visibility.FULL}


def sharing_of(policy: str, rep: Rep) -> str:
    return rep.own_choice if policy == "choice" else policy


def expected(policy: str, rep: Rep, viewer: Viewer | Rep) -> Visibility:
    """SPEC §5, written out: the owner everything; Private nobody; Public the CRM users of the mailbox's workspace;
    Custom the contact's owner, its deals' owners and those the rep shared with, in any workspace."""
    if isinstance(viewer, Rep):
        if viewer == rep:
            return Visibility.OWNER
        viewer = Viewer("another rep", viewer.slack_id, viewer.email)
    if viewer.email is None:
        return Visibility.NONE
    sharing = sharing_of(policy, rep)
    level = Visibility.NONE
    if sharing == "public" and viewer.team == TEAM:
        level = LEVELS[rep.depth]
    if sharing == "custom" and viewer.related:
        level = LEVELS[rep.depth]
    # Managers' visibility applies on top, in any workspace, to mail with a contact (all of this matrix's mail).
    if getattr(viewer, "above_reps", False):
        level = max(level, LEVELS[MANAGERS_SEE])
    return level


def check_shows(text: str, rep: Rep, level: Visibility, *, body: bool, who: str) -> None:
    where = f"{who} / mailbox {rep.tag} at {level.name}"
    assert (f"SUBJ-{rep.tag}" in text) is (level >= Visibility.SUBJECT), where
    assert (f"SNIP-{rep.tag}" in text) is (level >= Visibility.FULL), where
    assert (f"BODY-{rep.tag}" in text) is (body and level == Visibility.OWNER), where


def install(stack, team_id: str) -> None:
    """The app installed in a workspace of the organisation (what /slack/install stores)."""
    team = stack.slack.team(team_id)
    stack.services.slack.installation_store.save(Installation(
        app_id=team.app_id, enterprise_id=None, team_id=team.id, bot_token=team.bot_token, bot_id=team.bot_id,
        bot_user_id=team.bot_user_id, bot_scopes="commands,chat:write", user_id="U0INSTALLER",
        installed_at=time.time()))


@pytest.fixture
def world(database_url):
    # Two workspaces of one organisation, each with its own installation (multi-workspace mode).
    stack = start_stack(database_url, scheduler=True, start_scheduler=False, slack_bot_token=None,
                        slack_client_id="1111.2222", slack_client_secret="install-secret",
                        slack_allowed_team_ids=f"{TEAM},{OTHER_TEAM}")
    stack.slack.add_team(OTHER_TEAM, name="Initech")
    stack.slack.add_team(FOREIGN_TEAM, name="Elsewhere")
    install(stack, TEAM)
    install(stack, OTHER_TEAM)
    drivers = {TEAM: stack.driver,
               OTHER_TEAM: SlackDriver(f"{stack.server.url}/slack/events", SIGNING_SECRET, emulator=stack.slack,
                                       team_id=OTHER_TEAM, deliver_lifecycle_events=False),
               FOREIGN_TEAM: SlackDriver(f"{stack.server.url}/slack/events", SIGNING_SECRET, emulator=stack.slack,
                                         team_id=FOREIGN_TEAM, deliver_lifecycle_events=False)}
    stack.import_crm(CONTACTS, DEALS)
    for rep in REPS:
        stack.add_rep(rep.slack_id, rep.email, gmail=rep.gmail)
    for viewer in VIEWERS:
        if viewer.email is None:
            stack.slack.add_user(TEAM, viewer.slack_id, email="someone@partner.example")
        else:
            stack.add_rep(viewer.slack_id, viewer.email, gmail=None, mail_integration=False, admin=viewer.crm_admin,
                          team=viewer.team)
    for rep in REPS:
        share(stack, rep.email, "friend@crm.example")
    _reporting_line(stack)
    yield stack, drivers
    for driver in drivers.values():
        driver.close()
    stack.stop()


def _reporting_line(stack) -> None:
    from sqlmodel import select

    from crm_store.db import session_scope
    from crm_store.mailboxes import org_settings
    from crm_store.models import CrmUser

    with session_scope(stack.engine) as session:
        users = {u.email: u for u in session.exec(select(CrmUser)).all()}
        for email, manager in REPORTING_LINE.items():
            users[email].manager_id = users[manager].id
            session.add(users[email])
        org_settings(session, TEAM).managers_see = MANAGERS_SEE  # the reps' workspace


def contact_view(stack, driver, user: str) -> dict:
    response = driver.slash_command(user, "/contact", JANE)
    assert response.status == 200
    posts = stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.response_url)
                                          if p.get("replace_original")], timeout=20)
    return posts[-1]


def open_detail(stack, driver, user: str, value: dict) -> dict:
    before = len(stack.slack.view_calls)
    response = driver.block_action(user, ActionId.EMAIL_OPEN.value, value=json.dumps(value))
    assert response.status == 200
    return stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:] if c["method"] == "views.update"
                                         and c["user_id"] == user], timeout=20)[-1]["view"]


def open_home(stack, driver, user: str) -> dict:
    before = len(stack.slack.views_published.get(user, []))
    assert driver.app_home_opened(user).status == 200
    return stack.slack.wait_for(lambda: stack.slack.views_published.get(user, [])[before:], timeout=20)[-1]


def alerts_in(stack, channel: str) -> list[dict]:
    return [m for m in stack.slack.messages(channel) if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"]


def alerted_in_dm(stack, rep: Rep, subject: str) -> bool:
    """The alert for that email reached the rep's own DM (where a channel that may see nothing sends it)."""
    return any(subject in json.dumps(m["blocks"]) for m in alerts_in(stack, stack.slack.dm_channel(TEAM, rep.slack_id)))


@pytest.mark.parametrize("policy", ["private", "public", "custom", "choice"])
def test_every_relationship_sees_exactly_what_sharing_allows_on_every_surface(world, policy):
    stack, drivers = world
    if policy != "choice":
        stack.command("U2ADMN", f"admin policy {policy}")
    for rep in REPS:
        stack.connect_with_magnet(rep.slack_id, rep.gmail, sharing=sharing_of(policy, rep), sharing_depth=rep.depth)
        stack.gmail.insert_message(rep.gmail, sender=f"Jane Doe <{JANE}>", to=rep.gmail, subject=f"SUBJ-{rep.tag}",
                                   body=f"SNIP-{rep.tag} " + "words " * 60 + f"BODY-{rep.tag}")
    stack.run("sync")
    everyone: list[Viewer | Rep] = [*REPS, *VIEWERS]

    # -- /contact and the email detail ------------------------------------------------------------------
    own_refs = {}
    for rep in REPS:
        post = contact_view(stack, stack.driver, rep.slack_id)
        own_refs[rep.tag] = next(json.loads(b["value"]) for b in buttons(post, ActionId.EMAIL_OPEN.value)
                                 if json.loads(b["value"])["a"] == stack.account_id(rep.gmail))
    for viewer in everyone:
        who = getattr(viewer, "name", f"rep {getattr(viewer, 'tag', '')}")
        driver = drivers[getattr(viewer, "team", TEAM)]
        post = contact_view(stack, driver, viewer.slack_id)
        text = shown_text(post)
        if viewer.email is None:
            assert "CRM users only" in text and "Acme" not in text and "SUBJ-" not in text, who
            continue
        assert "Acme renewal" in text, who  # every CRM user of the organisation gets the card
        values = {v["a"]: v for v in (json.loads(b["value"]) for b in buttons(post, ActionId.EMAIL_OPEN.value))}
        for rep in REPS:
            level = expected(policy, rep, viewer)
            check_shows(text, rep, level, body=False, who=f"/contact by {who}")
            account_id = stack.account_id(rep.gmail)
            assert (account_id in values) is (level > Visibility.NONE), f"/contact by {who}, mailbox {rep.tag}"
            # "Open": what the line opens, or — for a mailbox the viewer may not see — the owner's own button.
            detail = open_detail(stack, driver, viewer.slack_id, values.get(account_id) or own_refs[rep.tag])
            check_shows(shown_text(detail), rep, level, body=True, who=f"detail by {who}")
            if level == Visibility.NONE:
                assert "sharing settings do not let you" in shown_text(detail), who
        contact_view(stack, driver, viewer.slack_id)  # a second look adds no audit row

    # Audit: one row per viewer per email per surface, for views of someone else's mailbox only.
    rows = audit_rows(stack)
    by_key = {}
    for row in rows:
        by_key.setdefault((row.viewer_user_id, row.account_id, row.surface), []).append(row)
    for viewer in everyone:
        if viewer.email is None:
            continue
        viewer_id = _crm_id(stack, viewer.email)
        for rep in REPS:
            level = expected(policy, rep, viewer)
            audited = level not in (Visibility.NONE, Visibility.OWNER)
            for surface in ("contact_view", "email_detail"):
                found = by_key.get((viewer_id, stack.account_id(rep.gmail), surface), [])
                assert len(found) == (1 if audited else 0), (viewer, rep.tag, surface)
                if audited:
                    assert found[0].depth == level.depth_name
    assert all(row.gmail_id and row.contact_id for row in rows)

    # -- App Home: the rep's own recent customer emails, nobody else's ---------------------------------
    for viewer in everyone:
        home = shown_text(open_home(stack, drivers[getattr(viewer, "team", TEAM)], viewer.slack_id))
        for rep in REPS:
            mine = isinstance(viewer, Rep) and viewer == rep
            check_shows(home, rep, Visibility.OWNER if mine else Visibility.NONE, body=False,
                        who=f"App Home of {viewer.slack_id}")

    # -- channel alerts: a private channel of the rep and one viewer; a public channel ------------------
    bot = stack.slack.team(TEAM).bot_user_id
    before = len(audit_rows(stack))
    alert_views = 0
    for n, viewer in enumerate([v for v in everyone if not (isinstance(v, Rep) and v == REPS[0])]):
        channels = {}
        for rep in REPS:
            if isinstance(viewer, Rep) and viewer == rep:
                continue
            channel = f"G{n:02d}{rep.tag}PRIV"
            stack.slack.add_channel(TEAM, channel, channel.lower(), members=[rep.slack_id, viewer.slack_id, bot],
                                    is_private=True)
            stack.update_mailbox(rep.gmail, alert_channel=channel)
            stack.gmail.insert_message(rep.gmail, sender=f"Jane Doe <{JANE}>", to=rep.gmail,
                                       subject=f"SUBJ-{rep.tag} alert {n}",
                                       body=f"SNIP-{rep.tag} " + "words " * 60 + f"BODY-{rep.tag}")
            channels[rep.tag] = channel
        stack.run("sync")
        for rep in REPS:
            if rep.tag not in channels:
                continue
            # Members other than the rep: this viewer only. Someone who is not a CRM user of this workspace
            # (a guest, another workspace's user) makes it nothing at all.
            level = expected(policy, rep, viewer) if (getattr(viewer, "team", TEAM) == TEAM) else Visibility.NONE
            posted = alerts_in(stack, channels[rep.tag])
            who = f"private channel of rep {rep.tag} and {getattr(viewer, 'name', viewer.slack_id)}"
            if level == Visibility.NONE:
                # Refused for the channel, and handled: the alert went to the rep's DM instead.
                assert posted == [], who
                assert alerted_in_dm(stack, rep, f"SUBJ-{rep.tag} alert {n}"), who
                continue
            alert_views += 1
            text = json.dumps(posted[-1]["blocks"])
            check_shows(text, rep, level, body=False, who=who)
            assert "Acme renewal" in text, who  # everyone who can read it is a CRM user
    rows = audit_rows(stack)[before:]
    assert len(rows) == alert_views and {r.surface for r in rows} <= {"channel_alert"}
    assert len({(r.viewer_user_id, r.account_id, r.gmail_id) for r in rows}) == len(rows)

    for rep in REPS:
        channel = f"C0{rep.tag}PUBLIC"
        stack.slack.add_channel(TEAM, channel, channel.lower(), members=[rep.slack_id, bot])
        stack.update_mailbox(rep.gmail, alert_channel=channel)
        stack.gmail.insert_message(rep.gmail, sender=f"Jane Doe <{JANE}>", to=rep.gmail, subject=f"SUBJ-{rep.tag} pub",
                                   body=f"SNIP-{rep.tag} " + "words " * 60 + f"BODY-{rep.tag}")
    stack.run("sync")
    for rep in REPS:
        # A public channel can be read by the whole workspace: what an unrelated CRM user may see, no CRM details.
        level = expected(policy, rep, Viewer("anyone in the workspace", "U0ANY", "anyone@crm.example"))
        posted = alerts_in(stack, f"C0{rep.tag}PUBLIC")
        if level == Visibility.NONE:
            assert posted == [], rep.tag
            assert alerted_in_dm(stack, rep, f"SUBJ-{rep.tag} pub"), rep.tag
            continue
        text = json.dumps(posted[-1]["blocks"])
        check_shows(text, rep, level, body=False, who=f"public channel of rep {rep.tag}")
        assert "Acme renewal" not in text


def _crm_id(stack, email: str) -> int:
    from sqlmodel import select

    from crm_store.db import session_scope
    from crm_store.models import CrmUser

    with session_scope(stack.engine) as session:
        return session.exec(select(CrmUser.id).where(CrmUser.email == email)).one()


def test_a_workspace_the_deployment_does_not_serve_gets_nothing(world):
    stack, drivers = world
    stack.slack.add_user(FOREIGN_TEAM, "U9OUT", email="owner@crm.example")  # even with a CRM user's address
    response = drivers[FOREIGN_TEAM].slash_command("U9OUT", "/contact", JANE)
    assert response.status == 200 and "Acme" not in response.body
    # Handled and refused: Bolt finds no installation for that workspace and says so, in its own words.
    posts = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url), timeout=15)
    assert "your installation with this app is no longer available" in posts[0]["text"]
    # That refusal is Bolt's last word on the request (no listener runs after it): nothing of the CRM or Gmail.
    answers = json.dumps(stack.slack.response_url_posts(response.response_url))
    assert len(stack.slack.response_url_posts(response.response_url)) == 1
    assert "Acme" not in answers and "Jane" not in answers and audit_rows(stack) == []

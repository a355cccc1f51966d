"""A request owns one session (STYLE: "a use case owns its transaction"): `/contact` resolves the viewer, checks
they are a CRM user, finds the contact, builds the card, lists the visible mailboxes and writes the audit rows
and the view's cursors in one session, its transaction ended (not the session) while the mailboxes answer. An
admin command (`/gmail admin grant`, `link`, `policy`, the policy shown by the dispatcher that checks "admins only"
first) and an audit view do the same: the admin is resolved, Slack
asked who the target is, the permission checked and the change made in one session."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import event
from sqlmodel import Session

from handlers.commands import admin as admin_command
from tests.support.slack import connected, rep  # noqa: F401 - fixtures
from tests.support.contact_world import CONTACTS, DEALS, JANE, mail_from_jane
from testsupport.stack import REP, TEAM
from usecases.values import SharingPolicy
from usecases import admin, audit, contacts
from usecases import overview as overview_use_cases
from usecases.contacts import ContactChoices, ContactView
from usecases.values import SlackActorRef


class SessionsOpened:
    """The distinct sessions that began a transaction on this thread while counting."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.sessions: set[int] = set()

    def __enter__(self):
        event.listen(Session, "after_begin", self._began)
        return self

    def __exit__(self, *exc):
        event.remove(Session, "after_begin", self._began)

    def _began(self, session, transaction, connection):
        if threading.get_ident() == self.thread:
            self.sessions.add(id(session))

    @property
    def count(self) -> int:
        return len(self.sessions)


@pytest.fixture
def viewer(stack, connected):  # noqa: F811
    stack.import_crm(CONTACTS, DEALS)
    mail_from_jane(stack, "Renewal question", body="Can we talk pricing next week?")
    return SlackActorRef(TEAM, REP)


def test_one_contact_view_opens_one_session(stack, viewer):
    with SessionsOpened() as opened:
        view = contacts.look_up(stack.services, viewer, JANE)
    assert isinstance(view, ContactView) and len(view.emails.lines) == 1
    assert opened.count == 1


def test_a_choice_and_the_pick_that_follows_open_one_session_each(stack, viewer):
    with SessionsOpened() as opened:
        choices = contacts.look_up(stack.services, viewer, "Doe")
    assert isinstance(choices, ContactChoices) and len(choices.matches) == 2
    assert opened.count == 1
    with SessionsOpened() as opened:
        view = contacts.show_contact(stack.services, viewer, choices.matches[0].id)
    assert isinstance(view, ContactView)
    assert opened.count == 1


BOSS = "U900ADM"  # a CRM admin
NEWCOMER = "U5NEW001"  # a Slack user whose confirmed email is a CRM user's, linked to nobody yet


@pytest.fixture
def boss(stack):
    stack.add_rep(BOSS, "boss@crm.example", gmail=None, admin=True)
    stack.import_crm("email,owner_email\nc0@customer.example,newcomer@crm.example\n")
    stack.slack.add_user(TEAM, NEWCOMER, email="newcomer@crm.example", real_name="New Comer")
    return SlackActorRef(TEAM, BOSS)


def test_an_admin_command_opens_one_session(stack, boss):
    with SessionsOpened() as opened:
        change = admin.grant(stack.services, boss, NEWCOMER)
    assert change.email == "newcomer@crm.example" and change.mail_integration
    assert opened.count == 1
    with SessionsOpened() as opened:
        result = admin.link(stack.services, boss, NEWCOMER, "newcomer@crm.example")
    assert result.email == "newcomer@crm.example"
    assert opened.count == 1
    with SessionsOpened() as opened:
        assert admin.change_user_policy(stack.services, boss, NEWCOMER, SharingPolicy.PRIVATE) == "newcomer@crm.example"
    assert opened.count == 1


def test_an_audit_view_opens_one_session(stack, viewer, boss):
    with SessionsOpened() as opened:
        page = audit.audit_for_slack(stack.services, boss, REP, None)
    assert page.workspace is None and page.reader_team == TEAM
    assert opened.count == 1


def test_the_admin_command_that_shows_the_policy_opens_one_session(stack, boss):
    """`/gmail admin policy`: the dispatcher's "admins only" and the overview are one session, not one each; the
    same for `/gmail admin audit`."""
    with SessionsOpened() as opened:
        text, _blocks = admin_command.admin(stack.services, boss, ["policy"])
    assert "Your workspace's sharing policy is" in text
    assert opened.count == 1
    with SessionsOpened() as opened:
        text, _blocks = admin_command.admin(stack.services, boss, ["audit"])
    assert "audit log" in text.lower()
    assert opened.count == 1


def test_the_admin_status_and_the_app_homes_admin_section_open_one_session_each(stack, boss, viewer):
    """`/gmail admin status` and the App Home's overview: who asks and the overview itself, one session (were two)."""
    with SessionsOpened() as opened:
        _text, blocks = admin_command.admin(stack.services, boss, ["status"])
    assert "rep@crm.example" in json.dumps(blocks)  # the connected rep, in the whole organisation's overview
    assert opened.count == 1
    with SessionsOpened() as opened:
        overview = overview_use_cases.overview_if_admin(stack.services, boss)
    assert overview is not None and any(row.email == "rep@crm.example" for row in overview.rows)
    assert opened.count == 1
    with SessionsOpened() as opened:
        assert overview_use_cases.overview_if_admin(stack.services, SlackActorRef(TEAM, REP)) is None
    assert opened.count == 1

"""A request owns one session (STYLE: "a use case owns its transaction"): `/contact` resolves the viewer, checks
they are a CRM user, finds the contact, builds the card, lists the visible mailboxes and writes the audit rows
and the view's cursors in one session, its transaction ended (not the session) while the mailboxes answer."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event
from sqlmodel import Session

from tests.support.slack import connected, rep  # noqa: F401 - fixtures
from tests.support.contact_world import CONTACTS, DEALS, JANE, mail_from_jane
from testsupport.stack import REP, TEAM
from usecases import contacts
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

"""Every slash command and /gmail subcommand, typed by someone with no CRM user — a guest of the workspace, and an
admin of the organisation's other workspace (an admin there, no one here) — while the rep's mailbox holds customer
mail: each gets its specific refusal (or, for help, the usage), nothing of the CRM or the mail, and nothing of the
rep's changes. The subcommands come from the code's own tables: a new one without a row fails. Admin subcommands
across workspaces are played in tests/usecases/test_permission_matrix.py. Through signed slash commands."""
from __future__ import annotations

import time

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import CrmUser, MutedContact
from handlers.commands.admin import ACTIONS as ADMIN_ACTIONS
from handlers.commands.gmail import SUBCOMMANDS
from testsupport.stack import OTHER_TEAM, start_org_stack
from tests.support.slack import account_of, shown_text
from tests.support.contact_world import CONTACTS, DEALS, JANE, mail_from_jane
from testsupport.stack import REP, TEAM

GUEST, FAR_ADMIN = "U404GST", "U2ADMIN"
NOT_LINKED = "is not linked to a CRM user. Ask "
ADMIN_ONLY = "Only MailMagnet admins and Slack workspace admins can do that."
CRM_USERS_ONLY = "Contact details are shown to CRM users only"
HIDDEN = ("SECRET-SUBJECT", "SECRET-SNIPPET", "Acme renewal", "12500", "+1 555 0100")

# command text -> what someone with no CRM user reads
COMMANDS = {
    "/gmail connect": NOT_LINKED,
    "/gmail help": "/gmail connect",  # the usage: harmless, the same for everyone
    "/gmail status": NOT_LINKED,
    "/gmail disconnect": NOT_LINKED,
    "/gmail sharing public full": NOT_LINKED,
    "/gmail magnet on": NOT_LINKED,
    "/gmail labels on": NOT_LINKED,
    "/gmail alerts dm": NOT_LINKED,
    "/gmail quiet 22:00-07:00": NOT_LINKED,
    "/gmail digest on": NOT_LINKED,
    "/gmail followups 8": NOT_LINKED,
    f"/gmail mute {JANE}": NOT_LINKED,
    f"/gmail unmute {JANE}": NOT_LINKED,
    f"/gmail share <@{REP}>": NOT_LINKED,
    f"/gmail unshare <@{REP}>": NOT_LINKED,
    f"/gmail why {JANE}": NOT_LINKED,
    f"/gmail admin grant <@{REP}>": ADMIN_ONLY,
    f"/gmail admin revoke <@{REP}>": ADMIN_ONLY,
    "/gmail admin policy public": ADMIN_ONLY,
    f"/gmail admin link <@{GUEST}> rep@crm.example": ADMIN_ONLY,
    f"/gmail admin allow <@{GUEST}> guest@gmail.example": ADMIN_ONLY,
    "/gmail admin audit": ADMIN_ONLY,
    "/gmail admin status": ADMIN_ONLY,
    "/gmail admin managers full": ADMIN_ONLY,
    "/gmail admin grant <!subteam^S0SALES|@sales>": ADMIN_ONLY,
    "/gmail admin policy role Sales Rep public": ADMIN_ONLY,
    f"/contact {JANE}": CRM_USERS_ONLY,
    "/contact doe": CRM_USERS_ONLY,
    f"/email {JANE}": CRM_USERS_ONLY,
}
# Another workspace's admin is an admin there: the admin subcommands are theirs to use on their own people, so
# they are the matrix's business; everything else refuses them as it refuses a guest.
FAR_ADMIN_COMMANDS = {text: words for text, words in COMMANDS.items() if not text.startswith("/gmail admin")}


def test_every_command_and_subcommand_has_a_row():
    typed = {text.split()[1] for text in COMMANDS if text.startswith("/gmail ")}
    assert typed == set(SUBCOMMANDS)
    assert {text.split()[2] for text in COMMANDS if text.startswith("/gmail admin ")} == set(ADMIN_ACTIONS)
    assert {text.split()[0] for text in COMMANDS} == {"/gmail", "/contact", "/email"}


@pytest.fixture
def org(database_url):
    stack = start_org_stack(database_url, scheduler=True, start_scheduler=False)
    stack.import_crm(CONTACTS, DEALS)
    stack.add_rep()
    stack.slack.add_user(TEAM, GUEST, email="guest@partner.example")
    stack.slack.add_user(OTHER_TEAM, FAR_ADMIN, email="it@initech.example", is_admin=True)
    stack.connect_with_magnet(sharing="public", sharing_depth="full")
    mail_from_jane(stack, "SECRET-SUBJECT pricing", body="SECRET-SNIPPET numbers")
    stack.run("sync")
    yield stack
    stack.stop()


def rep_state(stack) -> tuple:
    account = account_of(stack)
    with session_scope(stack.engine) as session:
        users = sorted((u.email, u.slack_team_id, u.slack_user_id) for u in session.exec(select(CrmUser)).all())
        mutes = len(session.exec(select(MutedContact)).all())
    return (account.status, account.sharing, account.sharing_depth, account.magnet_enabled, account.labels_enabled,
            account.alert_channel, mutes, users, len(stack.gmail.sent_messages(account.email_address)))


def answered(stack, user: str, response_url: str, views_before: int, words: str, text: str) -> str:
    deadline = time.monotonic() + 15
    while True:
        answer = "\n".join([shown_text(p) for p in stack.slack.response_url_posts(response_url)]
                           + [shown_text(c["view"]) for c in stack.slack.view_calls[views_before:]
                              if c["user_id"] == user])
        if words in answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} was not answered with {words!r}; it was answered: {answer!r}")
        time.sleep(0.02)


@pytest.mark.parametrize("who", ["guest", "other workspace's admin"])
def test_someone_with_no_crm_user_gets_a_refusal_for_every_command(org, who):
    team, user, commands = (TEAM, GUEST, COMMANDS) if who == "guest" else (OTHER_TEAM, FAR_ADMIN, FAR_ADMIN_COMMANDS)
    before = rep_state(org)
    for text, words in commands.items():
        command, _, rest = text.partition(" ")
        opened = len(org.slack.view_calls)
        response = org.driver_for(team).slash_command(user, command, rest)
        assert response.status == 200, text
        # Handled: answered with its own words (in the response_url, or a modal for /email).
        answer = answered(org, user, response.response_url, opened, words, text)
        assert "something went wrong" not in answer, (text, answer)
        for hidden in HIDDEN:
            assert hidden not in answer, (text, hidden)
        assert rep_state(org) == before, text

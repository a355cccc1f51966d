"""The audit log names who saw whose email with which contact (SPEC §5): reading it is itself a view of other
people's business. An admin of another workspace of the organisation reads their own workspace's rows only — by
`/gmail admin audit`, with a filter naming our rep, or with a forged "Older" button — an admin of a workspace
outside the organisation reads nothing, and a rep reads nothing; this workspace's admin reads the rows (the
control). Through signed Slack requests."""
from __future__ import annotations

import json

import pytest

from handlers.blocks.ids import ActionId
from testsupport.stack import OTHER_TEAM, OUTSIDER_TEAM, start_org_stack
from tests.support.slack import shown_text
from tests.support.contact_world import CONTACTS, DEALS, JANE, audit_rows, contact_command, mail_from_jane
from testsupport.stack import REP, REP_GMAIL, TEAM

COLLEAGUE, ADMIN, FAR_ADMIN, OUTSIDER = "U200COL", "U900ADM", "U2ADMIN", "U6ADMIN"
ROW = f"<@{COLLEAGUE}> (colleague@crm.example) saw an email with Jane Doe from <@{REP}>'s mailbox ({REP_GMAIL})"


@pytest.fixture
def audited(database_url):
    """A colleague looked at three of the rep's emails with Jane: three audit rows of this workspace."""
    stack = start_org_stack(database_url)
    stack.import_crm(CONTACTS, DEALS)
    stack.add_rep()
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    stack.slack.add_user(TEAM, ADMIN, email="it@crm.example", is_admin=True)
    stack.slack.add_user(OTHER_TEAM, FAR_ADMIN, email="it@initech.example", is_admin=True)
    stack.slack.add_user(OUTSIDER_TEAM, OUTSIDER, email="it@elsewhere.example", is_admin=True)
    stack.connect()
    stack.update_mailbox(sharing="public", sharing_depth="subject")
    for n in range(3):
        mail_from_jane(stack, f"Private subject {n}")
    contact_command(stack, JANE, user=COLLEAGUE)
    stack.slack.wait_for(lambda: len(audit_rows(stack)) == 3, timeout=15)
    yield stack
    stack.stop()


def audit(stack, team: str, user: str, text: str = "admin audit") -> str:
    response = stack.driver_for(team).slash_command(user, "/gmail", text)
    assert response.status == 200
    if response.body and response.body.startswith("{"):  # answered in the acknowledgement (a foreign workspace)
        return json.loads(response.body)["text"]
    posts = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url), timeout=15)
    return shown_text(posts[-1])


def test_this_workspaces_admin_reads_its_rows(audited):
    text = audit(audited, TEAM, ADMIN)
    assert text.count(ROW) == 3 and "Private subject" not in text  # the control: rows exist, without content


@pytest.mark.parametrize("command", ["admin audit", f"admin audit <@{REP}>", f"admin audit <@{COLLEAGUE}> 30d"])
def test_another_workspaces_admin_reads_none_of_our_rows(audited, command):
    text = audit(audited, OTHER_TEAM, FAR_ADMIN, command)
    assert "No views recorded" in text, text  # answered: their own workspace's rows, and there are none
    for ours in ("saw an email", REP_GMAIL, "Jane", "Private subject"):
        assert ours not in text, (ours, text)


def test_another_workspaces_admin_paging_with_a_forged_older_button_reads_none_of_our_rows(audited):
    stack = audited
    for value in ({"u": None, "s": None, "b": 10 ** 9}, {"u": REP, "s": None, "b": 10 ** 9},
                  {"u": COLLEAGUE, "s": "2000-01-01T00:00:00", "b": 10 ** 9}):
        click = stack.driver_for(OTHER_TEAM).block_action(FAR_ADMIN, ActionId.AUDIT_OLDER.value,
                                                          value=json.dumps(value))
        assert click.status == 200
        text = shown_text(stack.slack.wait_for(lambda: stack.slack.response_url_posts(click.payload["response_url"]),
                                               timeout=15)[-1])
        assert "No views recorded" in text and "saw an email" not in text and REP_GMAIL not in text, (value, text)


def test_an_admin_outside_the_organisation_and_a_rep_read_nothing(audited):
    outsider = audit(audited, OUTSIDER_TEAM, OUTSIDER)
    assert "serves another organisation's Slack workspace" in outsider and "saw an email" not in outsider
    rep = audit(audited, TEAM, COLLEAGUE)
    assert "Only MailMagnet admins and Slack workspace admins can do that." in rep and "saw an email" not in rep

"""The message shortcut "Show contact emails" on a message that names a contact, run by each attacker who can reach
it: a guest and another workspace's admin get a refusal and nothing of the CRM or the mail; a colleague with no
relationship to the contact gets the card and none of the rep's mail; the contact's owner (Custom sharing, full
depth) sees it — the control — and that view is audited as `shortcut`. Through signed message_action payloads."""
from __future__ import annotations

import pytest

from handlers.blocks.ids import CallbackId
from testsupport.stack import OTHER_TEAM, start_org_stack
from tests.support.slack import shown_text
from tests.support.contact_world import CONTACTS, DEALS, audit_rows, mail_from_jane
from testsupport.stack import REP, TEAM

GUEST, COLLEAGUE, OWNER, FAR_ADMIN = "U404GST", "U200COL", "U300OWN", "U2ADMIN"
SECRETS = ("SECRET-SUBJECT", "SECRET-SNIPPET")
CRM_DETAILS = ("Acme renewal", "12500", "+1 555 0100")


@pytest.fixture
def channel_message(database_url):
    stack = start_org_stack(database_url)
    stack.import_crm(CONTACTS, DEALS)
    stack.add_rep()
    stack.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    stack.add_rep(OWNER, "owner@crm.example", gmail=None)  # Jane's owner
    stack.slack.add_user(TEAM, GUEST, email="guest@partner.example")
    stack.slack.add_user(OTHER_TEAM, FAR_ADMIN, email="it@initech.example", is_admin=True)
    stack.connect()
    stack.update_mailbox(sharing="custom", sharing_depth="full")
    mail_from_jane(stack, "SECRET-SUBJECT renewal terms", body="SECRET-SNIPPET the numbers")
    bot = stack.slack.team(TEAM).bot_user_id
    stack.slack.add_channel(TEAM, "C0DEALS", "deals", members=[REP, GUEST, COLLEAGUE, OWNER, bot])
    message = stack.slack.post_as_user("C0DEALS", REP, "Who knows <mailto:jane@acme.example|jane@acme.example>?")
    yield stack, message
    stack.stop()


def shortcut(stack, team: str, user: str, message: dict) -> str:
    response = stack.driver_for(team).message_shortcut(user, CallbackId.SHOW_CONTACT_SHORTCUT.value, message,
                                                       channel_id="C0DEALS")
    assert response.status == 200
    url = response.payload["response_url"]
    # Handled: the answer that replaced "looking…" (or the refusal, which is the only answer).
    stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(url)
                                          if p.get("replace_original") or "CRM users only" in shown_text(p)],
                                 timeout=20)
    return "\n".join(shown_text(p) for p in stack.slack.response_url_posts(url))


@pytest.mark.parametrize("who", ["guest", "other workspace's admin"])
def test_someone_who_is_no_crm_user_gets_a_refusal_and_nothing(channel_message, who):
    stack, message = channel_message
    team, user = (TEAM, GUEST) if who == "guest" else (OTHER_TEAM, FAR_ADMIN)
    text = shortcut(stack, team, user, message)
    assert "Contact details are shown to CRM users only" in text
    for hidden in (*SECRETS, *CRM_DETAILS):
        assert hidden not in text, (who, hidden)
    assert audit_rows(stack) == []


def test_a_colleague_with_no_relationship_gets_the_card_and_none_of_the_mail(channel_message):
    stack, message = channel_message
    text = shortcut(stack, TEAM, COLLEAGUE, message)
    assert "Acme renewal" in text  # the card is for every CRM user
    assert not any(secret in text for secret in SECRETS)
    assert audit_rows(stack) == []


def test_the_contacts_owner_sees_what_custom_sharing_gives_and_it_is_audited(channel_message):
    stack, message = channel_message
    text = shortcut(stack, TEAM, OWNER, message)
    assert all(secret in text for secret in SECRETS)  # the control: there was something to see
    assert [(row.surface, row.depth) for row in audit_rows(stack)] == [("shortcut", "full")]

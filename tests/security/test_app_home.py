"""The App Home tab of someone who may see nobody's mail: a guest (no CRM user) and an admin of another workspace of
the organisation open it while the rep's mailbox holds customer mail. They read why they have nothing, and nothing
of the rep's: no mailbox, no subject, no control acting on a mailbox. A colleague's tab lists only their own
mail (tests/handlers/test_sharing_matrix.py plays every relationship); forged clicks on the tab's controls are in
test_buttons.py. Through signed app_home_opened events."""
from __future__ import annotations

import pytest

from testsupport.stack import OTHER_TEAM, start_org_stack
from tests.support.slack import shown_text
from tests.support.contact_world import CONTACTS, DEALS, mail_from_jane
from testsupport.stack import REP, REP_GMAIL, TEAM

GUEST, FAR_ADMIN = "U404GST", "U2ADMIN"


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


@pytest.mark.parametrize("team, user", [(TEAM, GUEST), (OTHER_TEAM, FAR_ADMIN)],
                         ids=["guest", "other workspace's admin"])
def test_someone_with_no_crm_user_reads_why_and_nothing_of_the_reps(org, team, user):
    assert org.driver_for(team).app_home_opened(user).status == 200
    # Handled: their tab was published, saying why there is nothing for them.
    home = org.slack.wait_for(lambda: [c["view"] for c in org.slack.view_calls
                                       if c["user_id"] == user and c["view"].get("type") == "home"], timeout=15)[-1]
    text = shown_text(home)
    assert "is not linked to a CRM user" in text
    for hidden in ("SECRET-SUBJECT", "SECRET-SNIPPET", REP_GMAIL, f"<@{REP}>", "Jane"):
        assert hidden not in text, hidden
    controls = [e for b in home["blocks"] for e in (b.get("elements") or []) + [b.get("accessory") or {}]
                if isinstance(e, dict) and e.get("action_id")]
    assert controls == []

"""A lead's first email alerts on the push path, with its lead status and owner (SPEC §3 Leads), through the
Gmail and Slack emulators and the real bot server."""
from __future__ import annotations

import io
import json

from crm_store.csv_import import import_leads

from tests.support.alerts import alerts_in
from tests.support.push import pushing  # noqa: F401 - the push-mode stack fixture
from testsupport.stack import REP, TEAM


LEADS = (
    "email,first_name,last_name,company,lead_status,external_id,owner_email\n"
    "pat@prospect.example,Pat,<!channel>,Zylker,Contacted,L1,owner@crm.example\n"
)


def test_a_leads_first_email_alerts_on_the_push_path_with_status_and_owner(pushing):
    pushing.add_rep()
    import_leads(pushing.engine, io.StringIO(LEADS))
    pushing.connect_with_push()
    pushing.mail('"Pat" <Pat@Prospect.example>', "Interested in a pilot")
    dm = pushing.slack.dm_channel(TEAM, REP)
    alerts = pushing.slack.wait_for(lambda: alerts_in(pushing, dm), timeout=10)
    blocks = json.dumps(alerts[0]["blocks"])
    assert "Interested in a pilot" in blocks
    assert "*Lead status*\\nContacted" in blocks and "*Owner*\\nowner@crm.example" in blocks
    assert "*Label*" not in blocks and "*Deals*" not in blocks
    assert alerts[0]["text"].startswith("New email from lead Pat")
    # The lead's name is CRM data: escaped wherever Slack renders it.
    assert "<!channel>" not in blocks and "<!channel>" not in alerts[0]["text"]

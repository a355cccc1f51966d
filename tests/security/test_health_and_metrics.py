"""What a stranger reads from the routes anyone can reach without signing anything: /metrics and /healthz tell
counts and states, never who or what — no address, Slack user, contact, subject or token — after a run with
alerts, contact views and commands in it — even to whoever holds the metrics token. (/healthz's own details are
tested with the hostile inputs; /metrics without the token in tests/security/test_metrics_access.py.)"""
from __future__ import annotations

from tests.support.contact_world import CONTACTS, DEALS, JANE, contact_command, mail_from_jane
from testsupport.stack import METRICS_TOKEN, REP, REP_EMAIL, REP_GMAIL, TEAM, http_get

COLLEAGUE = "U200COL"


def test_metrics_and_health_name_nobody_and_nothing_of_the_mail(live):
    live.import_crm(CONTACTS, DEALS)
    live.add_rep()
    live.add_rep(COLLEAGUE, "colleague@crm.example", gmail=None)
    live.connect_with_magnet(sharing="public", sharing_depth="full")
    mail_from_jane(live, "SECRET-SUBJECT pricing", body="SECRET-SNIPPET numbers")
    live.run("sync")
    contact_command(live, JANE, user=COLLEAGUE)
    live.command(REP, "status")
    team = live.slack.team(TEAM)
    personal = [REP, COLLEAGUE, REP_EMAIL, REP_GMAIL, JANE, "Jane", "Acme", "SECRET-SUBJECT", "SECRET-SNIPPET",
                team.bot_token, live.settings.slack_signing_secret, METRICS_TOKEN]

    metrics = live.scrape()
    assert "mailmagnet_alerts_total" in metrics  # the control: the run was counted
    status, _, health = http_get(f"{live.server.url}/healthz")
    assert status == 200
    for secret in personal:
        assert secret not in metrics, secret
        assert secret not in health, secret
    assert "@" not in metrics.replace("mailmagnet_", "")  # no address of any kind

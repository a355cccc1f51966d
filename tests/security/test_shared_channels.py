"""Issue 16 point 8, shared channels (SPEC §5): a channel shared with another organisation — Slack Connect
(`is_ext_shared`, or an invitation pending), or an org-shared channel that reaches a workspace this deployment
does not serve — is an outside audience. An alert meant for it shows nothing there (it comes to the rep's DM
with the reason), and `/gmail alerts #channel` refuses it with the reason."""
from __future__ import annotations

import json

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import AuditLog, GmailAccount
from testsupport.stack import OTHER_TEAM, OUTSIDER_TEAM, start_org_stack
from tests.support.slack import shown_text
from testsupport.stack import REP, REP_GMAIL, TEAM

CONTACTS = ("email,first_name,last_name,company,external_id,owner_email\n"
            "jane@acme.example,Jane,Doe,Acme,C1,rep@crm.example\n")
DEALS = ("name,contact_external_id,stage,closing_date,amount,external_id\n"
         "Acme renewal,C1,Negotiation,2099-01-15,1000,D1\n")
CHANNEL = "C0VENDOR"


def alerts_in(stack, channel: str) -> list[dict]:
    return [m for m in stack.slack.messages(channel)
            if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"]


def alert_destination(stack) -> str | None:
    with session_scope(stack.engine) as session:
        return session.exec(select(GmailAccount.alert_channel)).one()


def channel_with_everyone(stack, *, private: bool = False) -> None:
    """A channel where the rep and a CRM colleague are, with the bot: every member a CRM user of ours."""
    stack.add_rep("U200COL", "colleague@crm.example", gmail=None)
    bot = stack.slack.team(TEAM).bot_user_id
    stack.slack.add_channel(TEAM, CHANNEL, "deal-room", members=[REP, "U200COL", bot], is_private=private)


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
@pytest.mark.parametrize("pending", [False, True], ids=["connected", "invited"])
def test_an_alert_for_a_slack_connect_channel_goes_to_the_dm(live, private, pending):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    channel_with_everyone(live, private=private)
    # The rep chose the channel when it was theirs; then someone shared it with a vendor (Slack Connect).
    live.connect_with_magnet(alert_channel=CHANNEL, sharing="public", sharing_depth="full")
    live.slack.share_channel(TEAM, CHANNEL, ["T0VENDOR"], pending=pending)
    live.mail("jane@acme.example", "Confidential pricing", body="Our floor is 40k")
    live.run("sync")

    assert alerts_in(live, CHANNEL) == []
    dm = live.slack.dm_channel(TEAM, REP)
    assert "Confidential pricing" in json.dumps(alerts_in(live, dm)[-1]["blocks"])
    notice = [shown_text(m) for m in live.slack.messages(dm) if "come here instead" in shown_text(m)]
    assert notice and "shared with another organisation" in notice[-1]
    with session_scope(live.engine) as session:
        assert session.exec(select(AuditLog)).all() == []  # nobody but the rep saw it


def test_alerts_refuses_a_slack_connect_channel_with_the_reason(stack):
    stack.add_rep()
    channel_with_everyone(stack)
    stack.connect()
    stack.slack.share_channel(TEAM, CHANNEL, ["T0VENDOR"])
    answer = shown_text(stack.command(REP, f"alerts <#{CHANNEL}|deal-room>"))
    assert "shared with another organisation" in answer and "now go to" not in answer
    assert alert_destination(stack) is None

    stack.slack.share_channel(TEAM, CHANNEL, ["T0VENDOR"], pending=True)
    answer = shown_text(stack.command(REP, f"alerts <#{CHANNEL}|deal-room>"))
    assert "shared with another organisation" in answer and alert_destination(stack) is None


@pytest.fixture
def org(database_url):
    running = start_org_stack(database_url)
    yield running
    running.stop()


def test_an_org_shared_channel_is_inside_only_while_every_workspace_in_it_is_ours(org):
    org.add_rep()
    channel_with_everyone(org)
    org.connect()
    org.slack.share_channel(TEAM, CHANNEL, [OTHER_TEAM], external=False)  # both workspaces are this organisation's
    assert "now go to" in shown_text(org.command(REP, f"alerts <#{CHANNEL}|deal-room>"))
    assert alert_destination(org) == CHANNEL

    org.slack.share_channel(TEAM, CHANNEL, [OTHER_TEAM, OUTSIDER_TEAM], external=False)
    org.services.directory.clear()  # what Slack says about the channel is cached for 30 s
    answer = shown_text(org.command(REP, f"alerts <#{CHANNEL}|deal-room>"))
    assert "shared with another organisation" in answer

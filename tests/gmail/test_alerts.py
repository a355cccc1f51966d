"""MailMagnet alerts end to end: Gmail emulator → sync → Slack emulator, with real HTTP everywhere."""
from __future__ import annotations

import json

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Alert, AlertStatus, AuditLog
from sandbox.slack_emulator import Fault
from tests.signals import metrics
from testsupport.stack import REP, REP_GMAIL, TEAM
from tests.support.alerts import CONTACTS, DEALS, alerts_in


def test_alert_in_the_reps_dm_shows_contact_deal_subject_and_buttons(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    gmail_id = live.mail('"Jane Doe" <Jane@Acme.example>', "Renewal question", body="Can we talk pricing?")
    live.mail("stranger@nowhere.example", "Spam")
    live.mail(REP_GMAIL, "Note to self")
    live.run("sync")
    dm = live.slack.dm_channel(TEAM, REP)
    alerts = alerts_in(live, dm)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["metadata"]["event_payload"]["gmail_id"] == gmail_id
    text = json.dumps(alert["blocks"])
    for expected in ("Jane Doe", "Acme", "Acme renewal", "Renewal question", "Can we talk pricing?",
                     "View contact", "Reply", "Open in Gmail", "Mute contact", "Open Deals"):
        assert expected in text, expected
    assert "Renewal question" not in alert["text"]  # the notification text never carries the subject
    live.run("sync")
    assert len(alerts_in(live, dm)) == 1


def test_private_channel_alert_shows_only_what_every_member_may_see(live):
    live.add_rep()
    live.add_rep("U200COL", "colleague@crm.example", gmail=None)
    live.import_crm(CONTACTS, DEALS)
    live.slack.add_channel(TEAM, "G0SALES", "sales", members=[REP, "U200COL", live.slack.default_team().bot_user_id],
                           is_private=True)
    live.connect_with_magnet(alert_channel="G0SALES", sharing="private")
    live.mail("jane@acme.example", "Private pricing")
    live.run("sync")
    # Private sharing: the channel may see nothing of it, so the alert goes to the rep's DM, with a word why.
    assert alerts_in(live, "G0SALES") == []
    dm = live.slack.dm_channel(TEAM, REP)
    assert "Private pricing" in json.dumps(alerts_in(live, dm)[-1]["blocks"])
    assert any("come here instead" in json.dumps(m.get("blocks")) for m in live.slack.messages(dm))

    live.update_mailbox(sharing="public", sharing_depth="full")
    live.mail("jane@acme.example", "Public news", body="Shared with the team")
    live.run("sync")
    shown = json.dumps(alerts_in(live, "G0SALES")[-1]["blocks"])
    assert "Public news" in shown and "Shared with the team" in shown
    assert "Acme renewal" in shown  # everyone in the channel is a CRM user: deal details too
    with session_scope(live.engine) as session:
        assert len(session.exec(select(AuditLog)).all()) == 1  # the colleague saw the rep's email

    live.update_mailbox(sharing_depth="subject")
    live.mail("jane@acme.example", "Subject only", body="secret snippet")
    live.run("sync")
    partial = json.dumps(alerts_in(live, "G0SALES")[-1]["blocks"])
    assert "Subject only" in partial and "secret snippet" not in partial
    assert "Preview hidden: everyone here may see subjects only." in partial  # and the channel is told why
    assert "hidden" not in shown


def test_mute_button_stops_alerts_for_that_contact(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.mail("bob@globex.example", "First")
    live.run("sync")
    dm = live.slack.dm_channel(TEAM, REP)
    alert = alerts_in(live, dm)[-1]
    button = next(e for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == "alert_mute_contact")
    live.driver.block_action(REP, "alert_mute_contact", value=button["value"], channel_id=dm, message=alert)
    live.slack.wait_for(lambda: any("Muted Bob Smith" in (p.get("text") or "") for p in live.slack.response_url_posts()))
    live.mail("bob@globex.example", "Second")
    live.mail("jane@acme.example", "Still alerted")
    live.run("sync")
    texts = [json.dumps(a["blocks"]) for a in alerts_in(live, dm)]
    assert sum("Bob Smith" in t for t in texts) == 1 and any("Still alerted" in t for t in texts)


def test_quiet_hours_and_digest_batch_alerts(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(quiet_start_minute=0, quiet_end_minute=24 * 60)
    live.mail("jane@acme.example", "During the night")
    live.mail("bob@globex.example", "Also at night")
    live.run("sync")
    dm = live.slack.dm_channel(TEAM, REP)
    assert alerts_in(live, dm) == []
    live.update_mailbox(quiet_start_minute=None, quiet_end_minute=None)
    live.run("sync")
    digests = [m for m in live.slack.messages(dm) if (m.get("metadata") or {}).get("event_type") == "mailmagnet_digest"]
    assert len(digests) == 1 and "2 emails" in digests[0]["text"]
    assert "During the night" in json.dumps(digests[0]["blocks"])

    live.update_mailbox(digest_enabled=True, last_digest_at=None)
    for i in range(3):
        live.mail("jane@acme.example", f"Digest {i}")
    live.run("sync")  # no digest sent yet in this interval: the first one goes at once
    live.mail("jane@acme.example", "Digest later")
    live.run("sync")
    digests = [m for m in live.slack.messages(dm) if (m.get("metadata") or {}).get("event_type") == "mailmagnet_digest"]
    assert len(digests) == 2 and "3 emails" in digests[-1]["text"]
    with session_scope(live.engine) as session:
        waiting = session.exec(select(Alert).where(Alert.status == AlertStatus.QUEUED_DIGEST.value)).all()
        assert len(waiting) == 1
    assert alerts_in(live, dm) == []


def test_crash_between_post_and_record_does_not_post_twice(live, monkeypatch):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    magnet = live.services.jobs.magnet
    real_finish = magnet._finish
    crashed = []

    def finish_then_crash(alert_id, status, ts):
        if status is AlertStatus.POSTED and not crashed:
            crashed.append(alert_id)
            raise RuntimeError("kill -9 right after chat.postMessage")
        return real_finish(alert_id, status, ts)

    monkeypatch.setattr(magnet, "_finish", finish_then_crash)
    live.mail("jane@acme.example", "Exactly once")
    live.run("sync")  # posts, "crashes" before recording, then the retry finds the post in the DM's history
    dm = live.slack.dm_channel(TEAM, REP)
    assert len(alerts_in(live, dm)) == 1 and crashed
    assert live.slack.calls_to("conversations.history")
    live.run("sync")
    assert len(alerts_in(live, dm)) == 1
    with session_scope(live.engine) as session:
        alert = session.exec(select(Alert)).one()
        assert alert.status == AlertStatus.POSTED.value and alert.slack_ts == alerts_in(live, dm)[0]["ts"]


def test_slack_rate_limit_and_outage_lose_nothing(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    dm = live.slack.dm_channel(TEAM, REP)
    live.slack.inject_rate_limit("chat.postMessage", count=2, retry_after=1)
    live.mail("jane@acme.example", "Through a 429")
    live.run("sync")
    assert len(alerts_in(live, dm)) == 1  # Retry-After honoured by slack_sdk's handler
    # Every post fails while Slack is down: after each 500 the DM's history shows it did not land.
    outage = live.slack.add_fault(Fault(status=500, accepted=False, rate=1.0))
    live.mail("bob@globex.example", "During an outage")
    live.run("sync")
    assert len(alerts_in(live, dm)) == 1
    live.slack.remove_fault(outage)
    live.run("sync")
    alerts = alerts_in(live, dm)
    assert len(alerts) == 2 and "During an outage" in json.dumps(alerts[-1]["blocks"])


def test_a_dm_that_cannot_be_read_holds_back_its_alert_but_never_the_mailbox(live):
    """An alert stamped before a failed post is posted again only after the DM's history says it is not there;
    when the DM cannot be opened (Slack down, the rep gone from Slack) that alert waits, and the mailbox's
    sync and label runs carry on."""
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    live.slack.inject_error("chat.postMessage", error="internal_error", count=6, status=500)
    first = live.mail("jane@acme.example", "Posted while Slack fails")
    live.run("sync")  # stamped, not posted
    live.slack.inject_error("conversations.history", error="internal_error", count=100)
    second = live.mail("jane@acme.example", "Arrives while the DM cannot be read")
    assert live.run("sync")[0].error is None
    assert live.run("labels")[0].error is None
    assert "Open Deals" in live.gmail.label_names(REP_GMAIL, first)
    assert "Open Deals" in live.gmail.label_names(REP_GMAIL, second)
    live.slack.clear_faults()
    live.run("sync")
    texts = [json.dumps(a["blocks"]) for a in alerts_in(live, live.slack.dm_channel(TEAM, REP))]
    assert sum("Posted while Slack fails" in t for t in texts) == 1
    assert sum("Arrives while the DM cannot be read" in t for t in texts) == 1


def test_revoked_access_sends_exactly_one_reconnect_dm(live):
    live.add_rep()
    live.connect_with_magnet()
    live.gmail.revoke_access(REP_GMAIL)
    live.gmail.expire_access_tokens(REP_GMAIL)
    for _ in range(3):
        live.run("sync")
    dms = [m for m in live.slack.dms(REP) if "lost access" in (m.get("text") or "")]
    assert len(dms) == 1


def test_expired_history_resyncs_without_duplicate_alerts(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.mail("jane@acme.example", "Before the gap")
    live.run("sync")
    live.mail("bob@globex.example", "During the gap")
    live.gmail.expire_history(REP_GMAIL)
    outcome = live.run("sync")[0]
    assert outcome.sync.full_resync
    texts = [json.dumps(a["blocks"]) for a in alerts_in(live, live.slack.dm_channel(TEAM, REP))]
    assert len(texts) == 2 and sum("Before the gap" in t for t in texts) == 1
    assert any("During the gap" in t for t in texts)


def test_mail_that_arrived_while_magnet_was_off_is_not_alerted(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(quiet_start_minute=0, quiet_end_minute=24 * 60)
    live.mail("jane@acme.example", "Queued, then MailMagnet off")
    live.run("sync")
    assert "*off*" in live.command(REP, "magnet off")["text"]
    live.mail("jane@acme.example", "While off")
    live.update_mailbox(quiet_start_minute=None, quiet_end_minute=None)
    assert "*on*" in live.command(REP, "magnet on")["text"]  # and the first sync it started is done
    live.mail("jane@acme.example", "After on")
    live.run("sync")
    dm = live.slack.dm_channel(TEAM, REP)
    texts = [json.dumps(a.get("blocks")) for a in alerts_in(live, dm)]
    assert len(texts) == 1 and "After on" in texts[0]


def test_an_alert_to_the_dm_goes_out_without_first_asking_slack_for_the_dm(live):
    # A post to the rep's user id lands in their DM with the bot: a round trip saved on each rep's first alert.
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    gmail_id = live.mail("jane@acme.example", "Renewal question")
    live.run("sync")
    alerts = alerts_in(live, live.slack.dm_channel(TEAM, REP))
    assert [a["metadata"]["event_payload"]["gmail_id"] for a in alerts] == [gmail_id]
    assert live.slack.calls_to("conversations.open") == []


def test_a_digest_open_click_is_answered_under_one_action_name(live):
    """Each digest line has an "Open" link button; Slack still sends the click, which must be acked (else the
    rep sees a warning), and clicks on different emails count under one name, not one metric series each."""
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(digest_enabled=True, last_digest_at=None)
    first = live.mail("jane@acme.example", "Digest one")
    second = live.mail("bob@globex.example", "Digest two")
    live.run("sync")
    dm = live.slack.dm_channel(TEAM, REP)
    digest = next(m for m in live.slack.messages(dm)
                  if (m.get("metadata") or {}).get("event_type") == "mailmagnet_digest")
    opens = [b["accessory"] for b in digest["blocks"] if (b.get("accessory") or {}).get("text", {}).get("text") == "Open"]
    assert len(opens) == 2 and all(button.get("url") for button in opens)
    series = 'mailmagnet_slack_requests_total{kind="action",name="alert_open_gmail"}'
    before = metrics(live.server.url).get(series, 0.0)  # the registry is per process: compare before and after
    for button in opens:
        response = live.driver.block_action(REP, button["action_id"], channel_id=dm, message=digest,
                                            action={**button, "block_id": "b", "action_ts": "1.0"})
        assert response.status == 200, response.body
    # A digest posted by an earlier version named the button after the email: still acked, counted the same.
    legacy = {**opens[0], "action_id": f"alert_open_gmail_{first}", "block_id": "b", "action_ts": "1.0"}
    response = live.driver.block_action(REP, legacy["action_id"], channel_id=dm, message=digest, action=legacy)
    assert response.status == 200, response.body
    counted = live.scrape()
    assert first not in counted and second not in counted
    assert metrics(live.server.url)[series] == before + 3

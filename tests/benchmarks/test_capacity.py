"""The capacity benchmark's own pieces: recovery after overload is read from the windows honestly, its emulators
answer from their own process, and the profile names SQL statements by what they do."""
from __future__ import annotations

import os

from slack_sdk import WebClient

from benchmarks._serve_instrumented import statement_kind
from benchmarks.capacity import recovered_after, window_p99s
from benchmarks.emulator_process import EmulatorError, EmulatorProcess


def test_recovery_counts_from_the_first_window_after_which_every_window_is_on_target():
    # One message a second, 1 s late at first, 3 s late between 20 s and 25 s (a backlog draining), then on time.
    sent = {f"m{i}": 1000.0 + i for i in range(60)}
    late = {f"m{i}": (3000.0 if 20 <= i < 25 else 1000.0 if i < 20 else 400.0) for i in range(60)}

    windows = window_p99s(sent, late, 1000.0, 1060.0, width=10)

    assert windows[0] == (0.0, 1000.0) and len(windows) == 51
    assert recovered_after(windows, 1500) == 25.0  # not 0: the windows over 20-25 s were late again


def test_an_alert_that_never_came_keeps_the_run_from_recovering():
    sent = {f"m{i}": 1000.0 + i for i in range(30)}
    late = {f"m{i}": 200.0 for i in range(30)}
    late["m28"] = float("inf")

    assert recovered_after(window_p99s(sent, late, 1000.0, 1030.0, width=10), 1500) is None


def test_the_profile_names_statements_by_verb_table_and_first_column():
    claim = ('WITH picked AS (SELECT gmail_accounts.id FROM gmail_accounts WHERE x LIMIT 1) '
             'UPDATE gmail_accounts SET lease_owner=?, lease_expires_at=? FROM picked RETURNING id')
    assert statement_kind(claim) == "UPDATE gmail_accounts SET lease_owner"
    assert statement_kind(claim.replace("LIMIT 1)", "LIMIT 1 FOR UPDATE SKIP LOCKED)")) == \
        "UPDATE gmail_accounts SET lease_owner"
    assert statement_kind('UPDATE alerts SET status=?, slack_ts=? WHERE alerts.id = ?') == "UPDATE alerts SET status"
    assert statement_kind('INSERT INTO mailbox_messages (account_id) VALUES (?)') == "INSERT mailbox_messages"
    assert statement_kind('SELECT alerts.id FROM alerts WHERE alerts.account_id = ?') == "SELECT alerts"


def test_an_emulator_in_its_own_process_answers_the_benchmark_and_records_what_it_was_sent():
    gmail, slack = EmulatorProcess("gmail").start(), EmulatorProcess("slack").start()
    try:
        assert gmail.pid != os.getpid() and slack.pid != os.getpid()
        gmail.add_user("rep@gmail.example")
        gmail_id, landed = gmail.helper("insert_contact_mail", "rep@gmail.example", "Hello")
        assert gmail_id in gmail.user_messages("rep@gmail.example") and landed > 0
        try:
            gmail.user_messages("nobody@gmail.example")
        except EmulatorError as error:
            assert "nobody@gmail.example" in str(error)
        else:
            raise AssertionError("an error in the emulator's process must reach the caller")

        team = slack.default_team()
        client = WebClient(token=team.bot_token, base_url=slack.attribute("api_url"))
        slack.add_user(team.id, "U0REP", email="rep@crm.example")
        client.chat_postMessage(channel="U0REP", text="New email",
                                metadata={"event_type": "mailmagnet_alert",
                                          "event_payload": {"account_id": 1, "gmail_id": gmail_id}})
        posts = slack.helper("new_alert_posts")
        assert [(g, ok) for g, _, ok, _ in posts] == [(gmail_id, True)]
        assert slack.helper("new_alert_posts") == []  # each post is handed over once
    finally:
        gmail.stop()
        slack.stop()

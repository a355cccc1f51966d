"""What a rep types in MailMagnet's Messages tab (the DM where alerts arrive) is answered, never met with silence."""
from __future__ import annotations

from tests.support.slack import shown_text
from testsupport.stack import REP, TEAM


def bot_answers(stack) -> list[dict]:
    bot = stack.slack.team(TEAM).bot_user_id
    return [m for m in stack.slack.dms(REP) if m.get("user") == bot or m.get("bot_id")]


def test_help_typed_in_the_dm_is_answered_with_the_commands(stack, rep):
    before = len(bot_answers(stack))
    response = stack.driver.message_im(REP, "help")
    assert response.status == 200, response.body
    answer = stack.slack.wait_for(lambda: bot_answers(stack)[before:], timeout=10)[0]
    shown = shown_text(answer)
    for expected in ("/gmail connect", "/gmail status", "/gmail help", "/contact"):
        assert expected in shown, expected


def test_other_words_in_the_dm_get_a_pointer_to_help_and_the_bot_never_answers_itself(stack, rep):
    before = len(bot_answers(stack))
    stack.driver.message_im(REP, "hello? <!channel> is anyone there")
    first = stack.slack.wait_for(lambda: bot_answers(stack)[before:], timeout=10)[0]
    assert "help" in shown_text(first) and "<!channel>" not in shown_text(first)
    # Slack sends the bot's own DM posts (and edits, joins…) to the app as message.im events too.
    team = stack.slack.team(TEAM)
    dm = stack.slack.dm_channel(TEAM, REP)
    for echo in ({"user": team.bot_user_id, "bot_id": team.bot_id, "text": first["text"]},
                 {"user": REP, "subtype": "message_changed", "text": "help"},
                 {"user": REP, "subtype": "message_deleted"}):
        response = stack.driver.event({"type": "message", "channel": dm, "channel_type": "im", "ts": "1.000001",
                                       "event_ts": "1.000001", **echo})
        assert response.status == 200
    stack.driver.message_im(REP, "Help")
    stack.slack.wait_for(lambda: len(bot_answers(stack)[before:]) >= 2, timeout=10)
    assert "/gmail connect" in shown_text(bot_answers(stack)[-1])
    assert len(bot_answers(stack)[before:]) == 2


def test_a_retried_dm_event_is_answered_once(stack, rep):
    before = len(bot_answers(stack))
    first = stack.driver.message_im(REP, "help")
    stack.slack.wait_for(lambda: bot_answers(stack)[before:], timeout=10)
    retry = stack.driver.event(first.payload["event"], event_id=first.payload["event_id"], retry_num=1,
                               retry_reason="http_timeout")
    assert retry.status == 200
    stack.driver.message_im(REP, "thanks")
    stack.slack.wait_for(lambda: len(bot_answers(stack)[before:]) >= 2, timeout=10)
    assert len(bot_answers(stack)[before:]) == 2

"""Slack Web API errors on /metrics: every error answer counted by method and kind, retries included."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from slack_sdk.errors import SlackApiError

from bot.slack_clients import make_client


def slack_errors(method: str, kind: str) -> float:
    return REGISTRY.get_sample_value("mailmagnet_slack_api_errors_total", {"method": method, "kind": kind}) or 0.0


def test_error_answers_are_counted_by_kind_and_a_rate_limit_is_still_retried(stack):
    team = stack.slack.default_team()
    client = make_client(stack.settings, team.bot_token)
    channel = stack.slack.dm_channel(team.id, stack.add_rep())
    not_found, limited = (slack_errors("chat.postMessage", kind) for kind in ("channel_not_found", "ratelimited"))

    stack.slack.inject_error("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=channel, text="lost")
    stack.slack.inject_rate_limit("chat.postMessage", retry_after=1)
    assert client.chat_postMessage(channel=channel, text="after the wait")["ok"]

    assert slack_errors("chat.postMessage", "channel_not_found") - not_found == 1
    assert slack_errors("chat.postMessage", "ratelimited") - limited == 1

"""tokens_revoked and app_uninstalled: the installation is forgotten in multi-workspace mode; never an error."""
from __future__ import annotations

import logging

import pytest
from slack_sdk.oauth.installation_store import Installation

from testsupport.stack import REP, TEAM, start_stack


@pytest.fixture
def multi(database_url):
    """The stack as a multi-workspace install (Slack OAuth v2 client credentials set)."""
    running = start_stack(database_url, slack_client_id="1111.2222", slack_client_secret="oauth-secret",
                          slack_allowed_team_ids=TEAM,
                          slack_bot_token=None)
    yield running
    running.stop()


def test_single_workspace_mode_acknowledges_and_logs(stack, caplog):
    caplog.set_level(logging.INFO)
    bot_token = stack.slack.team(TEAM).bot_token
    assert stack.driver.tokens_revoked(bot=["U0BOT"]).status == 200
    assert stack.driver.app_uninstalled().status == 200
    stack.slack.wait_for(lambda: "uninstalled" in caplog.text)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert stack.services.slack.bot_token(TEAM) == bot_token  # the configured token is not ours to forget


def test_multi_workspace_uninstall_deletes_the_installation(multi, caplog):
    team = multi.slack.team(TEAM)
    store = multi.services.slack.installation_store
    store.save(Installation(app_id=multi.slack.app_id, team_id=TEAM, bot_token=team.bot_token, bot_id=team.bot_id,
                            bot_user_id=team.bot_user_id, bot_scopes="commands,chat:write", user_id="U900ADM"))
    multi.add_rep()
    # The installation serves requests: the App Home is published with its token.
    assert multi.driver.app_home_opened(REP).status == 200
    multi.slack.wait_for(lambda: multi.slack.views_published.get(REP))

    multi.slack.uninstall(TEAM)  # Slack sends tokens_revoked, then app_uninstalled
    multi.slack.wait_for(lambda: len(multi.driver.deliveries) >= 2)
    assert [d.status for d in multi.driver.deliveries] == [200, 200]
    multi.slack.wait_for(lambda: store.find_bot(enterprise_id=None, team_id=TEAM) is None)
    multi.slack.wait_for(lambda: store.find_installation(enterprise_id=None, team_id=TEAM) is None)
    assert multi.services.slack.for_team(TEAM) is None  # jobs stop posting there
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

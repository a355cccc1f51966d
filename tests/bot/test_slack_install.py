"""Multi-workspace install (Slack OAuth v2) through the real server: /slack/install → Slack's consent →
/slack/oauth_redirect → the installation is stored and serves the workspace's requests."""
from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

import pytest

from testsupport.stack import REP, TEAM, start_stack

CLIENT_ID, CLIENT_SECRET = "1111.2222", "oauth-secret"


@pytest.fixture
def multi(database_url):
    running = start_stack(database_url, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET,
                          slack_allowed_team_ids=TEAM, slack_bot_token=None)
    running.slack.register_oauth_app(CLIENT_ID, CLIENT_SECRET)
    yield running
    running.stop()


def get(url: str, cookie: str | None = None) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def test_install_stores_the_installation_and_it_serves_requests(multi):
    multi.slack.default_team()
    multi.add_rep(slack_admin=True)
    multi.slack.install_as(TEAM, REP)
    status, headers, page = get(f"{multi.server.url}/slack/install")
    assert status == 200
    authorize = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page).group(1).replace("&amp;", "&")
    assert authorize.startswith(multi.slack.url) and f"client_id={CLIENT_ID}" in authorize
    # Bolt binds the state to the browser with a cookie; the browser sends it back to the redirect.
    cookie = headers["set-cookie"].split(";", 1)[0]
    status, headers, _ = get(authorize)
    assert status in (302, 303) and "/slack/oauth_redirect" in headers["location"]
    status, _, page = get(headers["location"], cookie)
    assert status == 200, page
    bot = multi.services.slack.installation_store.find_bot(enterprise_id=None, team_id=TEAM)
    assert bot is not None and bot.bot_token.startswith("xoxb-")
    # The new token answers the workspace's commands.
    response = multi.driver.slash_command(REP, "/gmail", "help")
    assert response.status == 200
    multi.slack.wait_for(lambda: multi.slack.response_url_posts(response.response_url))
    assert multi.services.slack.bot_token(TEAM) == bot.bot_token


def test_forged_install_state_is_refused(multi):
    multi.slack.default_team()
    multi.add_rep(slack_admin=True)
    multi.slack.install_as(TEAM, REP)
    status, headers, page = get(f"{multi.server.url}/slack/install")
    authorize = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page).group(1).replace("&amp;", "&")
    status, headers, _ = get(authorize)
    status, _, _ = get(headers["location"])  # no cookie: the state is not this browser's
    assert status in (400, 401, 403)
    assert multi.services.slack.installation_store.find_bot(enterprise_id=None, team_id=TEAM) is None

"""F1 end to end: /gmail connect → Authenticate button → Google consent → callback → DM."""
from testsupport.stack import REP, REP_GMAIL, authorize_url_in, query_of


def test_connect_flow_end_to_end(stack):
    stack.add_rep()
    response = stack.driver.slash_command(REP, "/gmail", "connect")
    assert response.status == 200
    post = stack.slack.wait_for(lambda: stack.slack.response_url_posts())[-1]
    url = authorize_url_in(post)
    params = query_of(url)
    assert params["access_type"] == "offline" and params["code_challenge_method"] == "S256"
    assert params["redirect_uri"].endswith("/gmail/oauth/callback")
    status, body = stack.follow_consent(url)
    assert status == 200 and REP_GMAIL in body
    dm = stack.slack.wait_for(lambda: stack.slack.dms(REP))
    assert f"Connected as {REP_GMAIL}" in dm[-1]["text"]

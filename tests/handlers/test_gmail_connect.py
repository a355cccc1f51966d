"""F1 end to end: /gmail connect → Authenticate button → Google consent → callback → DM."""
from html.parser import HTMLParser

from testsupport.stack import REP, REP_GMAIL, TEAM, authorize_url_in, query_of


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


class _Page(HTMLParser):
    """The meta tags and links of a page, as a browser reads them."""

    def __init__(self, body: str):
        super().__init__()
        self.metas: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self._href: str | None = None
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and attrs.get("name"):
            self.metas[attrs["name"]] = attrs.get("content") or ""
        if tag == "a":
            self._href = attrs.get("href")

    def handle_data(self, data):
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href

    def handle_endtag(self, tag):
        if tag == "a":
            self._href = None


def test_the_consent_pages_fit_a_phone_and_lead_back_to_slack(stack):
    """Reps tap Authenticate on their phones: the page Google sends them back to is readable there and has a
    way back to the Slack workspace they came from (slack:// opens the app)."""
    stack.add_rep()
    response = stack.driver.slash_command(REP, "/gmail", "connect")
    post = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url))[-1]
    status, body = stack.follow_consent(authorize_url_in(post))
    assert status == 200
    page = _Page(body)
    assert "width=device-width" in page.metas.get("viewport", "")
    assert page.links.get("Back to Slack") == f"slack://open?team={TEAM}"
    assert page.links.get("Open Slack in the browser") == f"https://app.slack.com/client/{TEAM}"

    # A link used twice: the refusal page too.
    status, body = stack.follow_consent(authorize_url_in(post))
    assert status == 403
    page = _Page(body)
    assert "width=device-width" in page.metas.get("viewport", "")
    assert page.links.get("Back to Slack", "").startswith("slack://open")

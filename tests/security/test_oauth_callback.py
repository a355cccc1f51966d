"""GET /gmail/oauth/callback is on the internet: a stranger calls it with a state MailMagnet never issued, and
replays a rep's genuine callback URL (from a browser history or a proxy log) after the rep used it. Each gets a
refusal page; no mailbox is connected, re-bound or revoked, and nobody is told "Connected". Over real HTTP, with
the Google OAuth emulator."""
from __future__ import annotations

from urllib.parse import urlencode

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import AccountStatus, GmailAccount
from testsupport.consent import consent_redirect
from testsupport.stack import GOOGLE_CLIENT_ID, REP, REP_GMAIL, authorize_url_in, http_get


def mailboxes(stack) -> list[tuple[str, str, str]]:
    with session_scope(stack.engine) as session:
        return [(a.email_address, a.slack_user_id, a.status) for a in session.exec(select(GmailAccount)).all()]


def test_a_state_mailmagnet_never_issued_is_refused(stack):
    stack.add_rep()
    not_ours, no_state = "This sign-in link is not one MailMagnet issued.", "The sign-in response has no state."
    for query, refusal in (({"state": "forged-state", "code": "stolen-code"}, not_ours), ({"code": "x"}, no_state),
                           ({"state": "", "code": ""}, no_state), ({"state": "x" * 5000, "code": "y"}, not_ours),
                           ({"error": "access_denied", "state": "forged-state"}, not_ours)):
        status, _, page = http_get(f"{stack.server.url}/gmail/oauth/callback?{urlencode(query)}")
        assert status == 403 and refusal in page, (query, status, page)
    assert mailboxes(stack) == [] and stack.slack.dms(REP) == []


def test_a_replayed_callback_changes_nothing(stack):
    stack.add_rep()
    response = stack.driver.slash_command(REP, "/gmail", "connect")
    post = stack.slack.wait_for(lambda: next((p for p in stack.slack.response_url_posts(response.response_url)
                                              if p.get("blocks")), None))
    callback = consent_redirect(stack.gmail, authorize_url_in(post), REP_GMAIL)  # what the rep's browser opens
    status, _, _ = http_get(callback)
    assert status == 200
    connected = mailboxes(stack)
    assert connected == [(REP_GMAIL, REP, AccountStatus.CONNECTED.value)]
    dms = len(stack.slack.dms(REP))

    status, _, page = http_get(callback)  # the same URL again
    assert status == 403 and "already used" in page
    assert mailboxes(stack) == connected  # not re-bound, not revoked
    assert stack.gmail.granted_scopes(REP_GMAIL, GOOGLE_CLIENT_ID) is not None  # the rep's grant still stands
    assert len(stack.slack.dms(REP)) == dms  # no second "Connected as"

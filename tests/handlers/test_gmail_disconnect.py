"""F8: /gmail disconnect asks first; Confirm revokes at Google and deletes credentials and stored email metadata."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import GmailAccount, MailboxMessage
from handlers.blocks.ids import ActionId
from tests.support.slack import account_of, ask, shown_text
from testsupport.stack import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    REP,
    REP_GMAIL,
    authorize_url_in,
)


def refresh_works(stack, refresh_token: str) -> bool:
    """Ask the Google emulator for a new access token, as google-auth would."""
    body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token,
                                   "client_id": GOOGLE_CLIENT_ID, "client_secret": GOOGLE_CLIENT_SECRET}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(stack.gmail.token_uri, data=body), timeout=5) as answer:
            return "access_token" in json.loads(answer.read())
    except urllib.error.HTTPError:
        return False


def stored_metadata(stack, account_id: int, count: int = 3) -> None:
    """What the sync pipeline keeps of messages: id, From address, received time."""
    with session_scope(stack.engine) as session:
        for n in range(count):
            session.add(MailboxMessage(account_id=account_id, gmail_id=f"m{n}", from_address=f"c{n}@acme.example",
                                       received_at=datetime.now(timezone.utc)))


def confirmation(stack) -> dict:
    post = ask(stack, "disconnect")
    assert f"Disconnect {REP_GMAIL}?" in shown_text(post)
    return stack.slack.ephemerals(REP)[-1]


def test_confirm_revokes_at_google_and_deletes_everything(stack, connected, jobs):
    account = account_of(stack)
    refresh_token = stack.services.cipher.decrypt(account.encrypted_credentials)["refresh_token"]
    assert refresh_works(stack, refresh_token)
    stored_metadata(stack, account.id)

    message = confirmation(stack)
    assert account_of(stack) is not None  # asking changes nothing
    response = stack.driver.block_action(REP, ActionId.DISCONNECT_CONFIRM.value, message=message)
    assert response.status == 200
    replaced = stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(REP) if "Disconnected" in e["text"]])
    assert len(replaced) == 1 and REP_GMAIL in replaced[0]["text"]
    assert "Disconnect?" not in str(stack.slack.ephemerals(REP)[-1])  # the confirmation was replaced

    assert not refresh_works(stack, refresh_token)  # the grant is gone at Google
    with session_scope(stack.engine) as session:
        assert session.exec(select(GmailAccount)).all() == []
        assert session.exec(select(MailboxMessage)).all() == []
    assert "no Gmail connected" in shown_text(ask(stack, "status"))


def test_cancel_keeps_the_mailbox(stack, connected):
    message = confirmation(stack)
    stack.driver.block_action(REP, ActionId.DISCONNECT_CANCEL.value, message=message)
    stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(REP) if "cancelled" in e["text"]])
    assert account_of(stack) is not None


def test_double_click_on_confirm_disconnects_once(stack, connected, jobs):
    message = confirmation(stack)
    responses = []
    clicks = [threading.Thread(target=lambda: responses.append(
        stack.driver.block_action(REP, ActionId.DISCONNECT_CONFIRM.value, message=message))) for _ in range(2)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    assert [r.status for r in responses] == [200, 200]
    stack.slack.wait_for(lambda: [e for e in stack.slack.ephemerals(REP) if "Disconnected" in e["text"]])
    result_posts = [p for r in responses for p in stack.slack.response_url_posts(r.response_url)]
    assert len(result_posts) == 1


def test_a_stale_confirmation_after_reconnecting_does_not_disconnect_the_new_mailbox(stack, connected):
    message = confirmation(stack)
    stack.driver.block_action(REP, ActionId.DISCONNECT_CONFIRM.value, message=message)
    stack.slack.wait_for(lambda: account_of(stack) is None)
    status, _ = stack.follow_consent(authorize_url_in(ask(stack, "connect")))
    assert status == 200
    # Another click on the old confirmation (its account id no longer exists).
    response = stack.driver.block_action(REP, ActionId.DISCONNECT_CONFIRM.value, message=message,
                                         value=message["blocks"][1]["elements"][0]["value"] + "x")
    post = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url))[-1]
    assert "nothing to disconnect" in post["text"]
    assert account_of(stack) is not None

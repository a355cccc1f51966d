"""A hostile or broken upstream (a Gmail-compatible server, or Gmail answering strangely): message and thread ids
are opaque strings from upstream. They go into `#all/{thread}` links (alerts, follow-ups, the contact view, the
"Sent your reply" DM's mrkdwn `<url|Open in Gmail>`) and into the store's 64-character gmail_id columns, so only
a Gmail id — at most 64 printable ASCII characters without spaces — is taken, and it is percent-quoted whole."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from gmail.links import gmail_url
from gmail.messages import NewMessage, from_gmail_metadata, is_gmail_id
from handlers.blocks.compose import sent_message
from usecases.compose import SentEmail

REP = "rep@gmail.example"
GENUINE = "18c2f0a9d3b4e5f6"
# Each would end the URL or the mrkdwn link, open another one, or add a mention if put in unquoted.
HOSTILE = ["abc|Click here> <!channel> <https://evil.example", "a#b?authuser=boss@corp.example", "x/../../y",
           "id%0A<!here>", "a>b", "1 2"]


def _metadata(gmail_id, thread_id=GENUINE) -> dict:
    return {"id": gmail_id, "threadId": thread_id, "labelIds": ["INBOX"], "snippet": "hi",
            "internalDate": "1700000000000",
            "payload": {"headers": [{"name": "From", "value": "Jane <jane@acme.example>"}]}}


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_thread_id_never_ends_the_link_in_the_sent_reply_dm(hostile):
    url = gmail_url(REP, None, hostile)
    _, blocks = sent_message(SentEmail("jane@acme.example", "Re: Quote", url, reply=True))
    line = blocks[0]["text"]["text"]

    # One link, to Gmail, whose text is "Open in Gmail"; nothing of the id outside it.
    assert line.count("<") == 1 and line.count(">") == 1 and line.endswith("|Open in Gmail>")
    assert "<!" not in line and "evil.example>" not in line
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.query) == ("https", "mail.google.com", "/mail/",
                                                                    "authuser=rep@gmail.example")
    if is_gmail_id(hostile):
        assert parts.fragment == "all/" + parts.fragment[4:] and unquote(parts.fragment[4:]) == hostile
        assert not set(parts.fragment[4:]) & set("|<>#/ ?")
    else:
        assert parts.fragment == ""  # not an id: the link opens the mailbox


def test_a_genuine_id_opens_the_thread_and_a_malformed_thread_id_falls_back_to_the_message():
    assert gmail_url(REP, None, GENUINE) == f"https://mail.google.com/mail/?authuser=rep@gmail.example#all/{GENUINE}"
    message = NewMessage(gmail_id=GENUINE, thread_id="t" * 65, from_header="", from_addresses=[], received_at=None,
                         label_ids=[], subject="", snippet="", to="", cc="", message_id_header="")
    assert gmail_url(REP, message, GENUINE).endswith(f"#all/{GENUINE}")


@pytest.mark.parametrize("bad", ["x" * 65, "a b", "a\nb", "ümlaut", ""])
def test_message_ids_from_upstream_over_64_characters_or_not_printable_ascii_are_refused(bad):
    with pytest.raises(ValueError):
        from_gmail_metadata(_metadata(bad))  # the sync skips it as unreadable and moves its cursor on
    assert from_gmail_metadata(_metadata(GENUINE, thread_id=bad)).thread_id is None
    assert from_gmail_metadata(_metadata("x" * 64)).gmail_id == "x" * 64

"""Gmail search (``q``) as the emulator answers it, through messages.list."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sandbox.gmail_emulator import GmailEmulator
from sandbox.gmail_emulator.testing import authorize, gmail_service

CLIENT_ID = "search.apps.googleusercontent.com"
CLIENT_SECRET = "secret"
REP = "rep@example.com"
NOW = datetime.now(timezone.utc)
# A 15 January at least six weeks back: Pacific time is then PST (UTC-8),
# so midnight there is 08:00 UTC.
YEAR = NOW.year - (1 if NOW.month < 3 else 0)
PACIFIC_MIDNIGHT = datetime(YEAR, 1, 15, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def mailbox():
    """(gmail client, {short name: gmail id}) over one small, varied mailbox."""
    with GmailEmulator() as emu:
        emu.register_client(CLIENT_ID, CLIENT_SECRET)
        emu.add_user(REP)
        ids = {
            "ann_quote": emu.insert_message(
                REP, sender="Ann Lee <ann@acme.test>", to=REP, subject="Quote for Q3",
                body="Can you send the updated quote?", date=NOW - timedelta(days=1),
            ),
            "bob_invoice": emu.insert_message(
                REP, sender="bob@beta.test", to=REP, cc="ann@acme.test", subject="Invoice 42",
                body="Invoice attached for the renewal.", date=NOW - timedelta(days=5),
                label_ids=["INBOX"],
            ),
            "old_acme": emu.insert_message(
                REP, sender="carol@acme.test", to=REP, subject="Kick-off", body="Welcome aboard",
                date=PACIFIC_MIDNIGHT - timedelta(minutes=1), label_ids=["Customers"],
            ),
            "on_day": emu.insert_message(
                REP, sender="dave@sub.acme.test", to="sales@example.com", subject="Renewal",
                body="renewal next week", date=PACIFIC_MIDNIGHT + timedelta(minutes=1),
                label_ids=["INBOX", "Open Deals"],
            ),
            "sent": emu.insert_message(
                REP, sender=REP, to="ann@acme.test", subject="Re: Quote for Q3", body="Here is the quote",
                date=NOW - timedelta(hours=2), label_ids=["SENT"],
            ),
            "spam": emu.insert_message(
                REP, sender="winner@lottery.test", to=REP, subject="You won the quote lottery",
                body="claim now", date=NOW, label_ids=["SPAM"],
            ),
            "joann": emu.insert_message(
                REP, sender="joann@acme.test", to=REP, subject="Lunch", body="lunch?",
                date=NOW - timedelta(days=40), label_ids=["INBOX", "STARRED"],
            ),
        }
        gmail = gmail_service(emu, authorize(emu, CLIENT_ID, CLIENT_SECRET))
        yield gmail, ids


def search(mailbox, q: str, **params) -> set[str]:
    gmail, ids = mailbox
    names = {gmail_id: name for name, gmail_id in ids.items()}
    page = gmail.users().messages().list(userId="me", q=q, **params).execute()
    return {names[m["id"]] for m in page.get("messages", [])}


@pytest.mark.parametrize(
    "q, expected",
    [
        ("from:ann@acme.test", {"ann_quote"}),
        ("from:ANN@ACME.TEST", {"ann_quote"}),
        ("from:ann", {"ann_quote"}),  # a name/local-part word, not a substring of joann
        ("from:acme.test", {"ann_quote", "old_acme", "on_day", "joann"}),  # subdomains too
        ("from:@acme.test", {"ann_quote", "old_acme", "joann"}),
        ("from:(ann@acme.test OR bob@beta.test)", {"ann_quote", "bob_invoice"}),
        ("from:{ann@acme.test bob@beta.test}", {"ann_quote", "bob_invoice"}),
        ("to:sales@example.com", {"on_day"}),
        ("cc:ann@acme.test", {"bob_invoice"}),
        ("to:ann@acme.test OR cc:ann@acme.test", {"sent", "bob_invoice"}),
        ("in:inbox", {"ann_quote", "bob_invoice", "on_day", "joann"}),
        ("in:sent", {"sent"}),
        ("in:inbox from:acme.test", {"ann_quote", "on_day", "joann"}),
        ("label:customers", {"old_acme"}),
        ("label:open-deals", {"on_day"}),
        ('label:"Open Deals"', {"on_day"}),
        ("is:unread", {"ann_quote"}),
        ("is:starred", {"joann"}),
        ("quote", {"ann_quote", "sent"}),  # subject and body words; spam stays hidden
        ('"updated quote"', {"ann_quote"}),
        ("subject:invoice", {"bob_invoice"}),
        ("quote -in:sent", {"ann_quote"}),
        ("-from:acme.test in:inbox", {"bob_invoice"}),
        ("(quote OR invoice) in:inbox", {"ann_quote", "bob_invoice"}),
        ("in:inbox {renewal lunch}", {"bob_invoice", "on_day", "joann"}),
        ("newer_than:7d", {"ann_quote", "bob_invoice", "sent"}),
        ("older_than:30d", {"old_acme", "on_day", "joann"}),
        (f"after:{YEAR}/01/15 before:{YEAR}/01/16", {"on_day"}),
        (f"before:{YEAR}/1/15", {"old_acme"}),
        (f"after:{int(PACIFIC_MIDNIGHT.timestamp())} before:{YEAR}-01-16", {"on_day"}),
        ("in:spam", {"spam"}),
        ("lottery in:anywhere", {"spam"}),
        ("rfc822msgid:<nothing@nowhere>", set()),
        ("label:no-such-label", set()),
    ],
)
def test_query_operators(mailbox, q, expected):
    assert search(mailbox, q) == expected


def test_q_combines_with_label_ids_and_include_spam_trash(mailbox):
    assert search(mailbox, "quote", labelIds=["INBOX"]) == {"ann_quote"}
    assert search(mailbox, "quote", includeSpamTrash=True) == {"ann_quote", "sent", "spam"}

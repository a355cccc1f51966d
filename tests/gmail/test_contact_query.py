"""The Gmail query a contact view sends (SPEC §5, THREATS "Queries from validated values only"), against an
oracle: whatever addresses a contact holds — operators, `OR`/`AND`, a leading `-`, quotes, brackets, braces,
`label:`, `in:anywhere`, unicode, very long ones — the messages the built query matches in a fixed mailbox of
private mail, run through the Gmail emulator's own search engine, are among those whose From, To or Cc hold one
of the contact's valid addresses. No address may widen the match, nor reach spam and trash."""
from __future__ import annotations

import string
from datetime import datetime, timezone

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crm_store.addresses import is_valid_address
from gmail.conversations import contact_query, searchable
from sandbox.gmail_emulator.mailbox import Mailbox, Message
from sandbox.gmail_emulator.search import compile_query

OWNER = "rep@gmail.example"
JANE = "jane@acme.example"
# (From, To, Cc, subject, body, labels): a rep's mailbox, nearly all of it nothing to do with any contact.
MAIL = [
    (f"Jane Doe <{JANE}>", OWNER, "", "Renewal", "pricing next week", ["INBOX"]),
    ("HR Department <hr@people-ops.example>", OWNER, "", "Disciplinary hearing", "confidential", ["INBOX"]),
    ("My Bank <alerts@bank.example>", OWNER, "", "Statement", "balance", ["INBOX", "UNREAD"]),
    ("Clinic <results@clinic.example>", f"Rep <{OWNER}>", "", "Test results", "x@acme.example", ["INBOX"]),
    (OWNER, "Friend <friend@home.example>", "", "Weekend", "label:inbox OR anything", ["SENT"]),
    ("Manager <manager@crm.example>", OWNER, "ceo@crm.example", "Board notes", "in:anywhere", ["INBOX"]),
    ("winner@lottery.example", OWNER, "", "You won", "claim", ["SPAM"]),
    ("old@archive.example", OWNER, "", "Deleted thread", "gone", ["TRASH"]),
    ("Anna <anna+news@acme.example>", OWNER, "", "Newsletter", "-x OR jane", ["INBOX", "CATEGORY_PROMOTIONS"]),
    ("\"Doe, Jane\" <jane.doe@acme-holdings.example>", OWNER, "", "Other address", "hi", ["INBOX"]),
]


def _mailbox() -> Mailbox:
    mailbox = Mailbox(OWNER, history_start=1)
    for n, (sender, to, cc, subject, body, labels) in enumerate(MAIL):
        headers = [("From", sender), ("To", to)] + ([("Cc", cc)] if cc else []) + [("Subject", subject)]
        when = int(datetime(2026, 1, 1 + n, tzinfo=timezone.utc).timestamp() * 1000)
        mailbox.add_message(Message(f"m{n:02d}", body.encode(), headers, body, body[:100], when), labels)
    return mailbox


MAILBOX = _mailbox()


def matched(query: str) -> set[str]:
    compiled = compile_query(query, MAILBOX)
    assert not compiled.reaches_spam_trash  # `in:anywhere`, `in:spam`, `label:trash`… never get in
    return {m.id for m in MAILBOX.messages.values()
            if compiled.predicate(m) and not {"SPAM", "TRASH"} & set(m.label_ids)}


def holding(addresses: list[str]) -> set[str]:
    """The oracle: messages whose From, To or Cc contain one of the valid addresses."""
    valid = {a.strip().lower() for a in addresses if is_valid_address(a.strip().lower())}
    return {m.id for m in MAILBOX.messages.values()
            if any(a in " ".join((m.header("from"), m.header("to"), m.header("cc"))).lower() for a in valid)}


# -- generated addresses -----------------------------------------------------------------------------------------

HOSTILE = st.sampled_from([
    "-", "--", "OR", " OR ", "AND", " AND ", "|", " | ", '"', "'", "(", ")", "{", "}", "[", "]", "<", ">", ":", ";",
    ",", " ", "\t", "\n", "*", "\\", "label:", "label:inbox", "in:anywhere", "in:spam", "in:trash", "is:unread",
    "from:", "to:", "cc:", "from:me", "has:attachment", "subject:", "rfc822msgid:", "after:2000/01/01",
    "newer_than:99y", "larger:0", "category:promotions", "\u00a0", "\u200b", "\u2011", "\uff02", "\uff08", "\uff1a",
    "\u2014", "é", "ß", "日本", "\U0001F600", "\x00", "\x7f", "\ud800", "@", "@@", ".", "..", "+", "_", "%", "&", "=",
])
WORDS = st.sampled_from(["jane", "x", "hr", "people-ops", "bank", "acme", "example", "me", "anywhere", "inbox",
                         "sent", "anna", "news", "manager", "crm", "OR", "AND", "label", "from", "in", "is"])
PIECE = st.one_of(HOSTILE, WORDS, st.text(max_size=4),
                  st.text(string.ascii_letters + string.digits + ".-+_", max_size=6))
PART = st.lists(PIECE, max_size=6).map("".join)
ADDRESS = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", PART, PART),
    st.builds(lambda before, after: f"{before}{JANE}{after}", PART, PART),  # a real address, wrapped
    st.builds(lambda local, domain: f"{local}@{domain}.example", PART, WORDS),
    st.builds(lambda n, c: c * n + "@acme.example", st.integers(100, 400), st.sampled_from("a-.(\"")),
    st.text(max_size=30),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ADDRESS, min_size=1, max_size=3), st.booleans())
@example(["-x@acme.example"], True)
@example(["x@acme.example OR label:inbox"], True)
@example(["in:anywhere"], False)
@example(['a@b.example") OR ("x'], True)
@example(["{x@acme.example -jane@acme.example}"], False)
@example(["x@acme.example) OR (is:unread"], True)
@example(["hr@people-ops.example -"], True)
def test_no_contact_address_widens_the_query(hostile, with_jane):
    addresses = ([JANE] if with_jane else []) + hostile
    query = contact_query(addresses)
    if query is None:
        return  # nothing searchable: nothing is asked of Gmail at all
    assert matched(query) <= holding(addresses), query


PLAIN_LOCAL = st.text(string.ascii_lowercase + string.digits + "._+-", min_size=1, max_size=20).filter(
    lambda s: s[0] not in "-.")
PLAIN_DOMAIN = st.lists(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10),
                        min_size=2, max_size=4).map(".".join)


@settings(max_examples=500, deadline=None)
@given(PLAIN_LOCAL, PLAIN_DOMAIN)
def test_ordinary_addresses_are_searched_and_found(local, domain):
    """The other side: an ordinary address is kept in the query, and finds mail received from it and sent to it."""
    address = f"{local}@{domain}"
    assert searchable(address)
    mailbox = Mailbox(OWNER, history_start=1)
    mailbox.add_message(Message("r", b"", [("From", f"Someone <{address}>"), ("To", OWNER)], "", "", 1), ["INBOX"])
    mailbox.add_message(Message("s", b"", [("From", OWNER), ("To", f"<{address}>")], "", "", 2), ["SENT"])
    compiled = compile_query(contact_query([address.upper(), "-x@acme.example"]), mailbox)
    assert all(compiled.predicate(m) for m in mailbox.messages.values())


def test_an_address_that_is_not_searchable_stays_out_of_the_query():
    assert contact_query(["-x@acme.example"]) is None
    assert contact_query([JANE, "-x@acme.example", "in:anywhere@x.example"]) == contact_query([JANE])
    for address in ("x@acme.example OR label:inbox", '"x"@acme.example', "x@(acme).example", "x@acme.example}",
                    "x:y@acme.example", "x@-acme.example", ".x@acme.example", "x*@acme.example", "x|y@acme.example"):
        assert not searchable(address), address
    for address in ("jane.doe+crm@acme-holdings.example", "o'brien@acme.example", "jöran@exämple.de"):
        assert searchable(address), address

from types import SimpleNamespace

import pytest

from crm_store.addresses import parse_addresses, primary_sender, sender_addresses


@pytest.mark.parametrize(
    "header, expected",
    [
        ("jane@acme.example", ["jane@acme.example"]),
        ('"Doe, Jane" <Jane.Doe@Acme.EXAMPLE>', ["jane.doe@acme.example"]),
        ("=?UTF-8?B?SsOpcsO0bWU=?= <Jerome@Ex.fr>", ["jerome@ex.fr"]),
        ("=?utf-8?q?Andr=C3=A9?= <andre@ex.com>", ["andre@ex.com"]),
        ('a@b.com, "C D" <c@d.org>', ["a@b.com", "c@d.org"]),
        ("team: a@x.io, b@y.io;", ["a@x.io", "b@y.io"]),
        ("<bare@ex.com>", ["bare@ex.com"]),
        ("Name <name@ex.com> (a comment)", ["name@ex.com"]),
        ("A <dup@ex.com>, B <DUP@ex.com>", ["dup@ex.com"]),
        ("Undisclosed recipients:;", []),
        ("not an address", []),
        ("", []),
    ],
)
def test_sender_addresses(header, expected):
    assert sender_addresses(header) == expected


def test_display_names_are_decoded():
    assert parse_addresses("=?UTF-8?Q?Chlo=C3=A9_Martin?= <chloe@initech.example>") == [
        ("Chloé Martin", "chloe@initech.example")
    ]


def test_folded_header_is_unfolded():
    assert primary_sender('"Jane\r\n Doe" <jane@acme.example>') == "jane@acme.example"
    assert primary_sender("nobody") is None


HOSTILE_HEADERS = {
    "nested-parens-250": "(" * 250,
    "nested-parens-250-text": "(" * 250 + "x",
    "nested-parens-closed": "(" * 1000 + ")" * 1000 + " a@b.example",
    "nested-comments-names": "A (" * 250 + "<a@b.example>",
    "nested-quotes-and-parens": '"(' * 300,
    "angle-brackets": "<" * 5000,
    "one-megabyte": "x" * 1_000_000,
    "one-megabyte-address": "<" + "a" * 1_000_000 + "@b.example>",
    "many-addresses": "a@b.example, " * 100_000,
    "commas": "," * 100_000,
    "ats": "@" * 10_000,
    "dots": "a@" + "." * 10_000 + "x",
    "backslashes": "\\" * 1000,
    "group-colons": ":" * 1000 + ";",
    "nul-in-address": "Eve <e\x00ve@evil.example>",
    "nuls": "\x00" * 1000,
    "controls": "".join(chr(c) for c in range(32)) + "@x.example",
    "invalid-encoded-word": "=?utf-8?q?=ZZ=?= <a@b.example>",
    "unknown-charset": "=?x-bogus?b?!!!?= <a@b.example>",
    "long-encoded-word": "=?utf-8?b?" + "A" * 10_001 + "?= <a@b.example>",
    "encoded-equals": "=?utf-8?q?" + "=" * 5000 + "?=",
    "lone-surrogates": "\ud800 <\udfff@x.example>",
    "surrogate-in-name": "J\udc80ne <jane@acme.example>",
    "not-a-string": b"jane@acme.example",
}


@pytest.mark.parametrize("header", HOSTILE_HEADERS.values(), ids=HOSTILE_HEADERS.keys())
def test_hostile_headers_never_raise_and_yield_only_clean_addresses(header):
    # (The nested ones no longer reach email's parsers, whose recursion to Python's limit made a garbage collection
    # starting down there fail other tests' finalizers: no gc dance around the parse any more.)
    result = parse_addresses(header)
    assert isinstance(result, list)
    for _, address in result:
        assert len(address) <= 320 and address.isprintable()
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in address)
    assert isinstance(sender_addresses(header), list) and primary_sender(header) in (None, *sender_addresses(header))


# Headers that would take Python's `email` parsers deep into recursion (a comment per parenthesis, a group per colon):
# refused before either parser sees them, by a linear scan (THREATS "bounded work").
TOO_DEEP_HEADERS = {
    "nested-parens-thousands": "(" * 4000 + "a@b.example" + ")" * 4000,
    "nested-parens-65": "(" * 65 + ")" * 65 + " a@b.example",
    "nested-parens-unclosed": "Jane " + "(x " * 2500 + "<a@b.example>",
    "escaped-closers": "(\\)" * 2500 + " a@b.example",  # `\)` closes nothing: the parsers nest 2500 deep
    "quoted-between": '"(' * 300,
    "closers-in-quotes": '"))))" ' + "(" * 3000,
    "group-colons": ":" * 1000 + ";",
    "nested-groups": "g:" * 2000 + "a@b.example" + ";" * 2000,
    "escaped-colons": "\\:" * 3000,  # getaddresses takes a backslash outside quotes as a letter
}
NESTED_BUT_FINE = {
    "Jane (work (sales (EMEA))) <jane@acme.example>": ["jane@acme.example"],
    "(" * 64 + ")" * 64 + " a@b.example": ["a@b.example"],
    "team: a@x.io (one (1)), b@y.io;": ["a@x.io", "b@y.io"],
    "A: a@x.io;, B: b@y.io (two (2));": ["a@x.io", "b@y.io"],
    ", ".join(f'"Team: {n}" <{n}@x.example>' for n in range(64)): [f"{n}@x.example" for n in range(64)],
}


@pytest.mark.parametrize("header", TOO_DEEP_HEADERS.values(), ids=TOO_DEEP_HEADERS.keys())
def test_headers_nested_too_deep_are_refused_before_any_parser(header, monkeypatch):
    from crm_store import addresses

    given = []
    monkeypatch.setattr(addresses, "policy", SimpleNamespace(default=SimpleNamespace(header_factory=given.append)))
    monkeypatch.setattr(addresses, "getaddresses", given.append)
    assert parse_addresses(header) == []
    assert given == []  # (parse_addresses swallows what a parser raises: the calls are what tells)


@pytest.mark.parametrize("header, expected", NESTED_BUT_FINE.items(), ids=range(len(NESTED_BUT_FINE)))
def test_headers_with_a_few_nested_comments_or_groups_still_parse(header, expected):
    assert sender_addresses(header) == expected


PLAIN_FROM_HEADERS = ["jane@acme.example", "Jane Doe <Jane.Doe@Acme.EXAMPLE>", "Jane Doe<jane@acme.example>",
                      "<bare@ex.com>", "O'Brien Jr <a.b+c@x-y.co.uk>", "  Mary-Ann  <m_a%b@ex-1.example> "]
NOT_PLAIN_FROM_HEADERS = ['"Doe, Jane" <j@x.com>', "J. Doe <j@x.com>", "José <jose@ex.es>", "a@b.com, c@d.org",
                          "=?utf-8?q?Andr=C3=A9?= <andre@ex.com>", "Name <name@ex.com> (a comment)", "a..b@c.com",
                          "Jane  Doe <jane@acme.example>"]


@pytest.mark.parametrize("header", PLAIN_FROM_HEADERS + NOT_PLAIN_FROM_HEADERS)
def test_a_plain_from_header_skips_the_strict_parser_and_gets_its_answer(header, monkeypatch):
    """The strict parser (email.headerregistry) costs a sync more than any other Python per message: the From
    header of nearly every message is plain and is matched instead, with the strict parser's answer; any other
    still goes through it."""
    from crm_store import addresses

    expected = parse_addresses(header)
    strict_calls = []
    strict = addresses._strict
    monkeypatch.setattr(addresses, "_strict", lambda h: strict_calls.append(h) or strict(h))
    monkeypatch.setattr(addresses, "_plain", lambda h: None)  # the strict path alone
    assert parse_addresses(header) == expected
    monkeypatch.undo()
    monkeypatch.setattr(addresses, "_strict", lambda h: strict_calls.append(h) or strict(h))
    strict_calls.clear()
    assert parse_addresses(header) == expected
    assert bool(strict_calls) == (header in NOT_PLAIN_FROM_HEADERS)

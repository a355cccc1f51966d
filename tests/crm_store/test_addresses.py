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

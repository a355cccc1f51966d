"""The message shortcut's address scan and /contact's query parsing: what they find, on ordinary and on hostile
text (the end-to-end attack is in tests/security/test_bounded_work.py; its CPU in benchmarks/bounded_work.py)."""
from __future__ import annotations

import pytest

from handlers.parsing import ADDRESS_LIMIT, SCAN_LIMIT, addresses_in, contact_query
from handlers.shortcuts.message import message_text


def test_links_first_then_bare_addresses_each_once_in_order():
    text = ("Call <mailto:Jane@Acme.example|Jane@Acme.example> or bob@globex.example. "
            "Also jane@acme.example, <mailto:x@y.example|someone> and (ann.lee+crm@sub.corp.example).")
    assert addresses_in(text) == ["jane@acme.example", "x@y.example", "bob@globex.example",
                                  "ann.lee+crm@sub.corp.example"]


@pytest.mark.parametrize("text", ["no address here", "user@localhost", "@acme.example", "a@", "<mailto:|x>",
                                  "a" * 65 + "@acme.example"])
def test_things_that_are_not_addresses(text):
    assert addresses_in(text) == []


def test_a_link_cut_short_does_not_swallow_the_next_one():
    text = "<mailto:" * 4_900 + " <mailto:jane@acme.example|jane@acme.example>"
    assert addresses_in(text) == ["jane@acme.example"]


def test_at_most_so_many_addresses_from_the_first_scan_limit_characters():
    many = " ".join(f"u{i}@x.example" for i in range(500))
    assert addresses_in(many) == [f"u{i}@x.example" for i in range(ADDRESS_LIMIT)]
    assert addresses_in("x" * SCAN_LIMIT + " late@acme.example") == []


@pytest.mark.parametrize("hostile", ["a" * 40_000, "a." * 20_000, "a@" * 20_000, "x@" + "b" * 39_998,
                                     "x@" + "b." * 19_999, "<mailto:" * 5_000, "<" * 40_000, "a@b" * 13_000])
def test_hostile_text_still_yields_the_address_after_it(hostile):
    assert addresses_in(hostile[:39_000] + " jane@acme.example")[-1] == "jane@acme.example"


def test_message_text_reads_blocks_and_attachments_up_to_the_scan_limit():
    deep: dict = {"type": "rich_text", "text": "deep@acme.example"}
    for _ in range(5_000):  # nesting a recursive walk would not survive
        deep = {"elements": [deep]}
    message = {"text": "top@acme.example", "blocks": [deep],
               "attachments": [{"fallback": "-", "text": "att@x.example"}]}
    assert addresses_in(message_text(message)) == ["top@acme.example", "deep@acme.example", "att@x.example"]
    huge = {"text": "x" * 100_000, "blocks": [{"text": "late@acme.example"}]}
    assert len(message_text(huge)) == SCAN_LIMIT


def test_contact_query_unwraps_slack_links_even_among_stray_angle_brackets():
    assert contact_query("<mailto:jane@acme.example|jane@acme.example>") == "jane@acme.example"
    assert contact_query("<<< <https://x.example|Jane Doe>") == "<<< Jane Doe"
    assert contact_query("&lt;Jane&gt; &amp; co") == "<Jane> & co"

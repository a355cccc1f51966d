"""An email's body as the Open modal shows it: text/plain first, else HTML read as a page (lxml), every step
capped before it runs. The hostile shapes themselves are replayed end to end in tests/security."""
from __future__ import annotations

import base64

import pytest

from gmail.html_text import HTML_LIMIT, html_to_text
from gmail.messages import MAX_PARTS, body_text


def part(mime: str, content: str | bytes, charset: str | None = "utf-8", **extra) -> dict:
    data = content if isinstance(content, bytes) else content.encode(charset or "utf-8")
    headers = [{"name": "Content-Type", "value": f"{mime}; charset={charset}" if charset else mime}]
    return {"mimeType": mime, "headers": headers, "body": {"data": base64.urlsafe_b64encode(data).decode()},
            **extra}


def multipart(*parts: dict) -> dict:
    return {"mimeType": "multipart/alternative", "headers": [], "body": {"size": 0}, "parts": list(parts)}


def test_html_reads_as_a_page_would():
    html = ("<html><head><title>Newsletter</title><style>p { color: red }</style></head><body>"
            "<p>Hello <b>Jane</b>,</p><p>line one<br>line two<br><br><br>line three</p>"
            "<script>track()</script><!-- hidden -->after"
            "<table><tr><td>Price</td><td>&euro;12&nbsp;500</td></tr><tr><td>Terms</td></tr></table>"
            "<div>   spaced \n\n   out   </div>&lt;not a tag&gt;</body></html>")
    text = html_to_text(html, 1000)
    assert text.text == ("Hello Jane,\nline one\nline two\n\nline three\nafter\nPrice €12\xa0500\nTerms\n"
                         "spaced out\n<not a tag>")
    assert not text.truncated


def test_html_text_stops_at_the_limit_and_says_so():
    text = html_to_text("<p>" + "word " * 1000 + "</p>", 100)
    assert len(text.text) <= 100 and text.text.startswith("word word") and text.truncated
    exact = html_to_text("<p>12345</p><p></p>", 5)
    assert exact.text == "12345" and not exact.truncated


@pytest.mark.parametrize("html", ["", "   ", "<!-- never ends", "<?xml version='1.0' encoding='latin-1'?>",
                                  "<" * 1000, "\x00\x01", "<p>\ud800 lone surrogate</p>"])
def test_odd_html_gives_text_or_nothing_never_an_error(html):
    assert isinstance(html_to_text(html, 100).text, str)


def test_deep_nesting_is_read_without_recursion():
    text = html_to_text("<div>" * 50_000 + "deep" + "</div>" * 50_000, 100)
    assert isinstance(text.text, str)  # libxml2 stops building at its depth limit; nothing raises


def test_plain_text_wins_over_html_and_attachments_are_skipped():
    payload = multipart(part("text/plain", "x", filename="notes.txt"), part("text/html", "<p>From HTML</p>"),
                        part("text/plain", "From plain"))
    assert body_text(payload, 100).text == "From plain"
    assert body_text(multipart(part("text/html", "<p>Only <i>HTML</i></p>")), 100).text == "Only HTML"
    assert body_text({"mimeType": "image/png"}, 100).text == ""


def test_charsets_are_honoured_and_odd_ones_fall_back_to_utf8():
    assert body_text(part("text/plain", "Grüße", charset="iso-8859-1"), 100).text == "Grüße"
    assert body_text(part("text/plain", b"plain", charset="no-such-charset"), 100).text == "plain"
    assert body_text(part("text/plain", b"zipped?", charset="zlib_codec"), 100).text == "zipped?"  # not a text codec
    utf7 = body_text(part("text/plain", b"+2AA-", charset="utf-7"), 100).text  # a lone surrogate in UTF-7
    assert utf7 == "\ufffd"


def test_a_long_plain_body_is_cut_at_the_limit_before_decoding_the_rest():
    body = body_text(part("text/plain", "a" * 10_000_000), 12_000)
    assert body.text == "a" * 12_000 and body.truncated
    short = body_text(part("text/plain", "a" * 12_000), 12_000)
    assert not short.truncated


def test_an_html_part_beyond_the_cap_is_left_to_gmail():
    html = "<p>start</p>" + "<b></b>" * (HTML_LIMIT // 7) + "<p>beyond the cap</p>"
    body = body_text(part("text/html", html), 12_000)
    assert body.text == "start" and body.truncated


def test_broken_base64_and_missing_data_give_no_text():
    assert body_text({"mimeType": "text/plain", "body": {"data": "!!!*"}}, 100).text == ""
    assert body_text({"mimeType": "text/plain", "body": {}}, 100).text == ""
    assert body_text({"mimeType": "text/plain", "body": "nonsense"}, 100).text == ""


def test_deeply_nested_mime_is_walked_without_recursion_and_within_a_part_budget():
    payload = part("text/plain", "deep")
    for _ in range(5_000):
        payload = multipart(payload)
    assert body_text(payload, 100).text == ""  # past MAX_PARTS parts: not looked at
    shallow = multipart(*[{"mimeType": "image/png"}] * (MAX_PARTS - 2), part("text/plain", "found"))
    assert body_text(shallow, 100).text == "found"

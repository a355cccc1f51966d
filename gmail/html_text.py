"""An HTML email part as plain text, in time linear in a capped input (THREATS "Bounded work").

Anyone can send a rep an HTML email, so the converter meets hostile markup: unclosed tags by the hundred
thousand, `<!--` without an end, one tag with thousands of attributes, nesting without end, entity floods.
Regexes over the whole part (what this replaced) and CPython 3.11.7's html.parser have quadratic cases on
such input; libxml2 (through lxml) tokenizes in one pass and stops building the tree at a fixed depth, so
the converter reads a tree no deeper than that. Its one super-linear case left, the duplicate check of
attributes within one tag, is bounded by capping the markup converted (`HTML_LIMIT`): the caller cuts the
part before it gets here, and the text produced stops at `limit` characters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

# Markup converted at most: what the reader is shown (12,000 characters) comes from the first tens of KB of
# even a verbose email; "Open in Gmail" has the rest. Within this much, the worst hostile shape measured (tags
# of ~12,000 distinct attributes each, libxml2's one super-linear case) costs about 250 ms of CPU, every other
# shape a few ms (benchmarks/bounded_work.py).
HTML_LIMIT = 64 * 1024

# Elements whose content is never text a reader sees.
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript", "object", "iframe", "svg", "math"})
# Elements that start and end a line; `br` ends one; cells of a row are set apart by a space.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
    "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul",
})
_CELLS = frozenset({"td", "th"})
_SURROGATES = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\n\r\f]+")


@dataclass(frozen=True)
class Text:
    text: str
    truncated: bool  # the text went on past the limit


class _Lines:
    """Text as a browser lays it out, roughly: runs of whitespace are one space, blocks and `br` break lines
    (never more than one empty line in a row). Stops taking text once it holds `limit` characters."""

    def __init__(self, limit: int):
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.breaks = 2  # line breaks just written; 2 at the start so the text does not begin with one
        self.space = False  # a space is owed before the next word
        self.full = False

    def _write(self, piece: str) -> None:
        room = self.limit - self.size
        if len(piece) > room:  # text goes on past the limit
            piece, self.full = piece[:room], True
        self.parts.append(piece)
        self.size += len(piece)

    def words(self, text: str | None) -> None:
        if not text or self.full:
            return
        collapsed = _SPACES.sub(" ", text)  # HTML's whitespace only: a no-break space stays
        words = collapsed.strip(" ")
        if not words:
            self.space = self.space or self.breaks == 0
            return
        if (self.space or collapsed[0] == " ") and self.breaks == 0:
            self._write(" ")
        self._write(words)
        self.breaks = 0
        self.space = collapsed[-1] == " "

    def gap(self) -> None:
        """Between two cells of a row."""
        self.space = self.space or self.breaks == 0

    def line_break(self, *, hard: bool = False) -> None:
        """End the line; a `br` (hard) may also leave one empty line, a block boundary only ends the line."""
        self.space = False
        if self.size >= self.limit or self.breaks >= (2 if hard else 1):
            return
        self._write("\n")
        self.breaks += 1

    def result(self) -> Text:
        return Text("".join(self.parts).rstrip(), self.full)


def html_to_text(html: str, limit: int) -> Text:
    """The readable text of `html` (at most `limit` characters; the caller has capped `html` to HTML_LIMIT)."""
    lines = _Lines(limit)
    # Bytes with an explicit encoding: lxml refuses a str that carries an XML encoding declaration, and a lone
    # surrogate (from an odd charset) becomes U+FFFD instead of an error.
    data = _SURROGATES.sub("\ufffd", html).encode("utf-8")
    parser = etree.HTMLParser(encoding="utf-8", recover=True, no_network=True, remove_comments=True,
                              remove_pis=True, remove_blank_text=False, compact=True, default_doctype=False,
                              collect_ids=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser) if data.strip() else None
    except (etree.LxmlError, ValueError):
        root = None
    if root is None:
        return lines.result()
    walk = etree.iterwalk(root, events=("start", "end"))
    for event, element in walk:
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _HIDDEN:
                walk.skip_subtree()  # its "end" still comes, with the tail
                continue
            if tag in _BLOCKS:
                lines.line_break()
            elif tag in _CELLS:
                lines.gap()
            elif tag == "br":
                lines.line_break(hard=True)
            lines.words(element.text)
        else:
            if tag in _BLOCKS:
                lines.line_break()
            elif tag in _CELLS:
                lines.gap()
            lines.words(element.tail)
        if lines.full:
            break
    return lines.result()

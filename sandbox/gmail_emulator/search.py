"""Gmail's search box language (the ``q`` parameter), as far as the bot uses it.

Supported: ``from: to: cc: bcc: subject: label: in: is: category: has:
after: before: older: newer: newer_than: older_than: larger: smaller:
rfc822msgid: deliveredto: list:``, ``OR`` (binds tighter than the implicit
AND, as in Gmail), ``{a b}`` (any of), ``(a b)`` (all of), an operator
applied to a group (``from:(a OR b)``), quoted phrases, bare words matched
as whole words against subject, body and address headers, and ``-`` for
negation.  Dates in ``YYYY/MM/DD`` form are midnight in Pacific time, as
Gmail documents; epoch seconds are exact.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from .mime import addresses

if TYPE_CHECKING:
    from .mailbox import Mailbox, Message

try:
    from zoneinfo import ZoneInfo

    _PACIFIC = ZoneInfo("America/Los_Angeles")
except Exception:  # no tz database: Gmail's documented zone at standard time
    _PACIFIC = timezone(timedelta(hours=-8))

Predicate = Callable[["Message"], bool]

_WORD = re.compile(r"[^\s(){}\"]+")


@dataclass
class Query:
    predicate: Predicate
    # The query names spam/trash (in:spam, label:trash, in:anywhere ...): Gmail
    # then stops hiding those messages.
    reaches_spam_trash: bool


@dataclass
class _Tok:
    kind: str  # WORD PHRASE LPAREN RPAREN LBRACE RBRACE OR NEG
    text: str = ""


def _tokenize(q: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        ch = q[i]
        if ch.isspace():
            i += 1
        elif ch in "(){}":
            tokens.append(_Tok({"(": "LPAREN", ")": "RPAREN", "{": "LBRACE", "}": "RBRACE"}[ch]))
            i += 1
        elif ch == '"':
            end = q.find('"', i + 1)
            if end == -1:
                end = n
            tokens.append(_Tok("PHRASE", q[i + 1 : end]))
            i = end + 1
        elif ch == "-" and i + 1 < n and not q[i + 1].isspace() and (i == 0 or q[i - 1] in " \t({"):
            tokens.append(_Tok("NEG"))
            i += 1
        else:
            found = _WORD.match(q, i)
            assert found is not None
            word = found.group(0)
            i = found.end()
            if word == "OR" or word == "|":
                tokens.append(_Tok("OR"))
            elif word == "AND":
                continue
            else:
                tokens.append(_Tok("WORD", word))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Tok], leaf: Callable[[str | None, str, bool], Predicate]):
        self.tokens = tokens
        self.pos = 0
        self.leaf = leaf

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse_all(self, op: str | None = None, closer: str | None = None) -> Predicate:
        parts: list[Predicate] = []
        while True:
            tok = self.peek()
            if tok is None:
                break
            if tok.kind in ("RPAREN", "RBRACE"):
                if closer == tok.kind:
                    break
                self.take()  # stray closer: Gmail ignores it
                continue
            parts.append(self.parse_or(op))
        return _all(parts)

    def parse_any(self, op: str | None) -> Predicate:
        parts: list[Predicate] = []
        while True:
            tok = self.peek()
            if tok is None:
                break
            if tok.kind == "RBRACE":
                self.take()
                break
            if tok.kind == "RPAREN":
                self.take()
                continue
            parts.append(self.parse_or(op))
        return _any(parts) if parts else (lambda m: True)

    def parse_or(self, op: str | None) -> Predicate:
        options = [self.parse_unary(op)]
        while self.peek() is not None and self.peek().kind == "OR":
            self.take()
            if self.peek() is None or self.peek().kind in ("RPAREN", "RBRACE"):
                break
            options.append(self.parse_unary(op))
        return options[0] if len(options) == 1 else _any(options)

    def parse_unary(self, op: str | None) -> Predicate:
        tok = self.peek()
        if tok is not None and tok.kind == "NEG":
            self.take()
            if self.peek() is None or self.peek().kind in ("RPAREN", "RBRACE"):
                return lambda m: True
            inner = self.parse_unary(op)
            return lambda m: not inner(m)
        return self.parse_primary(op)

    def parse_primary(self, op: str | None) -> Predicate:
        tok = self.take()
        if tok.kind == "LPAREN":
            result = self.parse_all(op, closer="RPAREN")
            if self.peek() is not None and self.peek().kind == "RPAREN":
                self.take()
            return result
        if tok.kind == "LBRACE":
            return self.parse_any(op)
        if tok.kind == "PHRASE":
            return self.leaf(op, tok.text, True)
        if tok.kind == "OR":  # a leading OR is a plain word in Gmail
            return self.leaf(op, "OR", False)
        word = tok.text
        if ":" in word and not word.startswith(":"):
            name, _, value = word.partition(":")
            name = name.lower()
            if name in _OPERATORS:
                if value:
                    return self.leaf(name, value, False)
                nxt = self.peek()
                if nxt is not None and nxt.kind in ("PHRASE", "LPAREN", "LBRACE"):
                    return self.parse_primary(name)
                return lambda m: True
        return self.leaf(op, word, False)


def _all(parts: list[Predicate]) -> Predicate:
    if not parts:
        return lambda m: True
    if len(parts) == 1:
        return parts[0]
    return lambda m: all(p(m) for p in parts)


def _any(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    return lambda m: any(p(m) for p in parts)


_OPERATORS = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "label", "in", "is", "category", "has",
        "after", "before", "older", "newer", "newer_than", "older_than", "larger",
        "smaller", "rfc822msgid", "deliveredto", "list",
    }
)

_CATEGORIES = {
    "primary": "CATEGORY_PERSONAL",
    "personal": "CATEGORY_PERSONAL",
    "social": "CATEGORY_SOCIAL",
    "promotions": "CATEGORY_PROMOTIONS",
    "updates": "CATEGORY_UPDATES",
    "forums": "CATEGORY_FORUMS",
}

_IN_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "trash": "TRASH",
    "spam": "SPAM",
    "drafts": "DRAFT",
    "draft": "DRAFT",
    "chats": "CHAT",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
}


def _word_regex(term: str) -> re.Pattern:
    words = term.split()
    body = r"\s+".join(re.escape(word) for word in words) if words else re.escape(term)
    return re.compile(r"(?<![\w])" + body + r"(?![\w])", re.IGNORECASE)


def normalize_label_name(name: str) -> str:
    """Gmail lets ``label:`` write spaces and slashes as hyphens."""
    return re.sub(r"[\s/\-_]+", "-", name.strip().lower())


def _parse_date(value: str) -> float | None:
    if value.isdigit():
        return float(value)
    found = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if not found:
        found_us = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value)
        if not found_us:
            return None
        month, day, year = (int(x) for x in found_us.groups())
    else:
        year, month, day = (int(x) for x in found.groups())
    try:
        return datetime(year, month, day, tzinfo=_PACIFIC).timestamp()
    except ValueError:
        return None


def _parse_age(value: str) -> float | None:
    found = re.fullmatch(r"(\d+)([dmyh]?)", value.lower())
    if not found:
        return None
    amount = int(found.group(1))
    unit = found.group(2) or "d"
    seconds = {"h": 3600, "d": 86400, "m": 30 * 86400, "y": 365 * 86400}[unit]
    return amount * seconds


def _parse_size(value: str) -> int | None:
    found = re.fullmatch(r"(\d+)([kKmM]?)", value)
    if not found:
        return None
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[found.group(2).lower()]
    return int(found.group(1)) * factor


def _address_matcher(value: str, mailbox_address: str) -> Callable[[str], bool]:
    wanted = value.lower()
    if wanted == "me":
        wanted = mailbox_address
    # A substring test first: parsing addresses is the slow part of a search.
    if "@" in wanted:
        if wanted.startswith("@"):
            return lambda header: wanted in header.lower() and any(
                addr.endswith(wanted) for _, addr in addresses(header)
            )
        return lambda header: wanted in header.lower() and any(addr == wanted for _, addr in addresses(header))
    # A word of the name or address: "ann" matches ann@x and "Ann Lee" but not
    # joann@x; "acme.test" matches acme.test and its subdomains.
    regex = re.compile(r"(?<![\w\-])" + re.escape(wanted) + r"(?![\w\-])", re.IGNORECASE)
    return lambda header: bool(regex.search(header))


def compile_query(q: str, mailbox: "Mailbox", now: float | None = None) -> Query:
    now = time.time() if now is None else now
    reaches = {"flag": False}

    def leaf(op: str | None, value: str, phrase: bool) -> Predicate:
        if op is None:
            regex = _word_regex(value)
            return lambda m: bool(regex.search(m.search_text()))
        if op in ("from", "to", "cc", "bcc", "deliveredto", "list"):
            header = {"deliveredto": "delivered-to", "list": "list-id"}.get(op, op)
            if phrase:
                regex = _word_regex(value)
                return lambda m: bool(regex.search(m.header(header)))
            matches = _address_matcher(value, mailbox.address)
            return lambda m: matches(m.header(header))
        if op == "subject":
            regex = _word_regex(value)
            return lambda m: bool(regex.search(m.header("subject")))
        if op == "rfc822msgid":
            wanted = value.strip("<>").lower()
            return lambda m: m.header("message-id").strip().strip("<>").lower() == wanted
        if op in ("label", "in", "is", "category"):
            return label_leaf(op, value)
        if op == "has":
            kind = value.lower()
            if kind == "attachment":
                return lambda m: m.has_attachment
            if kind == "userlabels":
                return lambda m: any(lid.startswith("Label_") for lid in m.label_ids)
            if kind == "nouserlabels":
                return lambda m: not any(lid.startswith("Label_") for lid in m.label_ids)
            return lambda m: False
        if op in ("after", "newer", "before", "older"):
            stamp = _parse_date(value)
            if stamp is None:
                return lambda m: False
            limit = int(stamp * 1000)
            if op in ("after", "newer"):
                return lambda m: m.internal_date >= limit
            return lambda m: m.internal_date < limit
        if op in ("newer_than", "older_than"):
            age = _parse_age(value)
            if age is None:
                return lambda m: False
            limit = int((now - age) * 1000)
            if op == "newer_than":
                return lambda m: m.internal_date > limit
            return lambda m: m.internal_date <= limit
        if op in ("larger", "smaller"):
            size = _parse_size(value)
            if size is None:
                return lambda m: False
            if op == "larger":
                return lambda m: m.size > size
            return lambda m: m.size < size
        regex = _word_regex(f"{op}:{value}")
        return lambda m: bool(regex.search(m.search_text()))

    def label_leaf(op: str, value: str) -> Predicate:
        lowered = value.lower()
        if op == "in" and lowered == "anywhere":
            reaches["flag"] = True
            return lambda m: True
        if op == "is":
            if lowered == "read":
                return lambda m: "UNREAD" not in m.label_ids
            label_id = _IN_LABELS.get(lowered)
        elif op == "category":
            label_id = _CATEGORIES.get(lowered)
        elif op == "in":
            label_id = _IN_LABELS.get(lowered) or _user_label(value)
        else:
            label_id = _IN_LABELS.get(lowered) or _CATEGORIES.get(lowered) or _user_label(value)
        if label_id in ("SPAM", "TRASH"):
            reaches["flag"] = True
        if label_id is None:
            return lambda m: False
        return lambda m: label_id in m.label_ids

    def _user_label(value: str) -> str | None:
        wanted = normalize_label_name(value)
        for label in mailbox.all_labels():
            if normalize_label_name(label.name) == wanted or label.id.lower() == value.lower():
                return label.id
        return None

    tokens = _tokenize(q or "")
    predicate = _Parser(tokens, leaf).parse_all()
    return Query(predicate=predicate, reaches_spam_trash=reaches["flag"])

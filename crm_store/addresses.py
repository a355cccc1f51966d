"""Addresses in From headers, parsed per RFC 5322 (display names, encoded words, groups, several addresses).

Headers come from strangers' mail: parsing never raises. A header too long to be a person's, one nested deeper
than `email`'s parsers should recurse (refused before they see it), or one the parsers choke on in any other way,
has no address; an address with control characters or lone surrogates is not one (PostgreSQL refuses NUL).
"""
from __future__ import annotations

import logging
import re
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import getaddresses

log = logging.getLogger(__name__)

# A real From header is a few hundred characters; folded ones with many addresses stay well under this.
MAX_HEADER_CHARS = 8192
MAX_ADDRESS_CHARS = 320
# `email`'s parsers recurse once per nested comment (two or three frames a level) and getaddresses once per group
# opened inside a group (a frame a colon): a stranger's header nested a few hundred deep takes them to the
# interpreter's recursion limit. Real headers nest a comment or two and open one group.
MAX_NESTING = 64
_PARENTHESES = re.compile(r"\\.|[()]", re.DOTALL)  # a quoted pair (`\(` in a comment is no comment) or a parenthesis

# Good enough to tell an address from junk; the RFC grammar is left to the parser. No whitespace, no control
# characters, no surrogates (they cannot be stored), one @, a dot in the domain.
_ATOM = r"[^@\s<>()\[\],;:\"\x00-\x1f\x7f\ud800-\udfff]"
_ADDRESS_RE = re.compile(rf"^{_ATOM}+@{_ATOM}+\.{_ATOM}+$")

# The From header of nearly every message: `addr`, `<addr>` or `Plain Name <addr>`, ASCII, no quotes, comments,
# encoded words or groups. For it the strict parser (email.headerregistry, ~0.3 ms a header, the sync's largest
# Python cost per message after the database) gives exactly what this match does; anything else goes to it.
_PLAIN_WORD = r"[A-Za-z0-9'_-]+"
_PLAIN_ADDRESS = r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_PLAIN_FROM = re.compile(rf"(?:(?P<name>{_PLAIN_WORD}(?: {_PLAIN_WORD})*) {{0,8}}<(?P<named>{_PLAIN_ADDRESS})>"
                         rf"|<(?P<bracketed>{_PLAIN_ADDRESS})>|(?P<bare>{_PLAIN_ADDRESS}))")


def is_valid_address(address: str) -> bool:
    return isinstance(address, str) and len(address) <= MAX_ADDRESS_CHARS and bool(_ADDRESS_RE.match(address))


def _decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001 - a name we cannot decode is shown as it came
        return value


def _strict(header: str) -> list[tuple[str, str]]:
    try:
        parsed = policy.default.header_factory("From", header)
        return [(a.display_name or "", a.addr_spec) for a in parsed.addresses]
    except (HeaderParseError, IndexError, ValueError, TypeError):
        return []  # the strict parser gives up on some real-world headers; the lenient one rarely does


def parse_addresses(header: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) for every mailbox in an address header, in order, no duplicates.
    Never raises: anything the parsers cannot handle means "no address"."""
    if not isinstance(header, str) or not header.strip() or len(header) > MAX_HEADER_CHARS:
        return []
    try:
        return _parse(header.replace("\r", " ").replace("\n", " "))
    except Exception as error:  # noqa: BLE001 - RecursionError included: hostile input has no sender
        log.info("unparseable address header (%s, %d characters)", type(error).__name__, len(header))
        return []


def _plain(header: str) -> list[tuple[str, str]] | None:
    """The one mailbox of a plain From header (see _PLAIN_FROM), or None when the header is not that simple."""
    match = _PLAIN_FROM.fullmatch(header.strip())
    if match is None:
        return None
    address = (match["named"] or match["bracketed"] or match["bare"]).lower()
    return [(match["name"] or "", address)] if is_valid_address(address) else None


def _nests_too_deep(header: str) -> bool:
    """Whether the parsers could nest deeper than MAX_NESTING in `header`: one linear scan, before they see it, that
    counts at most one level less than they would. Comments: quotes are not tracked, so parentheses in a quoted
    string count too; what is missed is a `\\(` outside any comment, which getaddresses opens as one (a backslash
    there is a letter to it): one level at most, since inside a comment both parsers read `\\(` as a quoted pair.
    Groups: every colon counts as one opened and none as closed, since a `;` or an escape may be literal where it
    stands (in quotes, in a comment, or a backslash getaddresses takes as a letter) and a quote-aware count can be
    led astray. The price: a header with more than MAX_NESTING colons anywhere (65 names like "Sales: Jane") has
    no address either."""
    if header.count(":") > MAX_NESTING:
        return True
    depth = 0
    for match in _PARENTHESES.finditer(header):
        if match[0] == "(":
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif match[0] == ")":
            depth = max(depth - 1, 0)
    return False


def _parse(header: str) -> list[tuple[str, str]]:
    plain = _plain(header)
    if plain is not None:
        return plain
    if _nests_too_deep(header):  # the plain match has neither parentheses nor colons: not on the common path
        log.info("address header nested too deep (%d characters)", len(header))
        return []
    pairs = _strict(header)
    if not any(is_valid_address(addr.strip().strip("<>").lower()) for _, addr in pairs):
        pairs = [(_decode_words(name), addr) for name, addr in getaddresses([header])]
    seen: set[str] = set()
    result: list[tuple[str, str]] = []
    for name, addr in pairs:
        addr = addr.strip().strip("<>").lower()
        if is_valid_address(addr) and addr not in seen:
            seen.add(addr)
            result.append((name, addr))
    return result


def sender_addresses(from_header: str) -> list[str]:
    """The lower-cased addresses of a From header (usually one; RFC 5322 allows several)."""
    return [addr for _, addr in parse_addresses(from_header)]


def primary_sender(from_header: str) -> str | None:
    addresses = sender_addresses(from_header)
    return addresses[0] if addresses else None

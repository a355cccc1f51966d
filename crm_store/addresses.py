"""Addresses in From headers, parsed per RFC 5322 (display names, encoded words, groups, several addresses)."""
from __future__ import annotations

import re
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import getaddresses

# Good enough to tell an address from junk; the RFC grammar is left to the parser.
_ADDRESS_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")


def is_valid_address(address: str) -> bool:
    return bool(_ADDRESS_RE.match(address))


def _decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, UnicodeDecodeError, LookupError):
        return value


def parse_addresses(header: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) for every mailbox in an address header, in order, no duplicates."""
    if not header or not header.strip():
        return []
    header = header.replace("\r", " ").replace("\n", " ")
    pairs: list[tuple[str, str]] = []
    try:
        parsed = policy.default.header_factory("From", header)
        pairs = [(a.display_name or "", a.addr_spec) for a in parsed.addresses]
    except (HeaderParseError, IndexError, ValueError, TypeError):
        pairs = []
    if not any(is_valid_address(addr) for _, addr in pairs):
        # The strict parser gives up on some real-world headers; the lenient one rarely does.
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

"""Walk Google's consent against the emulator the way a rep's browser would (tests, benchmarks, demo)."""
from __future__ import annotations

import http.client
from urllib.parse import parse_qs, urlsplit


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One GET without following redirects."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def consent_redirect(emulator, authorization_url: str, address: str | None, scopes=None) -> str:
    """Allow (or, with address None, deny) on the emulator's consent page; returns our callback URL.
    `scopes`: the boxes left ticked on Google's granular consent page (default: all requested)."""
    if address is None:
        emulator.consent_as(None, deny=True)
    else:
        emulator.consent_as(address, scopes=scopes)
    status, headers, _ = http_get(authorization_url)
    if status not in (302, 303):
        raise RuntimeError(f"consent page answered {status}")
    return headers["location"]

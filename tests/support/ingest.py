"""The CRM ingest API through the real server: PUT /crm/v1/{kind} with a bearer key, the store's counts, a counter
on /metrics."""
from __future__ import annotations

import http.client
import json
from email.message import Message
from urllib.parse import urlsplit

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Contact, Deal


def put(stack, kind: str, records, key: str | None) -> tuple[int, dict]:
    status, _, answer = put_with_headers(stack, kind, records, key)
    return status, answer


def put_with_headers(stack, kind: str, records, key: str | None) -> tuple[int, Message, dict]:
    parts = urlsplit(stack.server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    body = records if isinstance(records, bytes) else json.dumps(records).encode()
    try:
        connection.request("PUT", f"/crm/v1/{kind}", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def crm_counts(stack) -> tuple[int, int]:
    with session_scope(stack.engine) as session:
        return len(session.exec(select(Contact)).all()), len(session.exec(select(Deal)).all())


def metric(stack, line_start: str) -> float:
    """A counter's value on /metrics (the registry is per process: tests compare before and after)."""
    text = stack.scrape()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))

"""The body of a Gmail Pub/Sub push is whatever reaches /gmail/push: parsing it never raises."""
from __future__ import annotations

import base64
import json

import pytest

from gmail.push import push_address


def wrapped(data) -> dict:
    return {"message": {"data": data, "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}


def encoded(payload: str | bytes) -> dict:
    raw = payload.encode() if isinstance(payload, str) else payload
    return wrapped(base64.b64encode(raw).decode())


HOSTILE = {
    "none": None,
    "list": [],
    "string": "push",
    "message-none": {"message": None},
    "message-list": {"message": []},
    "data-number": wrapped(5),
    "data-none": wrapped(None),
    "bad-base64": wrapped("!!"),
    "base64-not-json": encoded(b"\xff\xfe not json"),
    "json-list": encoded("[1, 2]"),
    "json-string": encoded('"rep@gmail.example"'),
    "json-number": encoded("12"),
    "address-number": encoded('{"emailAddress": 12, "historyId": 1}'),
    "address-huge": encoded(json.dumps({"emailAddress": "a" * 100_000 + "@x.example", "historyId": 1})),
    "digits-5000": encoded('{"emailAddress": "rep@gmail.example", "historyId": ' + "9" * 5000 + "}"),
    "nested-100000": encoded("[" * 100_000 + "]" * 100_000),
    "nested-in-field": encoded('{"emailAddress": "rep@gmail.example", "historyId": ' + "[" * 50_000 + "]" * 50_000
                               + "}"),
}


@pytest.mark.parametrize("envelope", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_push_bodies_name_no_mailbox_or_no_history_id(envelope):
    push = push_address(envelope)
    assert push is None or (push.address == "rep@gmail.example" and push.history_id is None)


@pytest.mark.parametrize("history_id, expected", [
    (12345, 12345),
    ("12345", 12345),
    (2**64 - 1, 2**64 - 1),
    (str(2**64 - 1), 2**64 - 1),  # history ids are unsigned 64-bit
    (2**64, None),
    (-1, None),
    (1e400, None),
    (12.5, None),
    (True, None),
    ("12a", None),
    (" 12", None),
    (None, None),
])
def test_the_history_id_of_a_push(history_id, expected):
    push = push_address(encoded(json.dumps({"emailAddress": " Rep@Gmail.Example ", "historyId": history_id})))
    assert push is not None and push.address == "rep@gmail.example" and push.history_id == expected

"""What a Gmail Pub/Sub push says: which mailbox changed, and its history id after the change.

Pub/Sub posts an envelope whose `message.data` is base64 JSON `{"emailAddress": …, "historyId": …}`
(developers.google.com/gmail/api/guides/push). The envelope comes from outside (authenticated by
`gmail.push_auth`, but still parsed as hostile input): anything malformed names no mailbox, and parsing never
raises.
"""
from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

from crm_store.addresses import is_valid_address


class Push(NamedTuple):
    """What a Gmail push says: which mailbox changed, and its history id after the change (None: not given)."""

    address: str
    history_id: int | None


MAX_HISTORY_ID = 2**64 - 1  # Gmail history ids are unsigned 64-bit


def history_id_value(value: Any) -> int | None:
    """A history id (decimal text, or a JSON number as Gmail's push sends it) as an integer; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and 0 < len(value) <= 20 and value.isascii() and value.isdigit():
        number = int(value)
    else:
        return None
    return number if 0 <= number <= MAX_HISTORY_ID else None


def push_address(envelope: Any) -> Push | None:
    """The mailbox a Pub/Sub push envelope is about (its `data` is base64 JSON), with the push's history id.
    Anything malformed — not a dict, bad base64, JSON that is not an object, absurd numbers or nesting — names
    no mailbox (None) or no history id; this never raises."""
    try:
        data = envelope["message"]["data"]
        if not isinstance(data, str) or len(data) > 65_536:
            return None
        payload = json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))
        if not isinstance(payload, dict):
            return None
        address = payload.get("emailAddress")
        history_id = payload.get("historyId")
    except Exception:  # noqa: BLE001 - TypeError, KeyError, ValueError, binascii.Error, RecursionError…
        return None
    if not isinstance(address, str):
        return None
    address = address.strip().lower()
    if not is_valid_address(address):
        return None
    return Push(address, history_id_value(history_id))


def already_synced(push: Push, cursor: str | None) -> bool:
    """True when a mailbox's stored cursor is at or past the push's history id: a sync already read that change
    (Pub/Sub sends one push per change, late and repeated)."""
    synced_to = history_id_value(cursor)
    return push.history_id is not None and synced_to is not None and synced_to >= push.history_id

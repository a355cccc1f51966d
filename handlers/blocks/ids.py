"""Action, block and callback ids shared by the builders and the listeners."""
from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    CONNECT_AUTHENTICATE = "gmail_connect_authenticate"
    SETUP_OPEN = "gmail_setup_open"
    RECONNECT = "gmail_reconnect"


class CallbackId(StrEnum):
    SETUP_MODAL = "gmail_setup"

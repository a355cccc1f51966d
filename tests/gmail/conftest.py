"""Gmail-side fixtures: the Gmail + Google OAuth emulator over real HTTP, and a connected mailbox
(tests/support/gmail.py)."""
from __future__ import annotations

from tests.support.gmail import gmail_env  # noqa: F401 - fixtures

"""What the Gmail side tells people, as an interface; bot/ implements it with Slack."""
from __future__ import annotations

from typing import Protocol

from crm_store.models import GmailAccount


class Notifier(Protocol):
    def mailbox_connected(self, account: GmailAccount, *, replaced_address: str | None) -> None:
        """DM the rep that the mailbox is connected and invite them to choose their settings."""

    def ask_to_reconnect(self, account: GmailAccount, reason: str) -> None:
        """DM the rep, once, that Google revoked access and they must reconnect."""

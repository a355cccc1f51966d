"""What the Gmail side needs to know, built from settings by bot/wiring.py."""
from __future__ import annotations

from dataclasses import dataclass, field

GMAIL_MODIFY_SCOPE = "https://www.googleapis.com/auth/gmail.modify"
GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
# Headers fetched for each new message. Only From and the date are ever stored;
# the others travel to MailMagnet's alert (subject) and threading (Message-ID) in memory.
METADATA_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, one place for every Gmail call."""

    attempts: int = 5
    base_seconds: float = 0.5
    max_seconds: float = 20.0

    def delay(self, attempt: int, rand: float, retry_after: float | None = None) -> float:
        backoff = min(self.max_seconds, self.base_seconds * (2 ** attempt)) * rand
        return max(backoff, min(retry_after or 0.0, self.max_seconds))


@dataclass(frozen=True)
class GoogleConfig:
    client_id: str
    client_secret: str
    auth_uri: str
    token_uri: str
    revoke_uri: str
    api_url: str
    redirect_uri: str
    # Both are requested at connect and both must be granted (SPEC §1): reading/filing, and sending (F6).
    scopes: tuple[str, ...] = (GMAIL_MODIFY_SCOPE, GMAIL_SEND_SCOPE)
    timeout_seconds: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def api_root(self) -> str:
        return self.api_url if self.api_url.endswith("/") else self.api_url + "/"

    @property
    def batch_url(self) -> str:
        # client_options' api_endpoint does not move the batch endpoint: it is built here.
        return self.api_root + "batch/gmail/v1"


@dataclass(frozen=True)
class SyncConfig:
    lookback_days: int = 30
    batch_size: int = 50  # Gmail advises at most 50 requests per batch
    history_page_size: int = 500
    pubsub_topic: str | None = None

"""The running bot's building blocks, assembled once from settings and handed to listeners and jobs."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from bot.settings import Settings
from bot.slack_clients import SlackClients
from bot.wiring import category_config, open_store
from crm_store.categories import LabelNames, StageRules
from crm_store.errors import DomainError
from gmail.accounts import load_credentials
from gmail.client import GmailService, MailboxClient
from gmail.config import GoogleConfig, RetryPolicy, SyncConfig
from gmail.oauth import GoogleConsent
from gmail.tokens import TokenCipher

if TYPE_CHECKING:  # pragma: no cover
    from bot.jobs import Jobs
    from bot.notifier import SlackNotifier

log = logging.getLogger(__name__)


class GmailNotConfigured(DomainError):
    pass


def google_config(settings: Settings) -> GoogleConfig | None:
    if not (settings.google_client_id and settings.google_client_secret):
        return None
    return GoogleConfig(
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        auth_uri=settings.google_auth_uri,
        token_uri=settings.google_token_uri,
        revoke_uri=settings.google_revoke_uri,
        api_url=settings.gmail_api_url,
        redirect_uri=f"{settings.public_base}/gmail/oauth/callback",
        timeout_seconds=settings.gmail_timeout_seconds,
        retry=RetryPolicy(attempts=settings.gmail_retry_attempts, base_seconds=settings.gmail_retry_base_seconds),
    )


@dataclass
class Services:
    settings: Settings
    engine: Engine
    rules: StageRules
    labels: LabelNames
    slack: SlackClients
    google: GoogleConfig | None = None
    cipher: TokenCipher | None = None
    gmail: GmailService | None = None
    consent: GoogleConsent | None = None
    sync_config: SyncConfig = field(default_factory=SyncConfig)
    notifier: "SlackNotifier | None" = None
    jobs: "Jobs | None" = None
    extras: dict[str, Any] = field(default_factory=dict)

    def require_gmail(self) -> tuple[GoogleConfig, TokenCipher, GmailService, GoogleConsent]:
        """The Gmail building blocks, or a clear refusal naming the missing settings."""
        if self.google is None or self.cipher is None or self.gmail is None or self.consent is None:
            missing = [name for name, value in (
                ("GOOGLE_CLIENT_ID", self.settings.google_client_id),
                ("GOOGLE_CLIENT_SECRET", self.settings.google_client_secret),
                ("TOKEN_ENCRYPTION_KEYS", self.settings.token_encryption_keys),
            ) if not value]
            raise GmailNotConfigured(
                "Gmail is not set up on this MailMagnet server yet"
                + (f" (missing {', '.join(missing)})" if missing else "") + ". Ask your admin."
            )
        return self.google, self.cipher, self.gmail, self.consent


def mailbox_client(services: "Services", account) -> "MailboxClient":
    """A Gmail client for one rep's mailbox (on this thread's connection)."""
    google, cipher, gmail, _ = services.require_gmail()
    return gmail.mailbox(load_credentials(cipher, account, google))


def installation_store_for(settings: Settings, engine: Engine):
    """slack_sdk's own SQLAlchemy store, on our database (its tables come with our migrations)."""
    if not settings.multi_workspace:
        return None
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    return SQLAlchemyInstallationStore(client_id=settings.slack_client_id, engine=engine)


def build_services(settings: Settings) -> Services:
    engine = open_store(settings)
    rules, labels = category_config(settings)
    google = google_config(settings)
    cipher = TokenCipher(settings.encryption_key_list) if settings.token_encryption_keys else None
    services = Services(
        settings=settings,
        engine=engine,
        rules=rules,
        labels=labels,
        slack=SlackClients(settings, installation_store_for(settings, engine)),
        google=google,
        cipher=cipher,
        gmail=GmailService(google) if google else None,
        consent=GoogleConsent(google, engine) if google else None,
        sync_config=SyncConfig(lookback_days=settings.backfill_lookback_days,
                               pubsub_topic=settings.gmail_pubsub_topic),
    )
    from bot.notifier import SlackNotifier

    services.notifier = SlackNotifier(services.slack)
    if google is None:
        log.warning("GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET unset: Gmail features will refuse politely")
    if cipher is None:
        log.warning("TOKEN_ENCRYPTION_KEYS unset: Gmail connections are disabled")
    return services

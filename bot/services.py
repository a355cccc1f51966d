"""Assembles the app's building blocks (usecases.context.Services) once, from the settings."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.settings import Settings
from bot.slack_clients import SlackClients
from bot.slack_directory import SlackDirectory
from bot.wiring import category_config, open_store
from crm_sync.config import ZohoConfig
from gmail.client import GmailService
from gmail.config import GoogleConfig, RetryPolicy, SyncConfig
from gmail.oauth import GoogleConsent
from gmail.tokens import TokenCipher
from usecases.context import Config, Services

log = logging.getLogger(__name__)

__all__ = ["BotServices", "Services", "build_services", "google_config", "use_case_config"]


@dataclass
class BotServices(Services):
    """The use cases' Services, plus what only bot/ reads: its settings and its Slack token source."""

    settings: Settings | None = None
    slack: SlackClients | None = None


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


def zoho_config(settings: Settings) -> ZohoConfig | None:
    if not settings.zoho_client_id:
        return None
    return ZohoConfig(client_id=settings.zoho_client_id, client_secret=settings.zoho_client_secret or "",
                      refresh_token=settings.zoho_refresh_token or "", accounts_url=settings.zoho_accounts_url,
                      api_url=settings.zoho_api_url, interval_seconds=settings.crm_sync_interval_seconds,
                      sync_users=settings.zoho_sync_users)


def use_case_config(settings: Settings) -> Config:
    missing = tuple(name for name, value in (
        ("GOOGLE_CLIENT_ID", settings.google_client_id),
        ("GOOGLE_CLIENT_SECRET", settings.google_client_secret),
        ("TOKEN_ENCRYPTION_KEYS", settings.token_encryption_keys),
    ) if not value)
    return Config(
        default_timezone=settings.default_timezone,
        backfill_lookback_days=settings.backfill_lookback_days,
        sync_interval_seconds=settings.sync_interval_seconds,
        label_interval_seconds=settings.label_interval_seconds,
        public_base=settings.public_base,
        pubsub_verification_token=settings.pubsub_verification_token,
        allowed_team_ids=frozenset(settings.allowed_team_id_list),
        allowed_enterprise_id=settings.slack_allowed_enterprise_id or None,
        multi_workspace=settings.multi_workspace,
        missing_gmail_settings=missing,
        followup_working_hours=settings.followup_working_hours,
    )


def installation_store_for(settings: Settings, engine: Engine, cipher: TokenCipher | None):
    """slack_sdk's own SQLAlchemy store on our database (tables in our migrations), tokens encrypted."""
    if not settings.multi_workspace:
        return None
    if cipher is None:
        from bot.slack_app import SlackNotConfigured

        raise SlackNotConfigured("installs into several workspaces keep Slack tokens encrypted: set "
                                 "TOKEN_ENCRYPTION_KEYS")
    from bot.slack_store import EncryptedInstallationStore

    return EncryptedInstallationStore(cipher, client_id=settings.slack_client_id, engine=engine)


def build_services(settings: Settings) -> BotServices:
    engine = open_store(settings)
    rules, labels = category_config(settings)
    google = google_config(settings)
    cipher = TokenCipher(settings.encryption_key_list) if settings.token_encryption_keys else None
    slack = SlackClients(settings, installation_store_for(settings, engine, cipher))
    services = BotServices(
        config=use_case_config(settings),
        engine=engine,
        rules=rules,
        labels=labels,
        directory=SlackDirectory(slack),
        google=google,
        cipher=cipher,
        gmail=GmailService(google) if google else None,
        consent=GoogleConsent(google, engine) if google else None,
        sync_config=SyncConfig(lookback_days=settings.backfill_lookback_days,
                               pubsub_topic=settings.gmail_pubsub_topic),
        zoho=zoho_config(settings),
        settings=settings,
        slack=slack,
    )
    from bot.notifier import SlackNotifier

    services.notifier = SlackNotifier(slack)
    return services


def warn_about_missing_settings(services: BotServices) -> None:
    """What `serve` tells the operator at start-up (the CLI's one-shot commands stay quiet)."""
    if services.google is None:
        log.warning("GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET unset: Gmail features will refuse politely")
    if services.cipher is None:
        log.warning("TOKEN_ENCRYPTION_KEYS unset: Gmail connections are disabled")

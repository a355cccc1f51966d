"""Runtime settings: environment variables, with `.env` read when present.

Every Slack and Google endpoint is a setting so the bot runs unchanged against
the real services, the project's emulators, or any compatible server.
"""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite:///mailmagnet.db"

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    # Slack's install page; derived from SLACK_API_URL when unset (…/api/ -> …/oauth/v2/authorize).
    slack_authorize_url: str | None = None
    # The organisation's workspaces (SPEC §1): comma-separated team ids, and/or one Enterprise Grid org.
    slack_allowed_team_ids: str = ""
    slack_allowed_enterprise_id: str | None = None

    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    google_token_uri: str = "https://oauth2.googleapis.com/token"
    google_revoke_uri: str = "https://oauth2.googleapis.com/revoke"
    gmail_api_url: str = "https://gmail.googleapis.com/"

    public_url: str = "http://localhost:3000"
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    token_encryption_keys: str | None = None
    gmail_pubsub_topic: str | None = None
    pubsub_verification_token: str | None = None

    # Zoho CRM sync (SPEC §6): on when the three credentials are set.
    zoho_client_id: str | None = None
    zoho_client_secret: str | None = None
    zoho_refresh_token: str | None = None
    zoho_accounts_url: str = "https://accounts.zoho.com"
    zoho_api_url: str | None = None  # None: the api_domain Zoho's token endpoint names
    crm_sync_interval_seconds: int = Field(300, ge=1)

    sync_interval_seconds: int = Field(60, ge=1)
    label_interval_seconds: int = Field(600, ge=1)
    default_timezone: str = "UTC"
    port: int = 3000

    # Beyond SPEC §6: documented in the README.
    won_stages: str = "Closed Won"
    lost_stages: str = "Closed Lost,Closed-Lost to Competition"
    label_closing_this_month: str = "Deals Closing This Month"
    label_open_deals: str = "Open Deals"
    label_customers: str = "Customers"
    backfill_lookback_days: int = Field(30, ge=0)
    worker_concurrency: int = Field(16, ge=1)
    # Polling many mailboxes per Gmail round trip (gmail/sweep.py): mailboxes leased per sweep, batches in flight.
    sweep_chunk: int = Field(500, ge=1)
    sweep_concurrency: int = Field(8, ge=1)
    # With push on (an active users.watch), a mailbox is polled only this often: the safety net.
    push_poll_interval_seconds: int = Field(900, ge=1)
    # Threads for pushes and setting changes, apart from polling. A push holds one for three round trips (history,
    # metadata, the Slack post) and the database work between, ~0.5 s at 150 ms a call: 25 pushes a second keep
    # ~14 busy, so 16 queued them in every burst; idle threads cost next to nothing.
    push_workers: int = Field(48, ge=1)
    http_threads: int = Field(16, ge=2)
    # Slack listeners run here after their ack and wait on Gmail and Slack, not the CPU: more threads than
    # commands in flight, or an answer waits for a thread as long as for Gmail.
    slack_listener_threads: int = Field(32, ge=1)
    gmail_timeout_seconds: float = Field(30.0, gt=0)
    # How long a Slack Web API call may take before the client gives up (a post is then looked up, not resent).
    slack_timeout_seconds: float = Field(15.0, gt=0)
    gmail_retry_attempts: int = Field(5, ge=1)
    gmail_retry_base_seconds: float = Field(0.5, ge=0)
    lease_seconds: int = Field(120, ge=5)
    digest_interval_minutes: int = Field(60, ge=1)
    log_level: str = "INFO"

    @property
    def slack_authorization_url(self) -> str:
        if self.slack_authorize_url:
            return self.slack_authorize_url
        base = self.slack_api_url.rstrip("/")
        if base.endswith("/api"):
            base = base[: -len("/api")]
        return base + "/oauth/v2/authorize"

    @property
    def multi_workspace(self) -> bool:
        """Slack OAuth v2 installs (several workspaces) when client credentials are set."""
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def allowed_team_id_list(self) -> list[str]:
        return split_csv(self.slack_allowed_team_ids)

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def won_stage_list(self) -> list[str]:
        return split_csv(self.won_stages)

    @property
    def lost_stage_list(self) -> list[str]:
        return split_csv(self.lost_stages)

    @property
    def encryption_key_list(self) -> list[str]:
        return split_csv(self.token_encryption_keys or "")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

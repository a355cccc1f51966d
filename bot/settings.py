"""Runtime settings: environment variables, with `.env` read when present.

Every Slack and Google endpoint is a setting so the bot runs unchanged against
the real services, the project's emulators, or any compatible server. The fields are grouped by what they
configure; what a valid value looks like is `bot/setting_values.py`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import setting_values as check
from bot.setting_values import OptionalUrl, Port, Unset, Url, blank_is_unset, is_loopback_url, split_csv
from crm_store.db import POSTGRES_POOL_SIZE

__all__ = ["Settings", "SettingsError", "blank_is_unset", "describe_errors", "get_settings"]

# Where Google publishes the keys that sign its ID tokens, Pub/Sub push tokens included (PEM x509 by key id).
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"


class SettingsError(Exception):
    """A bad setting: one line naming each setting and what is wrong with it (SPEC §6)."""


def describe_errors(error: ValidationError) -> str:
    """pydantic's multi-line report as one line: `DEFAULT_TIMEZONE: unknown time zone …; PORT: …`."""
    problems = []
    for item in error.errors():
        loc = item.get("loc") or ()
        # The field alone: pydantic adds union members and validator names after it (`metrics_port`, `int`).
        name = str(loc[0]).upper() if loc and loc[0] != "__root__" else ""
        message = str(item.get("msg", "invalid value"))
        for prefix in ("Value error, ", "Assertion failed, "):
            if message.startswith(prefix):
                message = message[len(prefix):]
        problems.append(f"setting {name}: {message}" if name else f"settings: {message}")
    return "; ".join(problems)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: Annotated[str, AfterValidator(check.database_url)] = "sqlite:///mailmagnet.db"

    slack_bot_token: Annotated[str | None, AfterValidator(check.bot_token)] = None
    slack_signing_secret: str | None = None
    slack_app_token: Annotated[str | None, AfterValidator(check.app_token)] = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_api_url: Url = "https://slack.com/api/"
    # Slack's install page; derived from SLACK_API_URL when unset (…/api/ -> …/oauth/v2/authorize).
    slack_authorize_url: OptionalUrl = None
    # The organisation's workspaces (SPEC §1): comma-separated team ids, and/or one Enterprise Grid org.
    slack_allowed_team_ids: Annotated[str, AfterValidator(check.team_ids)] = ""
    slack_allowed_enterprise_id: Annotated[str | None, AfterValidator(check.enterprise_id)] = None

    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_auth_uri: Url = "https://accounts.google.com/o/oauth2/auth"
    google_token_uri: Url = "https://oauth2.googleapis.com/token"
    google_revoke_uri: Url = "https://oauth2.googleapis.com/revoke"
    gmail_api_url: Url = "https://gmail.googleapis.com/"

    public_url: Annotated[str, AfterValidator(check.base_url)] = "http://localhost:3000"
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    token_encryption_keys: Annotated[str | None, AfterValidator(check.fernet_keys)] = None
    gmail_pubsub_topic: Annotated[str | None, AfterValidator(check.pubsub_topic)] = None
    # Pub/Sub push authentication (README "Push mode"): the OIDC token Google signs for an authenticated push
    # subscription, checked against these; the query token is the fallback when they are unset.
    pubsub_push_audience: Annotated[str | None, Unset] = None
    pubsub_push_service_account: Annotated[str | None, Unset, AfterValidator(check.service_account)] = None
    google_certs_url: Url = GOOGLE_CERTS_URL
    pubsub_verification_token: Annotated[str | None, Unset] = None

    # Zoho CRM sync (SPEC §6): on when the three credentials are set.
    zoho_client_id: str | None = None
    zoho_client_secret: str | None = None
    zoho_refresh_token: str | None = None
    zoho_accounts_url: Url = "https://accounts.zoho.com"
    zoho_api_url: OptionalUrl = None  # None: the api_domain Zoho's token endpoint names
    # Roles and managers from Zoho's Users API (the grant needs ZohoCRM.users.READ); off: records only.
    zoho_sync_users: bool = True
    crm_sync_interval_seconds: int = Field(300, ge=1)

    sync_interval_seconds: int = Field(60, ge=1)
    label_interval_seconds: int = Field(600, ge=1)
    default_timezone: Annotated[str, AfterValidator(check.known_time_zone)] = "UTC"
    port: Port = 3000

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
    # Backpressure: push runs queued or running at once per replica. A push beyond it is recorded on the mailbox
    # and the polling path takes it (many mailboxes per Gmail round trip), so an overload lengthens latency
    # instead of growing a queue whose every entry holds a lease.
    push_queue_limit: int = Field(96, ge=1)
    # PostgreSQL connections each process keeps, all opened at start; more threads than this take turns
    # (replicas x DB_POOL_SIZE must stay under the server's max_connections).
    db_pool_size: int = Field(POSTGRES_POOL_SIZE, ge=1)
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
    # Follow-ups (SPEC §3): the working day, Monday to Friday in each rep's time zone, that follow-up hours count.
    followup_working_hours: Annotated[str, AfterValidator(check.working_hours)] = "09:00-17:00"
    # None: INFO for `serve`, WARNING for the one-shot commands (they print their own results).
    log_level: Annotated[str | None, Unset, AfterValidator(check.log_level)] = None
    # `text` for a terminal; `json` (one object per line) for a log pipeline.
    log_format: Annotated[Literal["text", "json"], BeforeValidator(check.log_format)] = "text"
    # /metrics (SPEC §6): on a listener of its own (METRICS_PORT), else on PORT behind a bearer token.
    metrics_port: Annotated[Port | None, Unset] = None
    metrics_token: Annotated[str | None, Unset, AfterValidator(check.metrics_token)] = None
    # Tests only (telemetry/failpoints.py reads them from the environment): where to SIGKILL this process.
    mailmagnet_failpoints: Annotated[str | None, Unset, AfterValidator(check.failpoint_list)] = None
    mailmagnet_failpoint_log: Annotated[str | None, Unset] = None

    @property
    def working_hours(self):
        from gmail.followups import WorkingHours

        return WorkingHours.parse(self.followup_working_hours)

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("METRICS_PORT must differ from PORT (metrics get a listener of their own)")
        if bool(self.pubsub_push_audience) != bool(self.pubsub_push_service_account):
            missing = "PUBSUB_PUSH_SERVICE_ACCOUNT" if self.pubsub_push_audience else "PUBSUB_PUSH_AUDIENCE"
            raise ValueError(f"{missing} is required too: a push token is verified against both the audience and "
                             "the service account that signs it")
        return self

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
    def development(self) -> bool:
        """Running against local emulators: every Slack and Google endpoint is on a loopback address."""
        return all(is_loopback_url(url) for url in (self.slack_api_url, self.google_auth_uri,
                                                    self.google_token_uri, self.gmail_api_url))

    @property
    def push_oidc(self) -> bool:
        """Pub/Sub pushes are authenticated by Google's OIDC token (else by the query token, the fallback)."""
        return bool(self.pubsub_push_audience and self.pubsub_push_service_account)

    def startup_warnings(self) -> list[str]:
        """What `serve` tells the operator at start-up, one line each: settings that work but will surprise."""
        warnings = []
        if self.multi_workspace and is_loopback_url(self.public_url) and not self.development:
            warnings.append(f"PUBLIC_URL {self.public_url} is a loopback address: Slack and Google cannot redirect "
                            "installs and consents to it (Google answers redirect_uri_mismatch); set it to the "
                            "server's public https URL")
        if self.metrics_port is None and not self.metrics_token:
            warnings.append("neither METRICS_PORT nor METRICS_TOKEN is set: /metrics answers 403 on the public "
                            "port")
        if self.gmail_pubsub_topic and not self.push_oidc:
            warnings.append("GMAIL_PUBSUB_TOPIC is set without PUBSUB_PUSH_AUDIENCE/PUBSUB_PUSH_SERVICE_ACCOUNT: "
                            "pushes are checked by the query token only (it ends up in proxy logs); use an "
                            "authenticated push subscription")
        return warnings

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
    """The settings from the environment and .env; a bad value raises SettingsError (one line)."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_errors(error)) from None

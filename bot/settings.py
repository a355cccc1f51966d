"""Runtime settings: environment variables, with `.env` read when present.

Every Slack and Google endpoint is a setting so the bot runs unchanged against
the real services, the project's emulators, or any compatible server.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from telemetry import failpoints

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Where Google publishes the keys that sign its ID tokens, Pub/Sub push tokens included (PEM x509 by key id).
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"


class SettingsError(Exception):
    """A bad setting: one line naming each setting and what is wrong with it (SPEC §6)."""


def split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def http_url(value: str) -> str:
    """An endpoint: http or https, with a host. A typo here otherwise surfaces as a confusing error on the
    first request that needs the endpoint, minutes or days after start-up."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        raise ValueError(f"{value!r} is not a URL ({error})")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r} must start with https:// (or http://)")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host name")
    if any(character.isspace() for character in value):
        raise ValueError(f"{value!r} contains a space")
    return value


def base_url(value: str) -> str:
    """PUBLIC_URL: paths (/gmail/oauth/callback, …) are appended to it, so it carries no query or fragment."""
    http_url(value)
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} must not have a query (?…) or fragment (#…): paths are appended to it")
    return value


# Shapes Slack and Google give these ids; a typo here otherwise shows up as a refusal much later.
SLACK_TEAM_ID = re.compile(r"^T[A-Z0-9]{2,20}$")
SLACK_ENTERPRISE_ID = re.compile(r"^E[A-Z0-9]{2,20}$")
PUBSUB_TOPIC = re.compile(r"^projects/[a-z][a-z0-9.:-]{3,62}/topics/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$")
DATABASE_DIALECTS = ("sqlite", "postgresql")


def blank_is_unset(value):
    """`FOO=` in a .env file means "not set", not an empty URL or number."""
    return None if isinstance(value, str) and not value.strip() else value


Url = Annotated[str, AfterValidator(http_url)]
OptionalUrl = Annotated[str | None, BeforeValidator(blank_is_unset), AfterValidator(
    lambda value: None if value is None else http_url(value))]
Port = Annotated[int, Field(ge=1, le=65535)]


def is_loopback_url(url: str | None) -> bool:
    host = (urlsplit(url).hostname or "") if url else ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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

    database_url: str = "sqlite:///mailmagnet.db"

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_api_url: Url = "https://slack.com/api/"
    # Slack's install page; derived from SLACK_API_URL when unset (…/api/ -> …/oauth/v2/authorize).
    slack_authorize_url: OptionalUrl = None
    # The organisation's workspaces (SPEC §1): comma-separated team ids, and/or one Enterprise Grid org.
    slack_allowed_team_ids: str = ""
    slack_allowed_enterprise_id: str | None = None

    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_auth_uri: Url = "https://accounts.google.com/o/oauth2/auth"
    google_token_uri: Url = "https://oauth2.googleapis.com/token"
    google_revoke_uri: Url = "https://oauth2.googleapis.com/revoke"
    gmail_api_url: Url = "https://gmail.googleapis.com/"

    public_url: Annotated[str, AfterValidator(base_url)] = "http://localhost:3000"
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    token_encryption_keys: str | None = None
    gmail_pubsub_topic: str | None = None
    # Pub/Sub push authentication (README "Push mode"): the OIDC token Google signs for an authenticated push
    # subscription, checked against these; the query token is the fallback when they are unset.
    pubsub_push_audience: Annotated[str | None, BeforeValidator(blank_is_unset)] = None
    pubsub_push_service_account: Annotated[str | None, BeforeValidator(blank_is_unset)] = None
    google_certs_url: Url = GOOGLE_CERTS_URL
    pubsub_verification_token: Annotated[str | None, BeforeValidator(blank_is_unset)] = None

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
    default_timezone: str = "UTC"
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
    followup_working_hours: str = "09:00-17:00"
    # None: INFO for `serve`, WARNING for the one-shot commands (they print their own results).
    log_level: Annotated[str | None, BeforeValidator(blank_is_unset)] = None
    # `text` for a terminal; `json` (one object per line) for a log pipeline.
    log_format: Literal["text", "json"] = "text"
    # /metrics (SPEC §6): on a listener of its own (METRICS_PORT), else on PORT behind a bearer token.
    metrics_port: Annotated[Port | None, BeforeValidator(blank_is_unset)] = None
    metrics_token: Annotated[str | None, BeforeValidator(blank_is_unset)] = None
    # Tests only (telemetry/failpoints.py reads them from the environment): where to SIGKILL this process.
    mailmagnet_failpoints: Annotated[str | None, BeforeValidator(blank_is_unset)] = None
    mailmagnet_failpoint_log: Annotated[str | None, BeforeValidator(blank_is_unset)] = None

    @field_validator("default_timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value

    @field_validator("followup_working_hours")
    @classmethod
    def _working_hours(cls, value: str) -> str:
        from gmail.followups import WorkingHours

        WorkingHours.parse(value)  # raises ValueError with the reason
        return value.strip()

    @property
    def working_hours(self):
        from gmail.followups import WorkingHours

        return WorkingHours.parse(self.followup_working_hours)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level (one of {', '.join(LOG_LEVELS)})")
        return value.strip().upper()

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value):
        if isinstance(value, str) and value.strip().lower() in ("text", "json"):
            return value.strip().lower()
        if isinstance(value, str):
            raise ValueError(f"{value!r} is not a log format (text or json)")
        return value

    @field_validator("mailmagnet_failpoints")
    @classmethod
    def _failpoints(cls, value: str | None) -> str | None:
        if value is not None:
            failpoints.parse(value)  # ValueError naming the bad item
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str | None) -> str | None:
        # Anyone who reaches the public port may try tokens: a short one is guessable.
        if value is not None and len(value) < 16:
            raise ValueError("must be at least 16 characters (e.g. python -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))')")
        return value

    @field_validator("pubsub_push_service_account")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is not None and ("@" not in value or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} is not a service account email (name@project.iam.gserviceaccount.com)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            url = None
        if url is None or url.get_backend_name() not in DATABASE_DIALECTS:
            # The URL may hold a password: it is not repeated here.
            raise ValueError("is not an SQLite or PostgreSQL URL (sqlite:///mailmagnet.db or "
                             "postgresql+psycopg://user:password@host/dbname)")
        return value

    @field_validator("token_encryption_keys")
    @classmethod
    def _fernet_keys(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return value  # required only by what encrypts (checked where it is needed, with its reason)
        keys = split_csv(value)
        for number, key in enumerate(keys, 1):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError):
                # Never the key itself: it is a secret.
                raise ValueError(f"key {number} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded "
                                 "bytes; make one with python -c 'from cryptography.fernet import Fernet; "
                                 "print(Fernet.generate_key().decode())')") from None
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str | None) -> str | None:
        if value and not value.startswith("xoxb-"):
            raise ValueError("must be the app's bot token (xoxb-…), not a user (xoxp-) or app-level (xapp-) token")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if value and not value.startswith("xapp-"):
            raise ValueError("must be an app-level token (xapp-…, with connections:write) for Socket Mode")
        return value

    @field_validator("slack_allowed_team_ids")
    @classmethod
    def _team_ids(cls, value: str) -> str:
        bad = [team for team in split_csv(value) if not SLACK_TEAM_ID.match(team)]
        if bad:
            raise ValueError(f"{', '.join(repr(b) for b in bad[:3])} is not a Slack workspace id (T0123ABCD, "
                             "comma-separated)")
        return value

    @field_validator("slack_allowed_enterprise_id")
    @classmethod
    def _enterprise_id(cls, value: str | None) -> str | None:
        if value and not SLACK_ENTERPRISE_ID.match(value.strip()):
            raise ValueError(f"{value!r} is not a Slack Enterprise Grid id (E0123ABCD)")
        return value.strip() if value else value

    @field_validator("gmail_pubsub_topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value and not PUBSUB_TOPIC.match(value.strip()):
            raise ValueError(f"{value!r} is not a Pub/Sub topic name (projects/<project id>/topics/<topic>)")
        return value.strip() if value else value

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

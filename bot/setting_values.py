"""What a valid value of each setting looks like: the checks `bot/settings.py` attaches to its fields.

Each check raises ValueError with the problem only; `describe_errors` puts the setting's name in front
(`setting NAME: problem`). A secret is never repeated in the message.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import AfterValidator, BeforeValidator, Field
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from telemetry import failpoints

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Shapes Slack and Google give these ids; a typo here otherwise shows up as a refusal much later.
SLACK_TEAM_ID = re.compile(r"^T[A-Z0-9]{2,20}$")
SLACK_ENTERPRISE_ID = re.compile(r"^E[A-Z0-9]{2,20}$")
PUBSUB_TOPIC = re.compile(r"^projects/[a-z][a-z0-9.:-]{3,62}/topics/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$")
DATABASE_DIALECTS = ("sqlite", "postgresql")


def split_csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def blank_is_unset(value):
    """`FOO=` in a .env file means "not set", not an empty URL or number."""
    return None if isinstance(value, str) and not value.strip() else value


def is_loopback_url(url: str | None) -> bool:
    host = (urlsplit(url).hostname or "") if url else ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
    return value


def working_hours(value: str) -> str:
    from gmail.followups import WorkingHours

    WorkingHours.parse(value)  # raises ValueError with the reason
    return value.strip()


def log_level(value: str | None) -> str | None:
    if value is None:
        return None
    if value.strip().upper() not in LOG_LEVELS:
        raise ValueError(f"{value!r} is not a log level (one of {', '.join(LOG_LEVELS)})")
    return value.strip().upper()


def log_format(value):
    if isinstance(value, str) and value.strip().lower() in ("text", "json"):
        return value.strip().lower()
    if isinstance(value, str):
        raise ValueError(f"{value!r} is not a log format (text or json)")
    return value


def failpoint_list(value: str | None) -> str | None:
    if value is not None:
        failpoints.parse(value)  # ValueError naming the bad item
    return value


def metrics_token(value: str | None) -> str | None:
    # Anyone who reaches the public port may try tokens: a short one is guessable.
    if value is not None and len(value) < 16:
        raise ValueError("must be at least 16 characters (e.g. python -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))')")
    return value


def service_account(value: str | None) -> str | None:
    if value is not None and ("@" not in value or any(c.isspace() for c in value)):
        raise ValueError(f"{value!r} is not a service account email (name@project.iam.gserviceaccount.com)")
    return value


def database_url(value: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in DATABASE_DIALECTS:
        # The URL may hold a password: it is not repeated here.
        raise ValueError("is not an SQLite or PostgreSQL URL (sqlite:///mailmagnet.db or "
                         "postgresql+psycopg://user:password@host/dbname)")
    return value


def fernet_keys(value: str | None) -> str | None:
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


def bot_token(value: str | None) -> str | None:
    if value and not value.startswith("xoxb-"):
        raise ValueError("must be the app's bot token (xoxb-…), not a user (xoxp-) or app-level (xapp-) token")
    return value


def app_token(value: str | None) -> str | None:
    if value and not value.startswith("xapp-"):
        raise ValueError("must be an app-level token (xapp-…, with connections:write) for Socket Mode")
    return value


def team_ids(value: str) -> str:
    bad = [team for team in split_csv(value) if not SLACK_TEAM_ID.match(team)]
    if bad:
        raise ValueError(f"{', '.join(repr(b) for b in bad[:3])} is not a Slack workspace id (T0123ABCD, "
                         "comma-separated)")
    return value


def enterprise_id(value: str | None) -> str | None:
    if value and not SLACK_ENTERPRISE_ID.match(value.strip()):
        raise ValueError(f"{value!r} is not a Slack Enterprise Grid id (E0123ABCD)")
    return value.strip() if value else value


def pubsub_topic(value: str | None) -> str | None:
    if value and not PUBSUB_TOPIC.match(value.strip()):
        raise ValueError(f"{value!r} is not a Pub/Sub topic name (projects/<project id>/topics/<topic>)")
    return value.strip() if value else value


Url = Annotated[str, AfterValidator(http_url)]
OptionalUrl = Annotated[str | None, BeforeValidator(blank_is_unset), AfterValidator(
    lambda value: None if value is None else http_url(value))]
Port = Annotated[int, Field(ge=1, le=65535)]
Unset = BeforeValidator(blank_is_unset)  # for optional text: blank is None

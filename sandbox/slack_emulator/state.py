"""The emulator's workspace model: teams, users, channels, tokens, calls.

Plain data; `SlackEmulator` owns the lock that guards all of it.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ID_ALPHABET = string.ascii_uppercase + string.digits


def random_id(prefix: str, length: int = 10) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def stable_id(prefix: str, *parts: str, length: int = 10) -> str:
    """An id derived from `parts`: the same user always gets the same DM id."""
    digest = hashlib.sha1(":".join(parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode().rstrip("=")[:length]


def encode_cursor(kind: str, value: str) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def decode_cursor(cursor: str, kind: str) -> str | None:
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix = f"{kind}:"
    return decoded[len(prefix):] if decoded.startswith(prefix) else None


def domain_from_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    return cleaned or "workspace"


@dataclass
class Team:
    id: str
    name: str
    domain: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    app_id: str
    bot_name: str = "mailmagnet"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, "Channel"] = field(default_factory=dict)
    usergroups: dict[str, "Usergroup"] = field(default_factory=dict)
    installed: bool = True

    def team_object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": f"https://{self.domain}.slack.com/",
            "domain": self.domain,
            "email_domain": "",
            "icon": {"image_default": True},
            "avatar_base_url": "https://ca.slack-edge.com/",
            "is_verified": False,
        }


@dataclass
class Channel:
    id: str
    team_id: str
    name: str
    members: list[str]
    created: int
    creator: str = ""
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    im_user: str | None = None
    is_archived: bool = False
    is_general: bool = False
    topic: str = ""
    purpose: str = ""
    opened: bool = False
    # Sharing beyond this workspace: Slack Connect (another organisation, `is_ext_shared`; pending while the
    # invitation is not accepted) or other workspaces of an Enterprise Grid org (`is_org_shared`).
    is_ext_shared: bool = False
    is_pending_ext_shared: bool = False
    is_org_shared: bool = False
    other_team_ids: list[str] = field(default_factory=list)
    # Messages in posting order, API-shaped plus a "channel" key.
    messages: list[dict[str, Any]] = field(default_factory=list)

    def find(self, ts: str) -> dict[str, Any] | None:
        for message in self.messages:
            if message["ts"] == ts:
                return message
        return None

    def channel_object(self, *, bot_user_id: str, include_num_members: bool = False) -> dict[str, Any]:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
                "context_team_id": self.team_id,
                "is_open": self.opened,
                "last_read": "0000000000.000000",
                "latest": None,
                "unread_count": 0,
                "unread_count_display": 0,
            }
        obj: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_mpim,
            "is_group": self.is_private and not self.is_mpim,
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_mpim,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": self.is_general,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": self.is_ext_shared or self.is_org_shared,
            "is_org_shared": self.is_org_shared,
            "is_pending_ext_shared": self.is_pending_ext_shared,
            "pending_shared": list(self.other_team_ids) if self.is_pending_ext_shared else [],
            "context_team_id": self.team_id,
            "creator": self.creator,
            "is_ext_shared": self.is_ext_shared,
            "shared_team_ids": [self.team_id] + ([] if self.is_pending_ext_shared else list(self.other_team_ids)),
            "is_member": bot_user_id in self.members,
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
        }
        if include_num_members:
            obj["num_members"] = len(self.members)
        return obj


@dataclass
class Usergroup:
    """A user group (`@sales`): what usergroups.list and usergroups.users.list answer about it."""

    id: str
    team_id: str
    handle: str
    name: str
    users: list[str]
    created: int
    updated: int
    description: str = ""
    created_by: str = "USLACKBOT"
    disabled: bool = False

    def usergroup_object(self, *, include_users: bool, include_count: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": self.name,
            "description": self.description,
            "handle": self.handle,
            "is_external": False,
            "date_create": self.created,
            "date_update": self.updated,
            # Slack disables (never deletes) a group: date_delete is when it was disabled, 0 while enabled.
            "date_delete": self.updated if self.disabled else 0,
            "auto_type": None,
            "created_by": self.created_by,
            "updated_by": self.created_by,
            "deleted_by": None,
            "prefs": {"channels": [], "groups": []},
        }
        if include_users:
            obj["users"] = list(self.users)
        if include_count:
            obj["user_count"] = len(self.users)
        return obj


@dataclass
class TokenInfo:
    token: str
    team_id: str
    kind: str  # "bot" or "user"
    user_id: str
    scopes: str = ""
    revoked: bool = False


@dataclass
class Call:
    """One Web API call as the emulator received it."""

    method: str
    params: dict[str, Any]
    token: str | None
    team_id: str | None
    time: float
    http_status: int = 200
    response: dict[str, Any] | None = None
    latency_ms: float = 0.0  # latency added by set_latency (inject_delay not included)
    # A Fault with a rate that failed this call ("500", "reset"…); http_status 0 and no response: no answer at all.
    fault: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return (self.response or {}).get("error")

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


@dataclass
class ResponseUrl:
    key: str
    team_id: str
    channel_id: str
    user_id: str
    created: float
    uses: int = 0
    # What `replace_original` / `delete_original` act on: ("message", channel, ts),
    # ("ephemeral", channel, message_ts) or None before anything was posted.
    original: tuple[str, str, str] | None = None


@dataclass
class Trigger:
    trigger_id: str
    team_id: str
    user_id: str
    created: float
    exchanged: bool = False


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_uri: str | None = None


@dataclass
class OAuthCode:
    code: str
    client_id: str
    team_id: str
    user_id: str
    scope: str
    user_scope: str
    redirect_uri: str | None
    created: float
    used: bool = False


def user_object(team: Team, user: dict[str, Any]) -> dict[str, Any]:
    """The `user` object of users.info for one of the emulator's users."""
    tz_name = user.get("tz") or "America/Los_Angeles"
    try:
        now = datetime.now(ZoneInfo(tz_name))
        offset = int(now.utcoffset().total_seconds()) if now.utcoffset() is not None else 0
        tz_label = now.tzname() or tz_name
    except (ZoneInfoNotFoundError, ValueError):
        offset, tz_label = 0, tz_name
    real_name = user.get("real_name") or user["name"]
    first, _, last = real_name.partition(" ")
    profile: dict[str, Any] = {
        "title": user.get("title", ""),
        "phone": "",
        "real_name": real_name,
        "real_name_normalized": real_name,
        "display_name": user.get("display_name", ""),
        "display_name_normalized": user.get("display_name", ""),
        "first_name": first,
        "last_name": last,
        "status_text": "",
        "status_emoji": "",
        "avatar_hash": "g000000000",
        "image_24": "https://secure.gravatar.com/avatar/0.jpg?s=24",
        "image_48": "https://secure.gravatar.com/avatar/0.jpg?s=48",
        "image_72": "https://secure.gravatar.com/avatar/0.jpg?s=72",
        "team": team.id,
    }
    if user.get("email") and not user.get("is_bot"):
        profile["email"] = user["email"]
    if user.get("is_bot"):
        profile["bot_id"] = user.get("bot_id", team.bot_id)
        profile["api_app_id"] = team.app_id
    return {
        "id": user["id"],
        "team_id": team.id,
        "name": user["name"],
        "deleted": bool(user.get("deleted")),
        "color": "9f69e7",
        "real_name": real_name,
        "tz": tz_name,
        "tz_label": tz_label,
        "tz_offset": offset,
        "profile": profile,
        "is_admin": bool(user.get("is_admin")),
        "is_owner": bool(user.get("is_owner")),
        "is_primary_owner": bool(user.get("is_primary_owner")),
        "is_restricted": bool(user.get("is_restricted")),
        "is_ultra_restricted": False,
        "is_bot": bool(user.get("is_bot")),
        "is_app_user": False,
        "updated": int(user.get("updated", time.time())),
        # Slack confirms a person's email; set_user(..., is_email_confirmed=False) plays one it has not.
        "is_email_confirmed": bool(user.get("is_email_confirmed", not user.get("is_bot"))),
        "has_2fa": False,
    }


class ApiError(Exception):
    """A Web API failure: `{"ok": false, "error": …}` with Slack's HTTP status."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages or []
        self.extra = extra or {}
        self.headers = headers or {}  # HTTP response headers, e.g. Retry-After with a 429

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": list(self.messages)}
        return body

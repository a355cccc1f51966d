"""Who sent a Slack request: users.info, cached briefly (every command needs it; Slack rate-limits it)."""
from __future__ import annotations

import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from crm_store.identity import SlackIdentity

TTL_SECONDS = 300.0
_cache: dict[tuple[str, str], tuple[float, SlackIdentity]] = {}
_lock = threading.Lock()


def slack_identity(client: WebClient, team_id: str, user_id: str) -> SlackIdentity:
    key = (team_id, user_id)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
        if cached and now - cached[0] < TTL_SECONDS:
            return cached[1]
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError:
        # Without users.info we still know who asked; only email linking and admin rights are unknown.
        return SlackIdentity(team_id=team_id, user_id=user_id)
    profile = user.get("profile", {})
    identity = SlackIdentity(
        team_id=team_id,
        user_id=user_id,
        email=(profile.get("email") or "").lower() or None,
        name=profile.get("real_name") or user.get("real_name") or user.get("name"),
        tz=user.get("tz"),
        is_workspace_admin=bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
    )
    with _lock:
        _cache[key] = (now, identity)
    return identity


def forget(team_id: str, user_id: str) -> None:
    with _lock:
        _cache.pop((team_id, user_id), None)


def clear_cache() -> None:
    with _lock:
        _cache.clear()

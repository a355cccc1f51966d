"""The use cases' view of Slack (usecases.context.SlackDirectory), on slack_sdk, with short caches.

users.info is needed for every unlinked sender and every admin decision, and Slack rate-limits it, so answers
are kept for a few minutes (a linked sender's is refreshed in the background, off the reply's path);
channel facts and members change more often and are kept briefly. auth.test (which workspace the single
bot token belongs to) is asked once per process.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Generic, Hashable, TypeVar

from slack_sdk.errors import SlackApiError

from bot.slack_clients import SlackClients
from usecases.context import ChannelInfo, ChannelNotFound, SlackIdentity, UsergroupNotFound

log = logging.getLogger(__name__)

USER_TTL = 300.0
CHANNEL_TTL = 30.0
CHANNEL_LIST_PAGES = 20  # conversations.list pages searched for a bare #name (200 channels each)

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, ttl: float):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._items: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable, load: Callable[[], V], keep: Callable[[V], bool] = lambda _: True) -> V:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        value = load()
        if keep(value):
            with self._lock:
                self._items[key] = (now, value)
        return value

    def peek(self, key: Hashable) -> V | None:
        """The cached value, if fresh; never loads."""
        with self._lock:
            hit = self._items.get(key)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < self.ttl else None

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _shared_with(info: dict, team_id: str) -> tuple[str, ...]:
    """The workspaces (or Grid orgs) a channel reaches besides the one asking, invitations pending included."""
    ids = []
    for key in ("shared_team_ids", "pending_shared", "internal_team_ids"):
        value = info.get(key)
        if isinstance(value, list):
            ids += [t for t in value if isinstance(t, str)]
    own = {team_id, info.get("context_team_id")}
    return tuple(dict.fromkeys(t for t in ids if t not in own))


class SlackDirectory:
    def __init__(self, slack: SlackClients):
        self.slack = slack
        self._users: TtlCache[SlackIdentity] = TtlCache(USER_TTL)
        self._channels: TtlCache[ChannelInfo] = TtlCache(CHANNEL_TTL)
        self._members: TtlCache[list[str]] = TtlCache(CHANNEL_TTL)
        self._bot_users: TtlCache[str | None] = TtlCache(3600.0)
        self._token_workspace: tuple[str | None, str | None] | None = None
        self._lock = threading.Lock()
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="slack-directory")

    def _client(self, team_id: str):
        client = self.slack.for_team(team_id)
        if client is None:
            raise ChannelNotFound(f"MailMagnet has no Slack token for workspace {team_id}.")
        return client

    # -- users ---------------------------------------------------------------------------------------

    def user(self, team_id: str, user_id: str) -> SlackIdentity:
        # A failed users.info is not worth remembering: ask again next time.
        return self._users.get((team_id, user_id), lambda: self._load_user(team_id, user_id),
                               keep=lambda identity: identity.known)

    def close(self) -> None:
        """Stop the background look-ups (the server stops): queued ones are dropped, idle threads end."""
        self._background.shutdown(wait=False, cancel_futures=True)

    def cached_user(self, team_id: str, user_id: str) -> SlackIdentity | None:
        return self._users.peek((team_id, user_id))

    def refresh_user(self, team_id: str, user_id: str) -> None:
        """users.info in the background, into the cache: a linked user's profile kept current without a wait."""
        try:
            self._background.submit(self.user, team_id, user_id)
        except RuntimeError:  # shutting down
            pass

    def _load_user(self, team_id: str, user_id: str) -> SlackIdentity:
        try:
            user = self._client(team_id).users_info(user=user_id)["user"]
        except (SlackApiError, ChannelNotFound) as error:
            # Without users.info we still know who asked; only email linking and admin rights are unknown.
            log.info("users.info for %s failed: %s", user_id, error)
            return SlackIdentity(team_id=team_id, user_id=user_id, known=False)
        profile = user.get("profile", {})
        return SlackIdentity(
            team_id=team_id,
            user_id=user_id,
            email=(profile.get("email") or "").lower() or None,
            name=profile.get("real_name") or user.get("real_name") or user.get("name"),
            tz=user.get("tz"),
            is_workspace_admin=bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
            is_bot=bool(user.get("is_bot") or user.get("is_app_user")),
            # Only a confirmed address is proof of who someone is (SPEC §1); absent counts as not confirmed.
            email_confirmed=user.get("is_email_confirmed") is True,
        )

    def forget(self, team_id: str, user_id: str) -> None:
        self._users.forget((team_id, user_id))

    def clear(self) -> None:
        for cache in (self._users, self._channels, self._members, self._bot_users):
            cache.clear()

    # -- channels -------------------------------------------------------------------------------------

    def channel(self, team_id: str, channel_id: str) -> ChannelInfo:
        return self._channels.get((team_id, channel_id), lambda: self._load_channel(team_id, channel_id))

    def _load_channel(self, team_id: str, channel_id: str) -> ChannelInfo:
        try:
            info = self._client(team_id).conversations_info(channel=channel_id)["channel"]
        except SlackApiError as error:
            if error.response.get("error") in ("channel_not_found", "not_in_channel", "missing_scope"):
                raise ChannelNotFound(f"MailMagnet cannot see <#{channel_id}>.") from None
            raise
        return ChannelInfo(
            id=info.get("id") or channel_id, name=info.get("name") or channel_id,
            is_private=bool(info.get("is_private") or info.get("is_group") or info.get("is_mpim")
                            or info.get("is_im")),
            is_archived=bool(info.get("is_archived")), is_direct=bool(info.get("is_im") or info.get("is_mpim")),
            bot_is_member=bool(info.get("is_member")),
            is_ext_shared=bool(info.get("is_ext_shared") or info.get("is_pending_ext_shared")),
            shared_with=_shared_with(info, team_id),
        )

    def find_channel(self, team_id: str, name: str) -> str | None:
        client = self._client(team_id)
        cursor = None
        for _ in range(CHANNEL_LIST_PAGES):
            page = client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                             limit=200, cursor=cursor)
            for channel in page.get("channels", []):
                if channel.get("name") == name:
                    return channel["id"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def channel_members(self, team_id: str, channel_id: str) -> list[str]:
        return self._members.get((team_id, channel_id), lambda: self._load_members(team_id, channel_id))

    def _load_members(self, team_id: str, channel_id: str) -> list[str]:
        client = self._client(team_id)
        members: list[str] = []
        cursor = None
        try:
            while True:
                page = client.conversations_members(channel=channel_id, limit=200, cursor=cursor)
                members.extend(page["members"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as error:
            if error.response.get("error") in ("channel_not_found", "not_in_channel"):
                raise ChannelNotFound(f"MailMagnet cannot see <#{channel_id}>.") from None
            raise
        bot = self.bot_user(team_id)
        return [m for m in members if m != bot]

    def usergroup_members(self, team_id: str, usergroup_id: str) -> list[str]:
        """Asked fresh each time: a grant must see the group as it is now."""
        try:
            answer = self._client(team_id).usergroups_users_list(usergroup=usergroup_id)
        except (SlackApiError, ChannelNotFound) as error:
            code = error.response.get("error") if isinstance(error, SlackApiError) else "no_token"
            log.info("usergroups.users.list for %s failed: %s", usergroup_id, code)
            raise UsergroupNotFound(code) from None
        users = answer.get("users")
        return [u for u in users if isinstance(u, str)] if isinstance(users, list) else []

    def bot_user(self, team_id: str) -> str | None:
        def load() -> str | None:
            try:
                return self._client(team_id).auth_test().get("user_id")
            except SlackApiError:
                return None

        return self._bot_users.get(team_id, load)

    def workspace_of_token(self) -> tuple[str | None, str | None]:
        """The single bot token's workspace (auth.test), asked once; a failure is asked again next time."""
        with self._lock:
            if self._token_workspace is not None:
                return self._token_workspace
        token = self.slack.settings.slack_bot_token
        if not token:
            return None, None
        from bot.slack_clients import make_client

        try:
            answer = make_client(self.slack.settings, token).auth_test()
        except SlackApiError as error:
            log.warning("auth.test failed: %s", error.response.get("error"))
            return None, None
        except Exception as error:  # noqa: BLE001 - Slack unreachable: refuse now, ask again next time
            log.warning("auth.test failed: %s", error)
            return None, None
        found = (answer.get("team_id"), answer.get("enterprise_id") or None)
        with self._lock:
            self._token_workspace = found
        return found

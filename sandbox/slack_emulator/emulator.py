"""SlackEmulator: a Slack Web API, OAuth v2 and response_url server on loopback.

The bot talks to it through `SLACK_API_URL` (`WebClient(base_url=emu.api_url)`),
the tests read what the bot did through the recording helpers (`calls`,
`messages`, `dms`, `ephemerals`, `response_url_posts`, `views_opened`…), and
`SlackDriver` plays Slack's side of inbound requests.

Everything lives in memory behind one lock; the HTTP server answers on daemon
threads, so a test that forgets `stop()` does not hang the interpreter.
"""
from __future__ import annotations

import copy
import json
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

from ..latency import LatencyTable
from .faults import Fault
from .files import UPLOAD_URL_TTL, UploadedFile, parse_upload_body
from .post_rate import ChannelPostRate
from .socket_mode import SocketModeHub
from .state import (
    ApiError,
    Call,
    Channel,
    OAuthApp,
    OAuthCode,
    ResponseUrl,
    Team,
    TokenInfo,
    Trigger,
    Usergroup,
    domain_from_name,
    random_id,
    stable_id,
    user_object,
)

logger = logging.getLogger(__name__)

DEFAULT_BOT_SCOPES = (
    "chat:write,commands,im:write,im:history,users:read,users:read.email,channels:read,groups:read,"
    "usergroups:read,files:write,files:read"
)

EventCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class _Fault:
    kind: str  # "ratelimit" or "error"
    remaining: int
    retry_after: int = 1
    error: str = "internal_error"
    status: int = 200


@dataclass
class _Delay:
    seconds: float
    remaining: int | None  # None: every call until cleared


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open many connections at once; the default backlog of 5 resets some of them.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], emulator: "SlackEmulator") -> None:
        from .server import SlackEmulatorHandler

        self.emulator = emulator
        super().__init__(address, SlackEmulatorHandler)


class SlackEmulator:
    """A fake Slack workspace (or several) reachable over real HTTP."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        app_id: str = "A0MAILMAGNT",
        trigger_id_ttl: float | None = 3.0,
        response_url_ttl: float = 30 * 60,
        response_url_max_uses: int = 5,
        oauth_code_ttl: float = 10 * 60,
        max_history_limit: int = 999,
    ) -> None:
        self.host = host
        self.port = port
        self.app_id = app_id
        # Slack's limits, adjustable for tests that need to step outside them.
        self.trigger_id_ttl = trigger_id_ttl
        self.response_url_ttl = response_url_ttl
        self.response_url_max_uses = response_url_max_uses
        self.oauth_code_ttl = oauth_code_ttl
        # Slack caps conversations.history/replies `limit` (999; 15 for
        # non-Marketplace apps created after May 2025): set 15 to rehearse that.
        self.max_history_limit = max_history_limit

        self._lock = threading.RLock()
        self._stopping = threading.Event()  # ends the wait of a "timeout" fault when the emulator stops
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self.teams: dict[str, Team] = {}
        self._tokens: dict[str, TokenInfo] = {}
        self._calls: list[Call] = []
        self._ephemerals: list[dict[str, Any]] = []
        self._response_urls: dict[str, ResponseUrl] = {}
        self._response_posts: list[dict[str, Any]] = []
        # The first post to each response_url, and a condition to wait on one without re-reading every post
        # (a load generator waiting for a thousand answers would otherwise scan the whole list each time).
        self._first_response_posts: dict[str, dict[str, Any]] = {}
        self._response_posted = threading.Condition(self._lock)
        self._triggers: dict[str, Trigger] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._view_owner: dict[str, tuple[str, str]] = {}
        self._modal_stacks: dict[tuple[str, str], list[str]] = {}
        self._home_views: dict[tuple[str, str], str] = {}
        self._view_calls: list[dict[str, Any]] = []
        self._oauth_apps: dict[str, OAuthApp] = {}
        self._oauth_codes: dict[str, OAuthCode] = {}
        self._install_target: tuple[str, str, bool] | None = None
        self.installations: list[dict[str, Any]] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, _Delay] = {}
        self._rated_faults: list[Fault] = []
        # Real-world conditions for benchmarks, all off until set.
        self._latency = LatencyTable()
        self._post_rate: ChannelPostRate | None = None
        self._ratelimited_posts: dict[str, int] = {}
        self._calls_lock = threading.Lock()  # concurrency gauge only: never held while a call waits
        self._active_calls = 0
        self._peak_calls = 0
        self._event_subscribers: list[EventCallback] = []
        # Files upload v2: every file by id, and the upload URL tickets not yet completed.
        self._files: dict[str, UploadedFile] = {}
        self._upload_tickets: dict[str, str] = {}
        self.upload_url_ttl = UPLOAD_URL_TTL
        self._last_ts_us = 0
        self._install_counter = 0
        # Socket Mode: app-level tokens, apps.connections.open tickets, WebSocket connections, envelopes, acks.
        self.socket_mode = SocketModeHub(self)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "SlackEmulator":
        if self._server is not None:
            return self
        self._stopping.clear()
        self.socket_mode.start()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self.socket_mode.stop()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SlackEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started; call start() first")
        return f"http://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    @property
    def authorize_url(self) -> str:
        """Where the bot's install page should send the browser (Slack's /oauth/v2/authorize)."""
        return self.url + "oauth/v2/authorize"

    # ------------------------------------------------------------------ workspace setup

    def add_team(
        self,
        team_id: str,
        name: str | None = None,
        bot_token: str | None = None,
        bot_user_id: str | None = None,
        *,
        bot_id: str | None = None,
        domain: str | None = None,
        bot_name: str = "mailmagnet",
        scopes: str = DEFAULT_BOT_SCOPES,
    ) -> Team:
        with self._lock:
            name = name or team_id
            team = Team(
                id=team_id,
                name=name,
                domain=domain or domain_from_name(name),
                bot_token=bot_token or f"xoxb-{team_id}-emulator-{secrets.token_hex(6)}",
                bot_user_id=bot_user_id or stable_id("U", team_id, "bot", length=9),
                bot_id=bot_id or stable_id("B", team_id, "bot", length=9),
                app_id=self.app_id,
                bot_name=bot_name,
            )
            self.teams[team_id] = team
            team.users[team.bot_user_id] = {
                "id": team.bot_user_id,
                "name": bot_name,
                "real_name": bot_name,
                "is_bot": True,
                "bot_id": team.bot_id,
                "tz": "America/Los_Angeles",
            }
            self._tokens[team.bot_token] = TokenInfo(team.bot_token, team_id, "bot", team.bot_user_id, scopes)
            return team

    def default_team(self) -> Team:
        """The first workspace; creates T0001 "Acme" (bot U0BOT) when there is none."""
        with self._lock:
            if not self.teams:
                self.add_team("T0001", name="Acme", bot_token="xoxb-T0001-emulator", bot_user_id="U0BOT")
            return next(iter(self.teams.values()))

    def team(self, team_id: str | None = None) -> Team:
        if team_id is None:
            return self.default_team()
        try:
            return self.teams[team_id]
        except KeyError:
            raise KeyError(f"unknown team {team_id!r}; add it with add_team()") from None

    def add_user(
        self,
        team_id: str,
        user_id: str,
        email: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        *,
        name: str | None = None,
        deleted: bool = False,
        is_primary_owner: bool = False,
        is_restricted: bool = False,
        display_name: str = "",
        title: str = "",
        is_email_confirmed: bool | None = None,
    ) -> dict[str, Any]:
        """A person (or bot) of the workspace; users.info shows `tz`, `is_admin`, `is_owner`,
        `is_email_confirmed` (default: confirmed for people, as Slack confirms an address at sign-up)."""
        with self._lock:
            team = self.team(team_id)
            username = name or (email.split("@", 1)[0] if email else user_id.lower())
            team.users[user_id] = {
                "id": user_id,
                "name": username,
                "email": email,
                "real_name": real_name or username,
                "tz": tz,
                "is_admin": is_admin or is_owner,
                "is_owner": is_owner,
                "is_primary_owner": is_primary_owner,
                "is_restricted": is_restricted,
                "is_bot": is_bot,
                "deleted": deleted,
                "display_name": display_name,
                "title": title,
                "updated": int(time.time()),
            }
            if is_email_confirmed is not None:
                team.users[user_id]["is_email_confirmed"] = is_email_confirmed
            return user_object(team, team.users[user_id])

    def set_user(self, team_id: str, user_id: str, **changes: Any) -> dict[str, Any]:
        """Change a user after the fact (deactivate, move time zone, promote to admin…)."""
        with self._lock:
            team = self.team(team_id)
            user = team.users[user_id]
            user.update(changes)
            user["updated"] = int(time.time())
            return user_object(team, user)

    def add_channel(
        self,
        team_id: str,
        channel_id: str,
        name: str,
        members: Iterable[str] = (),
        is_private: bool = False,
        *,
        topic: str = "",
        purpose: str = "",
        is_general: bool = False,
        is_archived: bool = False,
    ) -> dict[str, Any]:
        with self._lock:
            team = self.team(team_id)
            channel = Channel(
                id=channel_id,
                team_id=team_id,
                name=name.lstrip("#"),
                members=list(dict.fromkeys(members)),
                created=int(time.time()),
                is_private=is_private,
                topic=topic,
                purpose=purpose,
                is_general=is_general,
                is_archived=is_archived,
            )
            team.channels[channel_id] = channel
            return channel.channel_object(bot_user_id=team.bot_user_id, include_num_members=True)

    def share_channel(self, team_id: str, channel_id: str, with_teams: Iterable[str], *, external: bool = True,
                      pending: bool = False) -> None:
        """Share a channel beyond its workspace, as conversations.info then reports it: with another
        organisation through Slack Connect (`external`, `is_ext_shared`; `pending` until the invitation is
        accepted), or with other workspaces of the same Enterprise Grid org (`is_org_shared`). `with_teams`
        are the other team (or enterprise) ids, listed in `shared_team_ids`."""
        with self._lock:
            channel = self.team(team_id).channels[channel_id]
            channel.other_team_ids = [t for t in with_teams if t != team_id]
            channel.is_ext_shared = external and not pending
            channel.is_pending_ext_shared = external and pending
            channel.is_org_shared = not external

    def add_members(self, team_id: str, channel_id: str, user_ids: Iterable[str]) -> None:
        with self._lock:
            channel = self.team(team_id).channels[channel_id]
            for user_id in user_ids:
                if user_id not in channel.members:
                    channel.members.append(user_id)

    def remove_members(self, team_id: str, channel_id: str, user_ids: Iterable[str]) -> None:
        with self._lock:
            channel = self.team(team_id).channels[channel_id]
            channel.members = [m for m in channel.members if m not in set(user_ids)]

    def add_usergroup(
        self,
        team_id: str,
        handle: str,
        users: Iterable[str] = (),
        *,
        usergroup_id: str | None = None,
        name: str | None = None,
        description: str = "",
        disabled: bool = False,
    ) -> dict[str, Any]:
        """A user group (`@handle`) with these members; returns its usergroups.list object (with users).
        A slash command that mentions it carries `SlackDriver.usergroup_mention(id)`."""
        with self._lock:
            team = self.team(team_id)
            handle = handle.lstrip("@")
            if any(g.handle == handle for g in team.usergroups.values() if g.id != usergroup_id):
                raise ValueError(f"usergroup handle @{handle} is taken")
            now = int(time.time())
            if usergroup_id is None:
                # Derived from the handle, unless a renamed group already holds that id.
                usergroup_id = stable_id("S", team.id, handle)
                if usergroup_id in team.usergroups:
                    usergroup_id = random_id("S")
            group = Usergroup(
                id=usergroup_id, team_id=team.id, handle=handle,
                name=name or handle, users=list(dict.fromkeys(users)), created=now, updated=now,
                description=description, disabled=disabled,
            )
            team.usergroups[group.id] = group
            return group.usergroup_object(include_users=True, include_count=True)

    def set_usergroup(
        self, team_id: str, usergroup_id: str, *, users: Iterable[str] | None = None, disabled: bool | None = None,
        name: str | None = None, handle: str | None = None,
    ) -> dict[str, Any]:
        """Change a user group's members (the whole list, like usergroups.users.update), name, handle, or
        disable / enable it."""
        with self._lock:
            group = self.team(team_id).usergroups[usergroup_id]
            if users is not None:
                group.users = list(dict.fromkeys(users))
            if disabled is not None:
                group.disabled = disabled
            if name is not None:
                group.name = name
            if handle is not None:
                group.handle = handle.lstrip("@")
            group.updated = int(time.time())
            return group.usergroup_object(include_users=True, include_count=True)

    def register_oauth_app(self, client_id: str, client_secret: str, redirect_uri: str | None = None) -> None:
        with self._lock:
            self._oauth_apps[client_id] = OAuthApp(client_id, client_secret, redirect_uri)

    def register_app_token(self, token: str | None = None, team_id: str | None = None) -> str:
        """An app-level (`xapp-`) token for Socket Mode in this team (default: the first); returns it.

        `apps.connections.open` accepts it (as a Bearer header) and returns a `ws://` URL on this
        emulator's port; then push envelopes with `emu.socket_mode` or a `SocketModeDriver`.
        """
        return self.socket_mode.register_app_token(token, team_id)

    def install_as(self, team_id: str, user_id: str, *, deny: bool = False) -> None:
        """Who clicks "Allow" on the next /oauth/v2/authorize visits (`deny`: "Cancel")."""
        with self._lock:
            self._install_target = (team_id, user_id, deny)

    def seed_from(self, data: dict[str, Any]) -> "SlackEmulator":
        """Load `{"teams": [{"id", "name", "bot_token", "bot_user_id", "app_token", "users": [...], "channels": [...]}],
        "oauth_apps": [{"client_id", "client_secret", "redirect_uri"}]}` (the `--seed` file format).

        A user is `{"id", "email", "real_name", "tz", "is_admin", "is_owner", "is_bot", "name", "deleted",
        "is_email_confirmed"}`; a channel is `{"id", "name", "members", "is_private", "topic", "purpose"}`; a
        usergroup is `{"id", "handle", "name", "users", "disabled"}`. Only `id` (`handle` for a usergroup) is
        required.
        """
        if not isinstance(data, dict):
            raise ValueError("seed must be a JSON object with a 'teams' list")
        for team_data in data.get("teams", []):
            team = self.add_team(
                team_data["id"],
                name=team_data.get("name"),
                bot_token=team_data.get("bot_token"),
                bot_user_id=team_data.get("bot_user_id"),
                bot_id=team_data.get("bot_id"),
                domain=team_data.get("domain"),
                bot_name=team_data.get("bot_name", "mailmagnet"),
            )
            user_keys = {
                "email", "real_name", "tz", "is_admin", "is_owner", "is_bot", "name", "deleted",
                "is_primary_owner", "is_restricted", "display_name", "title", "is_email_confirmed",
            }
            for user in team_data.get("users", []):
                self.add_user(team.id, user["id"], **{k: v for k, v in user.items() if k in user_keys})
            channel_keys = {"members", "is_private", "topic", "purpose", "is_general", "is_archived"}
            for channel in team_data.get("channels", []):
                self.add_channel(
                    team.id,
                    channel["id"],
                    channel.get("name", channel["id"].lower()),
                    **{k: v for k, v in channel.items() if k in channel_keys},
                )
            for group in team_data.get("usergroups", []):
                self.add_usergroup(
                    team.id, group["handle"], group.get("users", ()), usergroup_id=group.get("id"),
                    name=group.get("name"), description=group.get("description", ""),
                    disabled=bool(group.get("disabled", False)),
                )
            if team_data.get("app_token"):
                self.register_app_token(team_data["app_token"], team.id)
        for app in data.get("oauth_apps", []):
            self.register_oauth_app(app["client_id"], app["client_secret"], app.get("redirect_uri"))
        return self

    # ------------------------------------------------------------------ recordings

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def clear_calls(self) -> None:
        """Forget recorded calls, the per-channel 429 counts and the peak of concurrent calls."""
        with self._lock:
            self._calls.clear()
            self._ratelimited_posts.clear()
        with self._calls_lock:
            self._peak_calls = self._active_calls

    def rate_limited_counts(self) -> dict[str, int]:
        """429s served by the per-channel post rate, per channel id (injected rate limits not included)."""
        with self._lock:
            return dict(self._ratelimited_posts)

    @property
    def peak_concurrent_calls(self) -> int:
        """Most Web API calls (and response_url posts) in progress at once, since start or clear_calls."""
        with self._calls_lock:
            return self._peak_calls

    def _call_started(self) -> None:
        with self._calls_lock:
            self._active_calls += 1
            self._peak_calls = max(self._peak_calls, self._active_calls)

    def _call_finished(self) -> None:
        with self._calls_lock:
            self._active_calls -= 1

    def messages(self, channel: str, *, include_replies: bool = True) -> list[dict[str, Any]]:
        """Current messages of a channel or DM, oldest first (updates applied, deletions gone)."""
        with self._lock:
            found = self._find_channel(channel)
            if found is None:
                return []
            return [
                copy.deepcopy(m)
                for m in found.messages
                if include_replies or m.get("thread_ts") in (None, m["ts"])
            ]

    def files(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Files uploaded through files upload v2 and completed, oldest first (or those shared into
        `channel`): `{"id", "name", "title", "content" (bytes), "size", "mimetype", "channels" (where it was
        shared), "ts" (channel -> message ts), "thread_ts", "initial_comment", "user", "team_id"}`."""
        with self._lock:
            return [
                self._file_record(upload) for upload in self._files.values()
                if upload.completed and (channel is None or channel in upload.shares)
            ]

    def file(self, file_id: str) -> dict[str, Any] | None:
        """One file as `files()` describes it, completed or not (None when unknown)."""
        with self._lock:
            upload = self._files.get(file_id)
            return self._file_record(upload) if upload is not None else None

    @staticmethod
    def _file_record(upload: UploadedFile) -> dict[str, Any]:
        return {
            "id": upload.id, "name": upload.filename, "title": upload.title if upload.title is not None
            else upload.filename, "content": upload.content, "size": len(upload.content or b""),
            "declared_length": upload.length, "mimetype": upload.mimetype, "channels": list(upload.shares),
            "ts": dict(upload.shares), "thread_ts": upload.thread_ts, "initial_comment": upload.initial_comment,
            "user": upload.user_id, "team_id": upload.team_id, "completed": upload.completed,
            "alt_txt": upload.alt_txt,
        }

    def dm_channel(self, team_id: str, user_id: str) -> str:
        """The D… id conversations.open returns for this user (stable across restarts)."""
        with self._lock:
            return self._ensure_im(self.team(team_id), user_id).id

    def dms(self, user_id: str, team_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            teams = [self.team(team_id)] if team_id else [t for t in self.teams.values() if user_id in t.users]
            result: list[dict[str, Any]] = []
            for team in teams:
                result.extend(self.messages(self._ensure_im(team, user_id).id))
            return result

    def ephemerals(self, user_id: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(e)
                for e in self._ephemerals
                if (user_id is None or e["user"] == user_id) and (channel is None or e["channel"] == channel)
            ]

    def response_url_posts(self, key: str | None = None) -> list[dict[str, Any]]:
        if key is not None and "/response/" in key:
            key = key.rsplit("/response/", 1)[1]
        with self._lock:
            return [copy.deepcopy(p) for p in self._response_posts if key is None or p["key"] == key]

    def first_response_post(self, key: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the first post to a response_url (its URL or key); TimeoutError when none comes in time."""
        if "/response/" in key:
            key = key.rsplit("/response/", 1)[1]
        with self._response_posted:
            if not self._response_posted.wait_for(lambda: key in self._first_response_posts, timeout):
                raise TimeoutError(f"nothing was posted to response_url {key} within {timeout}s")
            return copy.deepcopy(self._first_response_posts[key])

    @property
    def view_calls(self) -> list[dict[str, Any]]:
        """Every view change in order: {"method", "team_id", "user_id", "view", "time"}."""
        with self._lock:
            return copy.deepcopy(self._view_calls)

    @property
    def views_opened(self) -> dict[str, list[dict[str, Any]]]:
        """Modal views by user id: what views.open / views.push / views.update returned."""
        return self._views_by_user(home=False)

    @property
    def views_published(self) -> dict[str, list[dict[str, Any]]]:
        """Home tab views by user id: what views.publish (or views.update of a home view) returned."""
        return self._views_by_user(home=True)

    def _views_by_user(self, *, home: bool) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            result: dict[str, list[dict[str, Any]]] = {}
            for entry in self._view_calls:
                if (entry["view"].get("type") == "home") == home and entry["method"].startswith("views."):
                    result.setdefault(entry["user_id"], []).append(copy.deepcopy(entry["view"]))
            return result

    def get_view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            view = self._views.get(view_id)
            return copy.deepcopy(view) if view else None

    def modal_stack(self, user_id: str, team_id: str | None = None) -> list[dict[str, Any]]:
        """The user's open modals, bottom first (empty when none is open)."""
        with self._lock:
            key = (self.team(team_id).id, user_id)
            return [copy.deepcopy(self._views[v]) for v in self._modal_stacks.get(key, [])]

    def home_view(self, user_id: str, team_id: str | None = None) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_views.get((self.team(team_id).id, user_id))
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
        """Poll `predicate` until it returns something truthy and return that; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")
            time.sleep(interval)

    # ------------------------------------------------------------------ faults

    def inject_rate_limit(self, method: str, count: int = 1, retry_after: int = 1) -> None:
        """The next `count` calls to `method` ("*" for any) get HTTP 429 with Retry-After."""
        with self._lock:
            self._faults.setdefault(method, deque()).append(_Fault("ratelimit", count, retry_after=retry_after))

    def inject_error(self, method: str, error: str = "internal_error", count: int = 1, status: int = 200) -> None:
        """The next `count` calls to `method` ("*" for any) fail with `error` and HTTP `status`."""
        with self._lock:
            self._faults.setdefault(method, deque()).append(_Fault("error", count, error=error, status=status))

    def inject_delay(self, method: str, seconds: float, count: int | None = None) -> None:
        """Answer `method` ("*" for any) `seconds` late: the next `count` calls, or all until cleared."""
        with self._lock:
            self._delays[method] = _Delay(seconds, count)

    def add_fault(self, fault: Fault) -> Fault:
        """Turn on a fault with a rate (see faults.Fault), at once, for calls in flight too; returns it
        (`fault.hits` counts the calls it failed)."""
        with self._lock:
            self._rated_faults.append(fault)
        return fault

    def remove_fault(self, fault: Fault) -> None:
        with self._lock:
            self._rated_faults = [f for f in self._rated_faults if f is not fault]

    def clear_faults(self) -> None:
        """Drop injected faults, delays and faults with a rate (set_latency and set_channel_post_rate stay as set)."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._rated_faults.clear()

    # ------------------------------------------------------------------ real-world conditions

    def set_latency(self, ms: float, method: str = "*", jitter_ms: float = 0, *, seed: int | None = None) -> None:
        """Added latency per call of `method` (a name or glob; "*" every method); 0 (and no jitter) removes it.

        Each call waits a uniform draw from [ms - jitter_ms, ms + jitter_ms], never
        negative; `seed` makes the sequence of draws reproducible. An exact name
        wins over globs. response_url posts count as the method "response_url".
        Adds to `inject_delay`; the wait holds no lock, so concurrent calls overlap.
        """
        self._latency.set(ms, method, jitter_ms=jitter_ms, seed=seed)

    def set_channel_post_rate(self, per_second: float | None = 1.0, burst: int = 5) -> None:
        """Slack's chat.postMessage limit per channel (DMs included); None (the default state) turns it off.

        A channel takes `burst` posts at once and one more every 1/`per_second`
        seconds; a post beyond that answers HTTP 429, `Retry-After: <seconds>`,
        `{"ok": false, "error": "ratelimited"}`, and posts nothing. Slack promises
        about 1 per second with short bursts; how long a burst is not published.
        Setting it again starts every channel's bucket afresh.
        """
        with self._lock:
            self._post_rate = None if per_second is None else ChannelPostRate(per_second, burst)

    def _admit_post(self, channel: Channel) -> None:
        """Called with the lock held, just before chat.postMessage posts into `channel`."""
        if self._post_rate is None:
            return
        retry_after = self._post_rate.admit(channel.id)
        if retry_after is not None:
            self._ratelimited_posts[channel.id] = self._ratelimited_posts.get(channel.id, 0) + 1
            raise ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            while queue:
                fault = queue[0]
                if fault.remaining <= 0:
                    queue.popleft()
                    continue
                fault.remaining -= 1
                return fault
        return None

    def _draw_fault(self, method: str) -> Fault | None:
        """Called with the lock held: the first fault with a rate that fires on this call."""
        for fault in self._rated_faults:
            if fault.fires(method):
                return fault
        return None

    def _take_delay(self, method: str) -> float:
        with self._lock:
            for key in (method, "*"):
                delay = self._delays.get(key)
                if delay is None:
                    continue
                if delay.remaining is not None:
                    delay.remaining -= 1
                    if delay.remaining <= 0:
                        del self._delays[key]
                return delay.seconds
        return 0.0

    # ------------------------------------------------------------------ interactivity plumbing

    def new_response_url(
        self,
        team_id: str,
        channel_id: str,
        user_id: str,
        *,
        original: tuple[str, str, str] | None = None,
    ) -> str:
        """A fresh response_url for a command or action by `user_id` in `channel_id`.

        `original` is what replace_original/delete_original act on:
        ("message", channel, ts) or ("ephemeral", channel, message_ts).
        """
        with self._lock:
            key = f"{team_id}/{secrets.token_hex(4)}/{secrets.token_urlsafe(18)}"
            self._response_urls[key] = ResponseUrl(key, team_id, channel_id, user_id, time.time(), original=original)
            return self.url + "response/" + key

    def issue_trigger_id(self, team_id: str, user_id: str) -> str:
        """A trigger_id views.open/push will accept once, within `trigger_id_ttl` seconds."""
        with self._lock:
            trigger_id = f"{int(time.time() * 1000)}.{secrets.randbelow(10**10):010d}.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = Trigger(trigger_id, team_id, user_id, time.time())
            return trigger_id

    def post_as_user(
        self, channel: str, user_id: str, text: str, *, team_id: str | None = None, thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add a message written by a person (no event is sent; SlackDriver.event does that). `metadata`: what
        an app acting for the person could attach (people can post message metadata through such apps)."""
        with self._lock:
            team = self.team(team_id)
            target = self._resolve_channel(team, channel, allow_user=True)
            record: dict[str, Any] = {
                "type": "message",
                "user": user_id,
                "text": text,
                "ts": self._next_ts(),
                "team": team.id,
                "channel": target.id,
            }
            if metadata is not None:
                record["metadata"] = copy.deepcopy(metadata)
            if thread_ts:
                self._attach_reply(target, record, thread_ts)
            target.messages.append(record)
            return copy.deepcopy(record)

    def apply_view_submission_ack(self, team_id: str, user_id: str, view_id: str, ack: dict[str, Any] | None) -> None:
        """What Slack does with the app's answer to a view_submission (SlackDriver calls this)."""
        action = (ack or {}).get("response_action")
        with self._lock:
            team = self.team(team_id)
            key = (team.id, user_id)
            stack = self._modal_stacks.get(key, [])
            if action == "errors":
                return
            if action == "update" and isinstance(ack.get("view"), dict):
                if view_id in self._views:
                    self._replace_view(team, view_id, ack["view"], method="response_action:update")
                return
            if action == "push" and isinstance(ack.get("view"), dict):
                self._push_view(team, user_id, ack["view"], method="response_action:push")
                return
            if action == "clear":
                self._modal_stacks.pop(key, None)
                return
            if view_id in stack:
                del stack[stack.index(view_id):]
            if not stack:
                self._modal_stacks.pop(key, None)

    # ------------------------------------------------------------------ lifecycle events

    def subscribe_events(self, callback: EventCallback) -> None:
        """`callback(team_id, event)` for Slack-originated events (tokens_revoked, app_uninstalled)."""
        with self._lock:
            self._event_subscribers.append(callback)

    def unsubscribe_events(self, callback: EventCallback) -> None:
        with self._lock:
            if callback in self._event_subscribers:
                self._event_subscribers.remove(callback)

    def revoke_token(self, token: str) -> None:
        """A token stops working (as after auth.revoke); tokens_revoked goes to subscribers."""
        events = self._revoke_tokens_locked([token]) if token in self._tokens else []
        self._emit(events)

    def uninstall(self, team_id: str) -> None:
        """The workspace removes the app: every token dies; tokens_revoked + app_uninstalled are sent."""
        with self._lock:
            team = self.team(team_id)
            team.installed = False
            tokens = [t.token for t in self._tokens.values() if t.team_id == team_id and not t.revoked]
            events = self._revoke_tokens_locked(tokens)
            events.append((team_id, {"type": "app_uninstalled", "event_ts": self._event_ts()}))
        self._emit(events)

    def token_for(self, team_id: str | None = None) -> str:
        """The workspace's current bot token (the newest install's)."""
        return self.team(team_id).bot_token

    def _revoke_tokens_locked(self, tokens: list[str]) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            by_team: dict[str, dict[str, list[str]]] = {}
            for token in tokens:
                info = self._tokens.get(token)
                if info is None or info.revoked:
                    continue
                info.revoked = True
                kinds = by_team.setdefault(info.team_id, {"oauth": [], "bot": []})
                kinds["bot" if info.kind == "bot" else "oauth"].append(info.user_id)
            return [
                (team_id, {"type": "tokens_revoked", "tokens": kinds, "event_ts": self._event_ts()})
                for team_id, kinds in by_team.items()
            ]

    def _emit(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        if not events:
            return
        with self._lock:
            subscribers = list(self._event_subscribers)
        if not subscribers:
            return

        def deliver() -> None:
            for team_id, event in events:
                for callback in subscribers:
                    try:
                        callback(team_id, event)
                    except Exception:  # noqa: BLE001 - a subscriber's failure must not stop the others
                        logger.exception("event subscriber failed for %s", event.get("type"))

        threading.Thread(target=deliver, name="slack-emulator-events", daemon=True).start()

    # ------------------------------------------------------------------ internals used by web_api / server

    def _next_ts(self) -> str:
        with self._lock:
            now_us = int(time.time() * 1_000_000)
            self._last_ts_us = max(now_us, self._last_ts_us + 1)
            return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _event_ts(self) -> str:
        return f"{time.time():.6f}"

    def _find_channel(self, channel_id: str) -> Channel | None:
        for team in self.teams.values():
            if channel_id in team.channels:
                return team.channels[channel_id]
        return None

    def _ensure_im(self, team: Team, user_id: str) -> Channel:
        for channel in team.channels.values():
            if channel.is_im and channel.im_user == user_id:
                return channel
        channel_id = stable_id("D", team.id, user_id)
        channel = Channel(
            id=channel_id,
            team_id=team.id,
            name=user_id,
            members=[user_id, team.bot_user_id],
            created=int(time.time()),
            is_im=True,
            im_user=user_id,
        )
        team.channels[channel_id] = channel
        return channel

    def _resolve_channel(self, team: Team, ref: Any, *, allow_user: bool) -> Channel:
        if not isinstance(ref, str) or not ref:
            raise ApiError("channel_not_found")
        if ref in team.channels:
            return team.channels[ref]
        if allow_user and ref[:1] in ("U", "W") and ref in team.users:
            user = team.users[ref]
            if user.get("is_bot") and ref == team.bot_user_id:
                raise ApiError("cannot_dm_bot")
            if user.get("deleted"):
                raise ApiError("user_disabled")
            im = self._ensure_im(team, ref)
            im.opened = True
            return im
        name = ref.lstrip("#")
        for channel in team.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        raise ApiError("channel_not_found")

    def _check_bot_access(self, team: Team, channel: Channel, *, posting: bool) -> None:
        """Slack hides private channels the bot is not in and refuses public ones with not_in_channel."""
        if channel.is_im or team.bot_user_id in channel.members:
            if posting and channel.is_archived:
                raise ApiError("is_archived")
            return
        if channel.is_private or channel.is_mpim:
            raise ApiError("channel_not_found")
        raise ApiError("not_in_channel")

    def _bot_message(self, team: Team, channel: Channel, content: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "type": "message",
            "user": team.bot_user_id,
            "bot_id": team.bot_id,
            "app_id": team.app_id,
            "text": content.get("text") or "",
            "ts": self._next_ts(),
            "team": team.id,
            "bot_profile": {
                "id": team.bot_id,
                "app_id": team.app_id,
                "name": team.bot_name,
                "deleted": False,
                "team_id": team.id,
            },
        }
        for key in ("blocks", "attachments", "metadata"):
            if content.get(key) is not None:
                record[key] = copy.deepcopy(content[key])
        record["channel"] = channel.id
        return record

    def _attach_reply(self, channel: Channel, record: dict[str, Any], thread_ts: str) -> None:
        record["thread_ts"] = thread_ts
        parent = channel.find(thread_ts)
        if parent is None:
            return
        record["parent_user_id"] = parent.get("user")
        parent["thread_ts"] = parent["ts"]
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        users = parent.setdefault("reply_users", [])
        if record.get("user") not in users:
            users.append(record.get("user"))
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = record["ts"]

    def _post_bot_message(
        self, team: Team, channel: Channel, content: dict[str, Any], *, thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> dict[str, Any]:
        record = self._bot_message(team, channel, content)
        if thread_ts:
            self._attach_reply(channel, record, thread_ts)
            if reply_broadcast:
                record["subtype"] = "thread_broadcast"
        channel.messages.append(record)
        return record

    def _add_ephemeral(
        self, team: Team, channel_id: str, user_id: str, content: dict[str, Any], *, source: str,
        thread_ts: str | None = None, response_url_key: str | None = None,
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "type": "message",
            "channel": channel_id,
            "user": user_id,
            "text": content.get("text") or "",
            "message_ts": self._next_ts(),
            "team": team.id,
            "source": source,
            "response_type": "ephemeral",
            "is_ephemeral": True,
        }
        record["ts"] = record["message_ts"]
        for key in ("blocks", "attachments"):
            if content.get(key) is not None:
                record[key] = copy.deepcopy(content[key])
        if thread_ts:
            record["thread_ts"] = thread_ts
        if response_url_key:
            record["response_url_key"] = response_url_key
        self._ephemerals.append(record)
        return record

    def _find_ephemeral(self, channel_id: str, message_ts: str) -> dict[str, Any] | None:
        for record in self._ephemerals:
            if record["channel"] == channel_id and record["message_ts"] == message_ts:
                return record
        return None

    def _authenticate(self, token: str | None) -> tuple[TokenInfo, Team]:
        if not token:
            raise ApiError("not_authed")
        info = self._tokens.get(token)
        if info is None:
            raise ApiError("invalid_auth")
        if info.revoked:
            raise ApiError("token_revoked")
        return info, self.teams[info.team_id]

    # views -----------------------------------------------------------------

    def _exchange_trigger(self, team: Team, trigger_id: Any) -> Trigger:
        if not trigger_id:
            raise ApiError("invalid_arguments", messages=["[ERROR] missing required field: trigger_id"])
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None or trigger.team_id != team.id:
            raise ApiError("invalid_trigger_id")
        if self.trigger_id_ttl is not None and time.time() - trigger.created > self.trigger_id_ttl:
            raise ApiError("expired_trigger_id")
        if trigger.exchanged:
            raise ApiError("exchanged_trigger_id")
        trigger.exchanged = True
        return trigger

    def _new_view_record(
        self, team: Team, view: dict[str, Any], *, view_id: str, root_view_id: str | None,
        previous_view_id: str | None,
    ) -> dict[str, Any]:
        record = copy.deepcopy(view)
        record.update(
            {
                "id": view_id,
                "team_id": team.id,
                "type": view.get("type"),
                "blocks": copy.deepcopy(view.get("blocks", [])),
                "private_metadata": view.get("private_metadata", ""),
                "callback_id": view.get("callback_id", ""),
                "external_id": view.get("external_id", ""),
                "state": {"values": {}},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
                "clear_on_close": bool(view.get("clear_on_close", False)),
                "notify_on_close": bool(view.get("notify_on_close", False)),
                "root_view_id": root_view_id or view_id,
                "previous_view_id": previous_view_id,
                "app_id": team.app_id,
                "app_installed_team_id": team.id,
                "bot_id": team.bot_id,
            }
        )
        if record["type"] == "modal":
            record.setdefault("close", None)
            record.setdefault("submit", None)
        return record

    def _check_external_id(self, team: Team, external_id: str, own_view_id: str | None = None) -> None:
        if not external_id:
            return
        for view_id, view in self._views.items():
            if view.get("external_id") == external_id and view["team_id"] == team.id and view_id != own_view_id:
                raise ApiError("duplicate_external_id")

    def _log_view(self, method: str, team_id: str, user_id: str, record: dict[str, Any]) -> None:
        self._view_calls.append(
            {"method": method, "team_id": team_id, "user_id": user_id, "view": copy.deepcopy(record), "time": time.time()}
        )

    def _open_view(self, team: Team, user_id: str, view: dict[str, Any], *, method: str) -> dict[str, Any]:
        self._check_external_id(team, view.get("external_id", ""))
        view_id = random_id("V")
        record = self._new_view_record(team, view, view_id=view_id, root_view_id=None, previous_view_id=None)
        self._views[view_id] = record
        self._view_owner[view_id] = (team.id, user_id)
        self._modal_stacks[(team.id, user_id)] = [view_id]
        self._log_view(method, team.id, user_id, record)
        return record

    def _push_view(self, team: Team, user_id: str, view: dict[str, Any], *, method: str) -> dict[str, Any]:
        stack = self._modal_stacks.get((team.id, user_id), [])
        if not stack:
            return self._open_view(team, user_id, view, method=method)
        if len(stack) >= 3:
            raise ApiError("push_limit_reached")
        self._check_external_id(team, view.get("external_id", ""))
        view_id = random_id("V")
        record = self._new_view_record(team, view, view_id=view_id, root_view_id=stack[0], previous_view_id=stack[-1])
        self._views[view_id] = record
        self._view_owner[view_id] = (team.id, user_id)
        stack.append(view_id)
        self._log_view(method, team.id, user_id, record)
        return record

    def _replace_view(self, team: Team, view_id: str, view: dict[str, Any], *, method: str) -> dict[str, Any]:
        old = self._views[view_id]
        self._check_external_id(team, view.get("external_id", ""), own_view_id=view_id)
        record = self._new_view_record(
            team, view, view_id=view_id, root_view_id=old.get("root_view_id"),
            previous_view_id=old.get("previous_view_id"),
        )
        if not view.get("external_id"):
            record["external_id"] = old.get("external_id", "")
        self._views[view_id] = record
        _, user_id = self._view_owner[view_id]
        self._log_view(method, team.id, user_id, record)
        return record

    def _publish_home(self, team: Team, user_id: str, view: dict[str, Any], *, expected_hash: str | None) -> dict[str, Any]:
        key = (team.id, user_id)
        view_id = self._home_views.get(key)
        if view_id is None:
            view_id = stable_id("V", team.id, user_id, "home")
        elif expected_hash and self._views[view_id]["hash"] != expected_hash:
            raise ApiError("hash_conflict")
        self._check_external_id(team, view.get("external_id", ""), own_view_id=view_id)
        record = self._new_view_record(team, view, view_id=view_id, root_view_id=None, previous_view_id=None)
        self._views[view_id] = record
        self._view_owner[view_id] = key
        self._home_views[key] = view_id
        self._log_view("views.publish", team.id, user_id, record)
        return record

    # oauth -----------------------------------------------------------------

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """GET /oauth/v2/authorize: auto-approve and redirect with a one-time code."""
        with self._lock:
            client_id = query.get("client_id", "")
            app = self._oauth_apps.get(client_id)
            if app is None:
                return 400, {}, "invalid_client_id: no app registered with this client_id"
            redirect_uri = query.get("redirect_uri") or app.redirect_uri
            if not redirect_uri:
                return 400, {}, "bad_redirect_uri: no redirect_uri given or registered"
            if app.redirect_uri and query.get("redirect_uri") and not query["redirect_uri"].startswith(app.redirect_uri):
                return 400, {}, "bad_redirect_uri: does not match the app's redirect URL"
            scope, user_scope = query.get("scope", ""), query.get("user_scope", "")
            if not scope and not user_scope:
                return 400, {}, "invalid_scope: no scope requested"
            team_id, user_id, deny = self._installer()
            state = query.get("state")
            params: dict[str, str] = {}
            if deny:
                params["error"] = "access_denied"
            else:
                code = f"{int(time.time())}.{secrets.token_hex(20)}"
                self._oauth_codes[code] = OAuthCode(
                    code, client_id, team_id, user_id, scope, user_scope, query.get("redirect_uri"), time.time()
                )
                params["code"] = code
            if state is not None:
                params["state"] = state
            separator = "&" if "?" in redirect_uri else "?"
            return 302, {"Location": redirect_uri + separator + urlencode(params)}, ""

    def _installer(self) -> tuple[str, str, bool]:
        if self._install_target is not None:
            return self._install_target
        team = self.default_team()
        humans = [u for u in team.users.values() if not u.get("is_bot") and not u.get("deleted")]
        admins = [u for u in humans if u.get("is_admin") or u.get("is_owner")]
        chosen = (admins or humans or [None])[0]
        if chosen is None:
            self.add_user(team.id, "U0INSTALLER", email="installer@example.com", real_name="Installer", is_admin=True)
            return team.id, "U0INSTALLER", False
        return team.id, chosen["id"], False

    def _issue_install_tokens(self, code: OAuthCode) -> dict[str, Any]:
        team = self.teams[code.team_id]
        team.installed = True
        self._install_counter += 1
        response: dict[str, Any] = {"app_id": team.app_id, "authed_user": {"id": code.user_id}}
        if code.scope:
            token = f"xoxb-{team.id}-{self._install_counter}-{secrets.token_hex(12)}"
            self._tokens[token] = TokenInfo(token, team.id, "bot", team.bot_user_id, code.scope)
            team.bot_token = token
            response.update(
                {
                    "scope": code.scope,
                    "token_type": "bot",
                    "access_token": token,
                    "bot_user_id": team.bot_user_id,
                }
            )
        if code.user_scope:
            user_token = f"xoxp-{team.id}-{self._install_counter}-{secrets.token_hex(12)}"
            self._tokens[user_token] = TokenInfo(user_token, team.id, "user", code.user_id, code.user_scope)
            response["authed_user"].update(
                {"scope": code.user_scope, "access_token": user_token, "token_type": "user"}
            )
        response.update({"team": {"id": team.id, "name": team.name}, "enterprise": None, "is_enterprise_install": False})
        self.installations.append(
            {
                "team_id": team.id,
                "user_id": code.user_id,
                "bot_token": response.get("access_token"),
                "user_token": response["authed_user"].get("access_token"),
                "scope": code.scope,
                "user_scope": code.user_scope,
                "time": time.time(),
            }
        )
        return response

    # response_url -----------------------------------------------------------

    def _post_to_response_url(self, key: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        from .web_api import message_content

        with self._lock:
            url = self._response_urls.get(key)
            entry: dict[str, Any] = {"key": key, "url": self.url + "response/" + key, "time": time.time()}
            try:
                payload = _parse_response_payload(body, content_type)
            except ValueError:
                payload = None
            entry["body"] = payload
            if isinstance(payload, dict):
                entry.update(
                    {
                        "response_type": payload.get("response_type", "ephemeral"),
                        "replace_original": _truthy(payload.get("replace_original")),
                        "delete_original": _truthy(payload.get("delete_original")),
                        "text": payload.get("text"),
                        "blocks": payload.get("blocks"),
                        "thread_ts": payload.get("thread_ts"),
                    }
                )
            status, answer = self._apply_response_post(url, payload, entry, message_content)
            entry["status"] = status
            entry["error"] = answer.get("error")
            self._response_posts.append(entry)
            self._first_response_posts.setdefault(key, entry)
            self._response_posted.notify_all()
            return status, answer

    def _apply_response_post(
        self, url: ResponseUrl | None, payload: Any, entry: dict[str, Any], message_content: Callable[..., dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        if url is None:
            return 404, {"ok": False, "error": "no_service"}
        entry.update({"team_id": url.team_id, "channel": url.channel_id, "user": url.user_id})
        if time.time() - url.created > self.response_url_ttl:
            return 404, {"ok": False, "error": "expired_url"}
        if url.uses >= self.response_url_max_uses:
            return 404, {"ok": False, "error": "used_url"}
        if not isinstance(payload, dict):
            return 400, {"ok": False, "error": "invalid_payload"}
        team = self.teams[url.team_id]
        delete = _truthy(payload.get("delete_original"))
        replace = _truthy(payload.get("replace_original"))
        try:
            content = message_content(payload, required=not delete, max_blocks=50)
        except ApiError as exc:
            return 400, exc.payload()
        url.uses += 1
        if delete:
            if url.original is not None:
                self._delete_original(url.original)
                url.original = None
            return 200, {"ok": True}
        if replace and url.original is not None:
            self._replace_original(url.original, content)
            return 200, {"ok": True}
        thread_ts = payload.get("thread_ts")
        if payload.get("response_type") == "in_channel":
            channel = self._find_channel(url.channel_id) or self._ensure_im(team, url.user_id)
            record = self._post_bot_message(team, channel, content, thread_ts=thread_ts)
            url.original = ("message", channel.id, record["ts"])
        else:
            record = self._add_ephemeral(
                team, url.channel_id, url.user_id, content, source="response_url", thread_ts=thread_ts,
                response_url_key=url.key,
            )
            url.original = ("ephemeral", url.channel_id, record["message_ts"])
        return 200, {"ok": True}

    def _delete_original(self, original: tuple[str, str, str]) -> None:
        kind, channel_id, ts = original
        if kind == "ephemeral":
            self._ephemerals = [
                e for e in self._ephemerals if not (e["channel"] == channel_id and e["message_ts"] == ts)
            ]
            return
        channel = self._find_channel(channel_id)
        if channel is not None:
            channel.messages = [m for m in channel.messages if m["ts"] != ts]

    def _replace_original(self, original: tuple[str, str, str], content: dict[str, Any]) -> None:
        kind, channel_id, ts = original
        target = self._find_ephemeral(channel_id, ts) if kind == "ephemeral" else None
        if kind == "message":
            channel = self._find_channel(channel_id)
            target = channel.find(ts) if channel else None
            if target is not None:
                target["edited"] = {"user": target.get("user"), "ts": self._next_ts()}
        if target is None:
            return
        target["text"] = content.get("text") or ""
        for key in ("blocks", "attachments"):
            if content.get(key) is not None:
                target[key] = copy.deepcopy(content[key])
            else:
                target.pop(key, None)

    # files upload v2 ----------------------------------------------------------

    def _receive_upload(self, ticket: str, headers: Any, body: bytes) -> tuple[int, str]:
        """POST /upload/v1/<ticket>: keep the bytes for files.completeUploadExternal. Slack's upload host
        answers `200 OK - <length>`; an unknown, used or expired URL gets 404."""
        with self._lock:
            fault = self._take_fault("file_upload")
            if fault is not None:
                status = 429 if fault.kind == "ratelimit" else (fault.status if fault.status >= 400 else 500)
                return status, fault.error
            file_id = self._upload_tickets.get(ticket)
            upload = self._files.get(file_id or "")
            if upload is None or upload.content is not None or time.time() - upload.created > self.upload_url_ttl:
                return 404, "not found"
            try:
                content, _ = parse_upload_body(headers, body)
            except ValueError:
                return 400, "no file in the multipart body"
            upload.content = content
            return 200, f"OK - {len(content)}"

    def _download_file(self, path: str, headers: Any) -> tuple[int, bytes, str]:
        """GET url_private (`/files-pri/<team>-<file id>/[download/]<name>`): the bytes, for a token of the
        file's workspace in the Authorization header, as Slack requires."""
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        key = path[len("/files-pri/"):].split("/", 1)[0]
        team_id, _, file_id = key.partition("-")
        with self._lock:
            upload = self._files.get(file_id)
            info = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if upload is None or not upload.completed or upload.team_id != team_id:
                return 404, b"not found", "text/plain"
            if info is None or info.revoked or info.team_id != team_id:
                # Slack answers an unauthenticated file URL with its sign-in page, not the file.
                return 200, b"<html><body>Sign in to Slack</body></html>", "text/html"
            return 200, upload.content or b"", upload.mimetype

    # web api dispatch ---------------------------------------------------------

    def _handle_api(
        self, method: str, headers: Any, query: str, body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        from .web_api import dispatch

        return dispatch(self, method, headers, query, body)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _parse_response_payload(body: bytes, content_type: str) -> Any:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        from urllib.parse import parse_qs

        form = parse_qs(body.decode("utf-8"))
        if "payload" in form:
            return json.loads(form["payload"][0])
        return {k: v[-1] for k, v in form.items()}
    return json.loads(body.decode("utf-8") or "null")

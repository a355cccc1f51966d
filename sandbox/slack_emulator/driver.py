"""SlackDriver: sends the bot what Slack sends, signed with the app's signing secret.

Slash commands and interactions go out form-encoded (interactions as a
`payload=<json>` field), events as JSON, each with `X-Slack-Request-Timestamp`
and `X-Slack-Signature` computed by slack_sdk's own SignatureVerifier. When an
emulator is attached, every response_url and trigger_id in a payload is issued
by it, so what the bot does with them lands in the emulator's recordings.

SocketModeDriver sends the same requests as Socket Mode envelopes through the emulator's
WebSocket to an app connected with an app-level token (`emu.register_app_token`).
"""
from __future__ import annotations

import copy
import http.client
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

if TYPE_CHECKING:
    from .emulator import SlackEmulator

# A mention as a person types it: `@handle`, `@user.name` or `#channel-name` (not inside `<…>`).
_TYPED_MENTION = re.compile(r"(?<![\w<|^@#])([@#])([a-z0-9][a-z0-9._\-]*)", re.IGNORECASE)


@dataclass
class DriverResponse:
    """What the bot answered."""

    status: int
    body: str
    headers: Message
    elapsed_ms: float
    response_url: str | None = None
    trigger_id: str | None = None
    payload: dict[str, Any] | None = field(default=None, repr=False)
    envelope_id: str | None = None  # Socket Mode only

    @property
    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class SlackDriver:
    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        emulator: "SlackEmulator | None" = None,
        team_id: str | None = None,
        *,
        api_app_id: str | None = None,
        verification_token: str = "emulator-verification-token",
        timeout: float = 10.0,
        deliver_lifecycle_events: bool = True,
    ) -> None:
        self.bot_url = bot_url
        self.signing_secret = signing_secret
        self.emulator = emulator
        if team_id is None:
            team_id = emulator.default_team().id if emulator is not None else "T0001"
        self.team_id = team_id
        self.api_app_id = api_app_id or (emulator.app_id if emulator is not None else "A0MAILMAGNT")
        self.verification_token = verification_token
        self.timeout = timeout
        self._verifier = SignatureVerifier(signing_secret)
        # Events the emulator originates (tokens_revoked, app_uninstalled) and what the bot answered.
        self.deliveries: list[DriverResponse] = []
        self._deliveries_lock = threading.Lock()
        if emulator is not None and deliver_lifecycle_events:
            emulator.subscribe_events(self._deliver_emulator_event)

    def close(self) -> None:
        if self.emulator is not None:
            self.emulator.unsubscribe_events(self._deliver_emulator_event)

    # ------------------------------------------------------------------ signing / transport

    def sign(self, body: bytes | str, timestamp: int | str | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._verifier.generate_signature(timestamp=ts, body=body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature or ""}

    def post_raw(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> DriverResponse:
        """POST exactly these bytes and headers (no signing): for forged or malformed requests."""
        all_headers = {"Content-Type": content_type, **(headers or {})}
        return self._post(body, all_headers)

    def _post(self, body: bytes, headers: dict[str, str]) -> DriverResponse:
        parts = urlsplit(self.bot_url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        started = time.perf_counter()
        try:
            connection.request("POST", path, body=body, headers={"User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)", **headers})
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
            elapsed = (time.perf_counter() - started) * 1000
            return DriverResponse(response.status, text, response.headers, elapsed)
        finally:
            connection.close()

    def _send(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> DriverResponse:
        all_headers = {"Content-Type": content_type, **self.sign(body, timestamp)}
        if signature is not None:
            all_headers["X-Slack-Signature"] = signature
        if retry_num is not None:
            all_headers["X-Slack-Retry-Num"] = str(retry_num)
            all_headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        all_headers.update(headers or {})
        return self._post(body, all_headers)

    def _deliver(self, kind: str, payload: dict[str, Any], **options: Any) -> DriverResponse:
        """Send one request as Slack does over HTTP; `kind` is its Socket Mode envelope type
        (slash_commands: form fields, interactive: a `payload=<json>` field, events_api: JSON)."""
        if kind == "slash_commands":
            body, content_type = urlencode(payload).encode("utf-8"), "application/x-www-form-urlencoded"
        elif kind == "interactive":
            body = urlencode({"payload": json.dumps(payload)}).encode("utf-8")
            content_type = "application/x-www-form-urlencoded"
        else:
            body, content_type = json.dumps(payload).encode("utf-8"), "application/json"
        return self._send(body, content_type, **self._options(options))

    # ------------------------------------------------------------------ helpers

    def _team_domain(self) -> str:
        if self.emulator is not None and self.team_id in self.emulator.teams:
            return self.emulator.teams[self.team_id].domain
        return self.team_id.lower()

    def _user_name(self, user_id: str) -> str:
        if self.emulator is not None and self.team_id in self.emulator.teams:
            user = self.emulator.teams[self.team_id].users.get(user_id)
            if user:
                return user["name"]
        return user_id.lower()

    def _user(self, user_id: str) -> dict[str, Any]:
        name = self._user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self._team_domain()}

    def _channel_name(self, channel_id: str) -> str:
        if self.emulator is None or self.team_id not in self.emulator.teams:
            return channel_id.lower()
        team = self.emulator.teams[self.team_id]
        channel = team.channels.get(channel_id)
        if channel is None:
            return channel_id.lower()
        if channel.is_im:
            return "directmessage"
        if channel.is_private and team.bot_user_id not in channel.members:
            return "privategroup"
        return channel.name

    def dm_channel(self, user_id: str) -> str:
        """The user's DM with the app: where a command typed in the app's Messages tab comes from."""
        if self.emulator is not None:
            return self.emulator.dm_channel(self.team_id, user_id)
        return "D" + user_id[1:]

    def _trigger_id(self, user_id: str) -> str:
        if self.emulator is not None:
            return self.emulator.issue_trigger_id(self.team_id, user_id)
        return f"{int(time.time() * 1000)}.{secrets.randbelow(10**10):010d}.{secrets.token_hex(16)}"

    def _response_url(self, channel_id: str, user_id: str, original: tuple[str, str, str] | None = None) -> str:
        if self.emulator is not None:
            return self.emulator.new_response_url(self.team_id, channel_id, user_id, original=original)
        return f"https://hooks.slack.com/actions/{self.team_id}/0/{secrets.token_urlsafe(18)}"

    @staticmethod
    def _options(kwargs: dict[str, Any]) -> dict[str, Any]:
        allowed = {"timestamp", "signature", "retry_num", "retry_reason", "headers"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"unexpected options: {sorted(unknown)}")
        return kwargs

    def _send_interaction(self, payload: dict[str, Any], **options: Any) -> DriverResponse:
        response = self._deliver("interactive", payload, **options)
        response.payload = payload
        response.response_url = payload.get("response_url")
        response.trigger_id = payload.get("trigger_id")
        return response

    # ------------------------------------------------------------------ escaped mentions

    def usergroup_mention(self, usergroup_id: str, handle: str | None = None) -> str:
        """`<!subteam^S123|@sales>`: how a slash command with `should_escape: true` carries `@sales`."""
        if handle is None and self.emulator is not None:
            group = self.emulator.team(self.team_id).usergroups.get(usergroup_id)
            handle = group.handle if group is not None else None
        return f"<!subteam^{usergroup_id}|@{handle}>" if handle else f"<!subteam^{usergroup_id}>"

    def user_mention(self, user_id: str) -> str:
        """`<@U123|ann>`: an escaped user mention."""
        return f"<@{user_id}|{self._user_name(user_id)}>"

    def channel_mention(self, channel_id: str) -> str:
        """`<#C123|sales>`: an escaped channel mention."""
        return f"<#{channel_id}|{self._channel_name(channel_id)}>"

    def escape_mentions(self, text: str) -> str:
        """What Slack sends for typed text when the command escapes mentions (the manifest's `should_escape:
        true`): `@handle` of a user group, `@name` of a user and `#name` of a channel become their `<…>` forms;
        anything that names nothing in the workspace stays as typed."""
        if self.emulator is None or self.team_id not in self.emulator.teams:
            return text
        team = self.emulator.teams[self.team_id]

        def replace(match: re.Match[str]) -> str:
            sigil, name = match.group(1), match.group(2)
            if sigil == "#":
                channel = next((c for c in team.channels.values() if not c.is_im and c.name == name), None)
                return self.channel_mention(channel.id) if channel is not None else match.group(0)
            group = next((g for g in team.usergroups.values() if g.handle == name), None)
            if group is not None:
                return self.usergroup_mention(group.id, group.handle)
            user = next((u for u in team.users.values() if u["name"] == name and not u.get("deleted")), None)
            return self.user_mention(user["id"]) if user is not None else match.group(0)

        return _TYPED_MENTION.sub(replace, text)

    # ------------------------------------------------------------------ slash commands

    def slash_command(
        self, user_id: str, command: str, text: str = "", channel_id: str | None = None, *, escape: bool = False,
        **options: Any
    ) -> DriverResponse:
        """`/gmail connect` typed by `user_id` (in their DM with the app unless `channel_id`). `text` goes out
        as given (write `<!subteam^S1|@sales>` yourself, or use `usergroup_mention`); `escape=True` first turns
        typed `@sales`, `@ann`, `#deals` into what Slack sends for them (`escape_mentions`)."""
        if escape:
            text = self.escape_mentions(text)
        channel_id = channel_id or self.dm_channel(user_id)
        response_url = self._response_url(channel_id, user_id)
        trigger_id = self._trigger_id(user_id)
        form = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self._team_domain(),
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command if command.startswith("/") else "/" + command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        response = self._deliver("slash_commands", form, **options)
        response.payload = form
        response.response_url = response_url
        response.trigger_id = trigger_id
        return response

    # ------------------------------------------------------------------ interactions

    def block_action(
        self,
        user_id: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        channel_id: str | None = None,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        container: dict[str, Any] | None = None,
        selected_option: dict[str, Any] | None = None,
        *,
        action: dict[str, Any] | None = None,
        state_values: dict[str, Any] | None = None,
        **options: Any,
    ) -> DriverResponse:
        """A click on `action_id` in a message (pass `message`, e.g. `emu.dms(user)[-1]`) or a view (`view`).

        The element is looked up in the message/view blocks to fill its type,
        block_id, text and value like Slack does; `action` overrides the whole
        action object.
        """
        trigger_id = self._trigger_id(user_id)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
        }
        blocks: list[Any] = []
        if view is not None:
            view = self._current_view(view)
            blocks = view.get("blocks", [])
            payload["container"] = container or {"type": "view", "view_id": view.get("id")}
            payload["view"] = view
            payload["state"] = view.get("state") or {"values": {}}
            if state_values is not None:
                payload["view"]["state"] = {"values": state_values}
                payload["state"] = {"values": state_values}
        else:
            message = copy.deepcopy(message) if message is not None else None
            channel_id = channel_id or (message or {}).get("channel") or self.dm_channel(user_id)
            is_ephemeral = bool((message or {}).get("is_ephemeral"))
            ts = (message or {}).get("message_ts") or (message or {}).get("ts") or ""
            payload["container"] = container or {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": is_ephemeral,
            }
            payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
            if message is not None and not is_ephemeral:
                for key in ("channel", "is_ephemeral", "source", "response_type", "message_ts", "response_url_key"):
                    message.pop(key, None)
                payload["message"] = message
            if message is not None:
                blocks = message.get("blocks", [])
            payload["state"] = {"values": state_values or {}}
            original = ("ephemeral" if is_ephemeral else "message", channel_id, ts) if ts else None
            payload["response_url"] = self._response_url(channel_id, user_id, original)
        payload["actions"] = [
            action or self._action(blocks, action_id, value=value, block_id=block_id, selected_option=selected_option)
        ]
        return self._send_interaction(payload, **options)

    def _current_view(self, view: dict[str, Any]) -> dict[str, Any]:
        """The emulator's stored copy of a view the bot opened, overlaid with what the caller passed."""
        base: dict[str, Any] = {}
        if self.emulator is not None and view.get("id"):
            base = self.emulator.get_view(view["id"]) or {}
        merged = {**base, **copy.deepcopy(view)}
        merged.setdefault("id", "V" + secrets.token_hex(5).upper())
        merged.setdefault("team_id", self.team_id)
        merged.setdefault("type", "modal")
        merged.setdefault("blocks", [])
        merged.setdefault("private_metadata", "")
        merged.setdefault("callback_id", "")
        merged.setdefault("state", {"values": {}})
        merged.setdefault("hash", f"{int(time.time())}.{secrets.token_hex(4)}")
        merged.setdefault("root_view_id", merged["id"])
        merged.setdefault("previous_view_id", None)
        merged.setdefault("app_id", self.api_app_id)
        merged.setdefault("external_id", "")
        merged.setdefault("app_installed_team_id", self.team_id)
        return merged

    @staticmethod
    def _find_element(blocks: list[Any], action_id: str) -> tuple[str | None, dict[str, Any] | None]:
        for block in blocks:
            if not isinstance(block, dict):
                continue
            candidates = list(block.get("elements") or [])
            for key in ("accessory", "element"):
                if isinstance(block.get(key), dict):
                    candidates.append(block[key])
            for element in candidates:
                if isinstance(element, dict) and element.get("action_id") == action_id:
                    return block.get("block_id"), element
        return None, None

    def _action(
        self,
        blocks: list[Any],
        action_id: str,
        *,
        value: str | None,
        block_id: str | None,
        selected_option: dict[str, Any] | None,
    ) -> dict[str, Any]:
        found_block_id, element = self._find_element(blocks, action_id)
        element = element or {}
        kind = element.get("type") or ("static_select" if selected_option is not None else "button")
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or found_block_id or secrets.token_hex(3),
            "type": kind,
            "action_ts": f"{time.time():.6f}",
        }
        if "text" in element:
            action["text"] = element["text"]
        if value is None:
            value = element.get("value")
        if value is not None:
            action["value"] = value
        if selected_option is not None:
            action["selected_option"] = selected_option
        elif kind in ("static_select", "overflow", "radio_buttons") and element.get("options") and value is not None:
            match = next((o for o in element["options"] if o.get("value") == value), None)
            if match is not None:
                action["selected_option"] = match
                action.pop("value", None)
        if kind == "button" and element.get("url"):
            action["url"] = element["url"]
        return action

    def view_submission(
        self,
        user_id: str,
        view: dict[str, Any],
        *,
        values: dict[str, Any] | None = None,
        apply_ack: bool = True,
        **options: Any,
    ) -> DriverResponse:
        """The user presses Submit on `view` (the dict views.open returned, or just
        callback_id / private_metadata / state). `values` sets `state.values`:
        `{block_id: {action_id: {"type": "plain_text_input", "value": "…"}}}`.

        With an emulator, the app's answer (empty ack, response_action errors /
        update / push / clear) is applied to the user's modal stack.
        """
        full_view = self._view_from_stack(user_id, view)
        if values is not None:
            full_view["state"] = {"values": values}
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": self._trigger_id(user_id),
            "view": full_view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        response = self._send_interaction(payload, **options)
        if apply_ack and self.emulator is not None and response.status == 200:
            ack = response.json if isinstance(response.json, dict) else None
            self.emulator.apply_view_submission_ack(self.team_id, user_id, full_view["id"], ack)
        return response

    def _view_from_stack(self, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        if self.emulator is not None and not view.get("id") and self.team_id in self.emulator.teams:
            stack = self.emulator.modal_stack(user_id, self.team_id)
            if stack and (not view.get("callback_id") or stack[-1].get("callback_id") == view.get("callback_id")):
                view = {**view, "id": stack[-1]["id"]}
        return self._current_view(view)

    def message_shortcut(
        self, user_id: str, callback_id: str, message: dict[str, Any], channel_id: str | None = None, **options: Any
    ) -> DriverResponse:
        """`user_id` runs the message shortcut `callback_id` on `message` (e.g. `emu.messages(channel)[-1]`):
        a `message_action` payload with a trigger_id and a response_url (ephemeral to that user in the channel)."""
        message = copy.deepcopy(message)
        channel_id = channel_id or message.get("channel") or self.dm_channel(user_id)
        for key in ("channel", "is_ephemeral", "source", "response_type", "message_ts", "response_url_key"):
            message.pop(key, None)
        trigger_id = self._trigger_id(user_id)
        payload: dict[str, Any] = {
            "type": "message_action",
            "token": self.verification_token,
            "action_ts": f"{time.time():.6f}",
            "team": self._team(),
            "user": self._user(user_id),
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": trigger_id,
            "response_url": self._response_url(channel_id, user_id),
            "message_ts": message.get("ts") or "",
            "message": message,
        }
        return self._send_interaction(payload, **options)

    def view_closed(self, user_id: str, view: dict[str, Any], *, is_cleared: bool = False, **options: Any) -> DriverResponse:
        full_view = self._view_from_stack(user_id, view)
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "view": full_view,
            "is_cleared": is_cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._send_interaction(payload, **options)

    # ------------------------------------------------------------------ events

    def event(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        *,
        event_time: int | None = None,
        **options: Any,
    ) -> DriverResponse:
        """An Events API `event_callback` envelope around `event`."""
        bot_user_id = "U0BOT"
        if self.emulator is not None and self.team_id in self.emulator.teams:
            bot_user_id = self.emulator.teams[self.team_id].bot_user_id
        envelope = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
            "event_time": event_time or int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_urlsafe(24),
        }
        response = self._deliver("events_api", envelope, **options)
        response.payload = envelope
        return response

    def url_verification(self, challenge: str, **options: Any) -> DriverResponse:
        payload = {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        response = self._deliver("events_api", payload, **options)
        response.payload = payload
        return response

    def app_home_opened(self, user_id: str, tab: str = "home", **options: Any) -> DriverResponse:
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.dm_channel(user_id),
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        }
        if self.emulator is not None and self.team_id in self.emulator.teams:
            home = self.emulator.home_view(user_id, self.team_id)
            if home is not None and tab == "home":
                event["view"] = home
        return self.event(event, **options)

    def message_im(self, user_id: str, text: str, **options: Any) -> DriverResponse:
        """The user writes to the app in its Messages tab (recorded in the emulator, then sent as message.im)."""
        channel_id = self.dm_channel(user_id)
        if self.emulator is not None:
            record = self.emulator.post_as_user(channel_id, user_id, text, team_id=self.team_id)
            ts = record["ts"]
        else:
            ts = f"{time.time():.6f}"
        event = {
            "type": "message",
            "channel": channel_id,
            "user": user_id,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "im",
            "team": self.team_id,
        }
        return self.event(event, **options)

    def tokens_revoked(self, bot: list[str] | None = None, oauth: list[str] | None = None, **options: Any) -> DriverResponse:
        event = {"type": "tokens_revoked", "tokens": {"oauth": oauth or [], "bot": bot or []}, "event_ts": f"{time.time():.6f}"}
        return self.event(event, **options)

    def app_uninstalled(self, **options: Any) -> DriverResponse:
        return self.event({"type": "app_uninstalled", "event_ts": f"{time.time():.6f}"}, **options)

    def _deliver_emulator_event(self, team_id: str, event: dict[str, Any]) -> None:
        if team_id != self.team_id:
            return
        try:
            response = self.event(event)
        except OSError as exc:  # the bot may not be listening in this test
            response = DriverResponse(0, str(exc), Message(), 0.0, payload={"event": event})
        with self._deliveries_lock:
            self.deliveries.append(response)


class SocketModeDriver(SlackDriver):
    """SlackDriver's requests as Socket Mode envelopes, through the emulator's WebSocket.

    The app connects with an app-level token registered in the emulator
    (`emu.register_app_token`); each call pushes one envelope to the team's newest connection
    and returns once the app acked it: `status` 200, `json` the ack's payload (None for a bare
    ack), `envelope_id`. TimeoutError when no connection comes or no ack does within `timeout`
    (Bolt sends no ack when a listener fails). `retry_num` / `retry_reason` become the
    envelope's `retry_attempt` / `retry_reason`; there is no signature, timestamp or header.
    """

    def __init__(
        self,
        emulator: "SlackEmulator",
        team_id: str | None = None,
        *,
        api_app_id: str | None = None,
        verification_token: str = "emulator-verification-token",
        timeout: float = 10.0,
        deliver_lifecycle_events: bool = True,
    ) -> None:
        super().__init__(
            emulator.url + "link/", "socket-mode-sends-no-signature", emulator, team_id, api_app_id=api_app_id,
            verification_token=verification_token, timeout=timeout,
            deliver_lifecycle_events=deliver_lifecycle_events,
        )

    def sign(self, body: bytes | str, timestamp: int | str | None = None) -> dict[str, str]:
        raise TypeError("Socket Mode envelopes are not signed")

    def post_raw(self, body: bytes, headers: dict[str, str] | None = None,
                 content_type: str = "application/x-www-form-urlencoded") -> DriverResponse:
        raise TypeError("Socket Mode has no HTTP requests; use send_envelope()")

    def url_verification(self, challenge: str, **options: Any) -> DriverResponse:
        raise TypeError("Slack sends no url_verification over Socket Mode")

    def send_envelope(self, kind: str, payload: dict[str, Any], **options: Any) -> DriverResponse:
        """Any payload as an envelope of `kind` (events_api, interactive, slash_commands), acked."""
        response = self._deliver(kind, payload, **options)
        response.payload = payload
        return response

    def _deliver(self, kind: str, payload: dict[str, Any], **options: Any) -> DriverResponse:
        options = self._options(options)
        http_only = sorted({"timestamp", "signature", "headers"} & options.keys())
        if http_only:
            raise TypeError(f"{http_only}: Socket Mode envelopes carry no signature or HTTP headers")
        assert self.emulator is not None
        hub = self.emulator.socket_mode
        started = time.perf_counter()
        envelope_id = hub.send(
            kind, payload, self.team_id, retry_attempt=options.get("retry_num"),
            retry_reason=options.get("retry_reason"), timeout=self.timeout,
        )
        ack = hub.wait_for_ack(envelope_id, timeout=self.timeout)
        elapsed = (time.perf_counter() - started) * 1000
        body = json.dumps(ack["payload"]) if ack.get("payload") is not None else ""
        headers = Message()
        headers["Content-Type"] = "application/json" if body else "text/plain"
        return DriverResponse(200, body, headers, elapsed, envelope_id=envelope_id)

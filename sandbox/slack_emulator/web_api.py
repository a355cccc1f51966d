"""The Web API methods: request parsing, auth, fault injection, one function per method.

Shapes follow Slack's method reference (docs.slack.dev/reference/methods) and
the responses slack_sdk / bolt-python read: `ok`, `error`,
`response_metadata.next_cursor` for paged lists, `response_metadata.messages`
for invalid Block Kit.
"""
from __future__ import annotations

import base64
import binascii
import copy
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs

from .blocks import MESSAGE_MAX_BLOCKS, check_blocks, check_view
from .faults import no_answer
from .state import ApiError, Call, Channel, Team, TokenInfo, decode_cursor, encode_cursor, user_object

if TYPE_CHECKING:
    from .emulator import SlackEmulator


@dataclass
class Ctx:
    emu: "SlackEmulator"
    method: str
    params: dict[str, Any]
    token: TokenInfo | None
    team: Team | None
    basic_auth: tuple[str, str] | None
    after: list[Callable[[], None]] = field(default_factory=list)
    bearer: str | None = None  # the token of the Authorization header only (apps.connections.open wants it there)

    @property
    def bot_team(self) -> Team:
        assert self.team is not None
        return self.team


Handler = Callable[[Ctx], dict[str, Any]]
METHODS: dict[str, tuple[Handler, bool]] = {}


def method(name: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        METHODS[name] = (fn, auth)
        return fn

    return register


# ---------------------------------------------------------------------------- dispatch


def _parse_request(headers: Any, query: str, body: bytes) -> tuple[dict[str, Any], str | None, tuple[str, str] | None]:
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    token: str | None = params.pop("token", None)
    if body:
        content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if not content_type:
            raise ApiError("missing_post_type")
        if content_type == "application/json":
            try:
                data = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise ApiError("invalid_json") from None
            if not isinstance(data, dict):
                raise ApiError("invalid_json")
            # Slack ignores a token inside a JSON body: it must be in the header.
            data.pop("token", None)
            params.update(data)
        elif content_type == "application/x-www-form-urlencoded":
            try:
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                raise ApiError("invalid_form_data") from None
            params.update({k: v[-1] for k, v in form.items()})
            token = params.pop("token", token)
        else:
            raise ApiError("invalid_post_type")
    basic: tuple[str, str] | None = None
    authorization = headers.get("Authorization") or ""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        token = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(credentials.strip()).decode("utf-8").partition(":")
            basic = (user, password)
        except (binascii.Error, UnicodeDecodeError):
            basic = None
    return params, token, basic


def dispatch(emu: "SlackEmulator", name: str, headers: Any, query: str, body: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    started = time.time()
    response_headers: dict[str, str] = {}
    try:
        params, token, basic = _parse_request(headers, query, body)
    except ApiError as exc:
        with emu._lock:
            emu._calls.append(Call(name, {}, None, None, started, exc.status, exc.payload()))
        return exc.status, response_headers, exc.payload()

    delay = emu._take_delay(name)
    latency_ms = emu._latency.draw_ms(name)
    emu._call_started()
    try:
        return _answer(emu, name, headers, params, token, basic, started, delay + latency_ms / 1000.0, latency_ms)
    finally:
        emu._call_finished()


def _answer(
    emu: "SlackEmulator", name: str, headers: Any, params: dict[str, Any], token: str | None,
    basic: tuple[str, str] | None, started: float, wait: float, latency_ms: float,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    if wait:
        time.sleep(wait)  # outside the lock: concurrent calls wait side by side

    response_headers: dict[str, str] = {}
    ctx = Ctx(emu, name, params, None, None, basic, bearer=_bearer_token(headers))
    status = 200
    with emu._lock:
        fault = emu._take_fault(name)
        rated = emu._draw_fault(name) if fault is None else None
        if rated is not None and not rated.accepted:
            # Failed before anything happened: nothing stored, whatever the client concludes.
            emu._calls.append(Call(name, params, token, None, started, 0, None, latency_ms, fault=str(rated.status)))
            if not rated.answers:
                raise no_answer(rated)
            status, response_headers, payload = rated.answer()
            emu._calls[-1].http_status, emu._calls[-1].response = status, copy.deepcopy(payload)
            return status, response_headers, payload
        if fault is not None and fault.kind == "ratelimit":
            status = 429
            response_headers["Retry-After"] = str(fault.retry_after)
            payload: dict[str, Any] = {"ok": False, "error": "ratelimited"}
        elif fault is not None:
            status = fault.status
            payload = {"ok": False, "error": fault.error}
        elif name not in METHODS:
            payload = {"ok": False, "error": "unknown_method", "req_method": name}
        else:
            handler, needs_auth = METHODS[name]
            try:
                if needs_auth:
                    ctx.token, ctx.team = emu._authenticate(token)
                    response_headers["X-OAuth-Scopes"] = ctx.token.scopes
                payload = {"ok": True, **handler(ctx)}
            except ApiError as exc:
                status, payload = exc.status, exc.payload()
                response_headers.update(exc.headers)
        team_id = ctx.team.id if ctx.team else None
        if team_id is None and token in emu._tokens:
            team_id = emu._tokens[token].team_id
        if rated is not None:
            # Carried out (the message is stored), and then the answer is lost or replaced by an error.
            if rated.answers:
                status, response_headers, payload = rated.answer()
            else:
                status, payload = 0, None
        emu._calls.append(Call(name, params, token, team_id, started, status, copy.deepcopy(payload), latency_ms,
                               fault=str(rated.status) if rated is not None else None))
    for action in ctx.after:
        action()
    if rated is not None and not rated.answers:
        raise no_answer(rated)
    return status, response_headers, payload


def _bearer_token(headers: Any) -> str | None:
    scheme, _, credentials = (headers.get("Authorization") or "").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


# ---------------------------------------------------------------------------- argument helpers


def _truthy(value: Any) -> bool:
    return value is True or value == 1 or (isinstance(value, str) and value.lower() in ("true", "1"))


def _json_arg(params: dict[str, Any], name: str, error: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(error) from None
    return value


def _int_arg(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments", messages=[f"[ERROR] {name} must be an integer"]) from None


def _ts_arg(params: dict[str, Any], name: str, error: str) -> float | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(error) from None


def message_content(params: dict[str, Any], *, required: bool, max_blocks: int = MESSAGE_MAX_BLOCKS) -> dict[str, Any]:
    """text / blocks / attachments / metadata of chat.* and response_url posts, checked like Slack."""
    text = params.get("text")
    if text is None:
        text = params.get("markdown_text")
    if text is not None and not isinstance(text, str):
        text = str(text)
    blocks = _json_arg(params, "blocks", "invalid_blocks_format")
    attachments = _json_arg(params, "attachments", "invalid_attachments")
    metadata = _json_arg(params, "metadata", "invalid_metadata_format")
    if required and not text and not blocks and not attachments:
        raise ApiError("no_text")
    if text and len(text) > 40_000:
        raise ApiError("msg_too_long")
    if blocks is not None:
        problems = check_blocks(blocks, limit=max_blocks)
        if problems:
            raise ApiError("invalid_blocks", messages=problems)
    if attachments is not None:
        if not isinstance(attachments, list):
            raise ApiError("invalid_attachments")
        if len(attachments) > 100:
            raise ApiError("too_many_attachments")
    if metadata is not None:
        if (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            raise ApiError("invalid_metadata_format")
        metadata = {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}
    return {"text": text, "blocks": blocks, "attachments": attachments, "metadata": metadata}


def api_message(record: dict[str, Any], *, include_metadata: bool = True) -> dict[str, Any]:
    message = {k: copy.deepcopy(v) for k, v in record.items() if k != "channel"}
    if not include_metadata:
        message.pop("metadata", None)
    return message


def _channel_for_read(ctx: Ctx, ref: Any) -> Channel:
    team = ctx.bot_team
    if not isinstance(ref, str) or ref not in team.channels:
        raise ApiError("channel_not_found")
    channel = team.channels[ref]
    if ctx.token and ctx.token.kind == "user":
        return channel
    ctx.emu._check_bot_access(team, channel, posting=False)
    return channel


def _user_arg(ctx: Ctx, name: str = "user") -> dict[str, Any]:
    user_id = ctx.params.get(name)
    user = ctx.bot_team.users.get(user_id) if isinstance(user_id, str) else None
    if user is None:
        raise ApiError("user_not_found")
    return user


# ---------------------------------------------------------------------------- api / auth / team


@method("api.test", auth=False)
def api_test(ctx: Ctx) -> dict[str, Any]:
    if ctx.params.get("error"):
        raise ApiError(str(ctx.params["error"]), extra={"args": ctx.params})
    return {"args": ctx.params} if ctx.params else {}


@method("auth.test")
def auth_test(ctx: Ctx) -> dict[str, Any]:
    team, token = ctx.bot_team, ctx.token
    assert token is not None
    user = team.users.get(token.user_id, {})
    result: dict[str, Any] = {
        "url": f"https://{team.domain}.slack.com/",
        "team": team.name,
        "user": user.get("name", token.user_id),
        "team_id": team.id,
        "user_id": token.user_id,
        "is_enterprise_install": False,
    }
    if token.kind == "bot":
        result["bot_id"] = team.bot_id
        result["app_id"] = team.app_id
    return result


@method("auth.revoke")
def auth_revoke(ctx: Ctx) -> dict[str, Any]:
    assert ctx.token is not None
    if _truthy(ctx.params.get("test")):
        return {"revoked": False}
    events = ctx.emu._revoke_tokens_locked([ctx.token.token])
    ctx.after.append(lambda: ctx.emu._emit(events))
    return {"revoked": True}


@method("apps.uninstall")
def apps_uninstall(ctx: Ctx) -> dict[str, Any]:
    client_id = ctx.params.get("client_id") or (ctx.basic_auth or ("", ""))[0]
    client_secret = ctx.params.get("client_secret") or (ctx.basic_auth or ("", ""))[1]
    app = ctx.emu._oauth_apps.get(client_id or "")
    if app is None:
        raise ApiError("invalid_client_id")
    if app.client_secret != client_secret:
        raise ApiError("bad_client_secret")
    team_id = ctx.bot_team.id
    ctx.after.append(lambda: ctx.emu.uninstall(team_id))
    return {}


@method("apps.connections.open", auth=False)
def apps_connections_open(ctx: Ctx) -> dict[str, Any]:
    # An app-level token, in the Authorization header only (Slack refuses it as a form field).
    team_id, url = ctx.emu.socket_mode._open_url(ctx.bearer)
    ctx.team = ctx.emu.teams[team_id]
    return {"url": url}


@method("team.info")
def team_info(ctx: Ctx) -> dict[str, Any]:
    requested = ctx.params.get("team")
    if requested and requested != ctx.bot_team.id:
        raise ApiError("team_not_found")
    return {"team": ctx.bot_team.team_object()}


# ---------------------------------------------------------------------------- users


@method("users.info")
def users_info(ctx: Ctx) -> dict[str, Any]:
    user = user_object(ctx.bot_team, _user_arg(ctx))
    if _truthy(ctx.params.get("include_locale")):
        user["locale"] = "en-US"
    return {"user": user}


@method("users.lookupByEmail")
def users_lookup_by_email(ctx: Ctx) -> dict[str, Any]:
    email = str(ctx.params.get("email") or "").strip().lower()
    for user in ctx.bot_team.users.values():
        if email and (user.get("email") or "").lower() == email and not user.get("is_bot"):
            return {"user": user_object(ctx.bot_team, user)}
    raise ApiError("users_not_found")


@method("users.list")
def users_list(ctx: Ctx) -> dict[str, Any]:
    users = sorted(ctx.bot_team.users.values(), key=lambda u: u["id"])
    page, next_cursor = _page(ctx, [u["id"] for u in users], "user", default_limit=0)
    by_id = {u["id"]: u for u in users}
    return {
        "members": [user_object(ctx.bot_team, by_id[i]) for i in page],
        "cache_ts": int(time.time()),
        "response_metadata": {"next_cursor": next_cursor},
    }


def _page(ctx: Ctx, ids: list[str], kind: str, *, default_limit: int, max_limit: int = 1000) -> tuple[list[str], str]:
    limit = _int_arg(ctx.params, "limit", default_limit)
    limit = len(ids) if limit <= 0 else min(limit, max_limit)
    start = 0
    cursor = ctx.params.get("cursor")
    if cursor:
        first = decode_cursor(str(cursor), kind)
        if first is None or first not in ids:
            raise ApiError("invalid_cursor")
        start = ids.index(first)
    page = ids[start : start + limit]
    rest = ids[start + limit :]
    return page, encode_cursor(kind, rest[0]) if rest else ""


# ---------------------------------------------------------------------------- conversations


@method("conversations.open")
def conversations_open(ctx: Ctx) -> dict[str, Any]:
    team, emu = ctx.bot_team, ctx.emu
    if ctx.params.get("channel"):
        channel = team.channels.get(ctx.params["channel"])
        if channel is None or not (channel.is_im or channel.is_mpim):
            raise ApiError("channel_not_found")
        return {"no_op": True, "already_open": True, "channel": channel.channel_object(bot_user_id=team.bot_user_id)}
    raw = ctx.params.get("users")
    user_ids = [u.strip() for u in (raw if isinstance(raw, list) else str(raw or "").split(",")) if u.strip()]
    if not user_ids:
        raise ApiError("users_list_not_supplied")
    for user_id in user_ids:
        user = team.users.get(user_id)
        if user is None:
            raise ApiError("user_not_found")
        if user.get("deleted"):
            raise ApiError("user_disabled")
    others = [u for u in dict.fromkeys(user_ids) if u != team.bot_user_id]
    if not others:
        raise ApiError("cannot_dm_bot")
    if len(others) > 8:
        raise ApiError("too_many_users")
    if len(others) == 1:
        channel = emu._ensure_im(team, others[0])
    else:
        channel = _ensure_mpim(emu, team, others)
    already_open = channel.opened
    channel.opened = True
    full = channel.channel_object(bot_user_id=team.bot_user_id)
    if already_open:
        return {"no_op": True, "already_open": True, "channel": full}
    if _truthy(ctx.params.get("return_im")):
        return {"channel": full}
    return {"channel": {"id": channel.id}}


def _ensure_mpim(emu: "SlackEmulator", team: Team, user_ids: list[str]) -> Channel:
    from .state import stable_id

    members = sorted(set(user_ids) | {team.bot_user_id})
    channel_id = stable_id("C", team.id, *members)
    if channel_id not in team.channels:
        names = [team.users[u]["name"] for u in members]
        team.channels[channel_id] = Channel(
            id=channel_id, team_id=team.id, name="mpdm-" + "--".join(names) + "-1", members=members,
            created=int(time.time()), is_mpim=True, is_private=True,
        )
    return team.channels[channel_id]


@method("conversations.info")
def conversations_info(ctx: Ctx) -> dict[str, Any]:
    team = ctx.bot_team
    channel = team.channels.get(ctx.params.get("channel") or "")
    if channel is None:
        raise ApiError("channel_not_found")
    if (channel.is_private or channel.is_mpim) and team.bot_user_id not in channel.members:
        raise ApiError("channel_not_found")
    obj = channel.channel_object(
        bot_user_id=team.bot_user_id, include_num_members=_truthy(ctx.params.get("include_num_members"))
    )
    return {"channel": obj}


@method("conversations.members")
def conversations_members(ctx: Ctx) -> dict[str, Any]:
    team = ctx.bot_team
    channel = team.channels.get(ctx.params.get("channel") or "")
    if channel is None or ((channel.is_private or channel.is_mpim) and team.bot_user_id not in channel.members):
        raise ApiError("channel_not_found")
    page, next_cursor = _page(ctx, list(channel.members), "user", default_limit=100)
    return {"members": page, "response_metadata": {"next_cursor": next_cursor}}


@method("conversations.join")
def conversations_join(ctx: Ctx) -> dict[str, Any]:
    team = ctx.bot_team
    channel = team.channels.get(ctx.params.get("channel") or "")
    if channel is None or ((channel.is_private or channel.is_mpim) and team.bot_user_id not in channel.members):
        raise ApiError("channel_not_found")
    if channel.is_im or channel.is_mpim or channel.is_private:
        raise ApiError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise ApiError("is_archived")
    result: dict[str, Any] = {}
    if team.bot_user_id in channel.members:
        result["warning"] = "already_in_channel"
        result["response_metadata"] = {"warnings": ["already_in_channel"]}
    else:
        channel.members.append(team.bot_user_id)
    result["channel"] = channel.channel_object(bot_user_id=team.bot_user_id)
    return result


@method("conversations.list")
def conversations_list(ctx: Ctx) -> dict[str, Any]:
    team = ctx.bot_team
    types = {t.strip() for t in str(ctx.params.get("types") or "public_channel").split(",") if t.strip()}
    exclude_archived = _truthy(ctx.params.get("exclude_archived"))
    visible: list[Channel] = []
    for channel in team.channels.values():
        if channel.is_im:
            kind = "im"
        elif channel.is_mpim:
            kind = "mpim"
        else:
            kind = "private_channel" if channel.is_private else "public_channel"
        if kind not in types or (exclude_archived and channel.is_archived):
            continue
        if kind != "public_channel" and team.bot_user_id not in channel.members:
            continue
        visible.append(channel)
    visible.sort(key=lambda c: c.id)
    page, next_cursor = _page(ctx, [c.id for c in visible], "channel", default_limit=100)
    return {
        "channels": [team.channels[i].channel_object(bot_user_id=team.bot_user_id) for i in page],
        "response_metadata": {"next_cursor": next_cursor},
    }


def _history_window(ctx: Ctx, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    oldest = _ts_arg(ctx.params, "oldest", "invalid_ts_oldest")
    latest = _ts_arg(ctx.params, "latest", "invalid_ts_latest")
    inclusive = _truthy(ctx.params.get("inclusive"))
    selected = []
    for message in messages:
        ts = float(message["ts"])
        if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
            continue
        if latest is not None and (ts > latest or (ts == latest and not inclusive)):
            continue
        selected.append(message)
    return selected


@method("conversations.history")
def conversations_history(ctx: Ctx) -> dict[str, Any]:
    channel = _channel_for_read(ctx, ctx.params.get("channel"))
    top_level = [
        m for m in channel.messages
        if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
    ]
    window = sorted(_history_window(ctx, top_level), key=lambda m: float(m["ts"]), reverse=True)
    limit = min(max(_int_arg(ctx.params, "limit", 100), 1), ctx.emu.max_history_limit)
    cursor = ctx.params.get("cursor")
    if cursor:
        next_ts = decode_cursor(str(cursor), "next_ts")
        if next_ts is None:
            raise ApiError("invalid_cursor")
        window = [m for m in window if float(m["ts"]) <= float(next_ts)]
    page, rest = window[:limit], window[limit:]
    include_metadata = _truthy(ctx.params.get("include_all_metadata"))
    result: dict[str, Any] = {
        "messages": [api_message(m, include_metadata=include_metadata) for m in page],
        "has_more": bool(rest),
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
    }
    if ctx.params.get("latest"):
        result["latest"] = str(ctx.params["latest"])
    if ctx.params.get("oldest"):
        result["oldest"] = str(ctx.params["oldest"])
    if rest:
        result["response_metadata"] = {"next_cursor": encode_cursor("next_ts", rest[0]["ts"])}
    return result


@method("conversations.replies")
def conversations_replies(ctx: Ctx) -> dict[str, Any]:
    channel = _channel_for_read(ctx, ctx.params.get("channel"))
    ts = str(ctx.params.get("ts") or "")
    parent = channel.find(ts)
    if parent is None:
        raise ApiError("thread_not_found")
    root = parent.get("thread_ts") or parent["ts"]
    thread = [m for m in channel.messages if m["ts"] == root or m.get("thread_ts") == root]
    window = _history_window(ctx, thread)
    limit = min(max(_int_arg(ctx.params, "limit", 1000), 1), ctx.emu.max_history_limit)
    cursor = ctx.params.get("cursor")
    if cursor:
        next_ts = decode_cursor(str(cursor), "next_ts")
        if next_ts is None:
            raise ApiError("invalid_cursor")
        window = [m for m in window if float(m["ts"]) >= float(next_ts)]
    page, rest = window[:limit], window[limit:]
    include_metadata = _truthy(ctx.params.get("include_all_metadata"))
    result: dict[str, Any] = {
        "messages": [api_message(m, include_metadata=include_metadata) for m in page],
        "has_more": bool(rest),
    }
    if rest:
        result["response_metadata"] = {"next_cursor": encode_cursor("next_ts", rest[0]["ts"])}
    return result


# ---------------------------------------------------------------------------- chat


@method("chat.postMessage")
def chat_post_message(ctx: Ctx) -> dict[str, Any]:
    team, emu = ctx.bot_team, ctx.emu
    channel = emu._resolve_channel(team, ctx.params.get("channel"), allow_user=True)
    emu._check_bot_access(team, channel, posting=True)
    content = message_content(ctx.params, required=True)
    thread_ts = ctx.params.get("thread_ts") or None
    emu._admit_post(channel)
    record = emu._post_bot_message(
        team, channel, content, thread_ts=thread_ts, reply_broadcast=_truthy(ctx.params.get("reply_broadcast"))
    )
    return {"channel": channel.id, "ts": record["ts"], "message": api_message(record)}


@method("chat.postEphemeral")
def chat_post_ephemeral(ctx: Ctx) -> dict[str, Any]:
    team, emu = ctx.bot_team, ctx.emu
    channel = emu._resolve_channel(team, ctx.params.get("channel"), allow_user=False)
    emu._check_bot_access(team, channel, posting=True)
    user_id = ctx.params.get("user")
    if not isinstance(user_id, str) or user_id not in channel.members:
        raise ApiError("user_not_in_channel")
    content = message_content(ctx.params, required=True)
    record = emu._add_ephemeral(
        team, channel.id, user_id, content, source="chat.postEphemeral", thread_ts=ctx.params.get("thread_ts") or None
    )
    return {"message_ts": record["message_ts"]}


def _own_message(ctx: Ctx, error: str) -> tuple[Channel, dict[str, Any]]:
    team = ctx.bot_team
    channel = team.channels.get(ctx.params.get("channel") or "")
    if channel is None:
        raise ApiError("channel_not_found")
    ctx.emu._check_bot_access(team, channel, posting=False)
    record = channel.find(str(ctx.params.get("ts") or ""))
    if record is None:
        raise ApiError("message_not_found")
    if record.get("bot_id") != team.bot_id:
        raise ApiError(error)
    return channel, record


@method("chat.update")
def chat_update(ctx: Ctx) -> dict[str, Any]:
    channel, record = _own_message(ctx, "cant_update_message")
    content = message_content(ctx.params, required=False)
    if content["text"] is None and content["blocks"] is None and content["attachments"] is None and content["metadata"] is None:
        raise ApiError("no_text")
    if content["text"] is not None:
        record["text"] = content["text"]
    for key in ("blocks", "attachments", "metadata"):
        if content[key] is not None:
            record[key] = copy.deepcopy(content[key])
    record["edited"] = {"user": ctx.bot_team.bot_user_id, "ts": ctx.emu._next_ts()}
    return {"channel": channel.id, "ts": record["ts"], "text": record["text"], "message": api_message(record)}


@method("chat.delete")
def chat_delete(ctx: Ctx) -> dict[str, Any]:
    channel, record = _own_message(ctx, "cant_delete_message")
    channel.messages = [m for m in channel.messages if m is not record]
    return {"channel": channel.id, "ts": record["ts"]}


@method("chat.getPermalink")
def chat_get_permalink(ctx: Ctx) -> dict[str, Any]:
    team = ctx.bot_team
    channel = team.channels.get(ctx.params.get("channel") or "")
    if channel is None:
        raise ApiError("channel_not_found")
    record = channel.find(str(ctx.params.get("message_ts") or ""))
    if record is None:
        raise ApiError("message_not_found")
    permalink = f"https://{team.domain}.slack.com/archives/{channel.id}/p{record['ts'].replace('.', '')}"
    if record.get("thread_ts") and record["thread_ts"] != record["ts"]:
        permalink += f"?thread_ts={record['thread_ts']}&cid={channel.id}"
    return {"channel": channel.id, "permalink": permalink}


# ---------------------------------------------------------------------------- views


def _view_arg(ctx: Ctx, allowed_types: tuple[str, ...]) -> dict[str, Any]:
    view = _json_arg(ctx.params, "view", "invalid_arguments")
    if view is None:
        raise ApiError("invalid_arguments", messages=["[ERROR] missing required field: view"])
    if len(json.dumps(view)) > 250_000:
        raise ApiError("view_too_large")
    problems = check_view(view, allowed_types=allowed_types)
    if problems:
        raise ApiError("invalid_arguments", messages=problems)
    return view


@method("views.open")
def views_open(ctx: Ctx) -> dict[str, Any]:
    view = _view_arg(ctx, ("modal",))
    trigger = ctx.emu._exchange_trigger(ctx.bot_team, ctx.params.get("trigger_id") or ctx.params.get("interactivity_pointer"))
    record = ctx.emu._open_view(ctx.bot_team, trigger.user_id, view, method="views.open")
    return {"view": copy.deepcopy(record)}


@method("views.push")
def views_push(ctx: Ctx) -> dict[str, Any]:
    view = _view_arg(ctx, ("modal",))
    trigger = ctx.emu._exchange_trigger(ctx.bot_team, ctx.params.get("trigger_id") or ctx.params.get("interactivity_pointer"))
    record = ctx.emu._push_view(ctx.bot_team, trigger.user_id, view, method="views.push")
    return {"view": copy.deepcopy(record)}


@method("views.update")
def views_update(ctx: Ctx) -> dict[str, Any]:
    team, emu = ctx.bot_team, ctx.emu
    view_id = ctx.params.get("view_id")
    external_id = ctx.params.get("external_id")
    if not view_id and not external_id:
        raise ApiError("invalid_arguments", messages=["[ERROR] either view_id or external_id is required"])
    if not view_id:
        view_id = next(
            (vid for vid, v in emu._views.items() if v["team_id"] == team.id and v.get("external_id") == external_id),
            None,
        )
    current = emu._views.get(view_id or "")
    if current is None or current["team_id"] != team.id:
        raise ApiError("not_found")
    view = _view_arg(ctx, (current["type"],))
    expected_hash = ctx.params.get("hash")
    if expected_hash and expected_hash != current["hash"]:
        raise ApiError("hash_conflict")
    record = emu._replace_view(team, current["id"], view, method="views.update")
    return {"view": copy.deepcopy(record)}


@method("views.publish")
def views_publish(ctx: Ctx) -> dict[str, Any]:
    user = _user_arg(ctx, "user_id")
    view = _view_arg(ctx, ("home",))
    record = ctx.emu._publish_home(ctx.bot_team, user["id"], view, expected_hash=ctx.params.get("hash") or None)
    return {"view": copy.deepcopy(record)}


# ---------------------------------------------------------------------------- oauth


@method("oauth.v2.access", auth=False)
def oauth_v2_access(ctx: Ctx) -> dict[str, Any]:
    emu = ctx.emu
    client_id, client_secret = ctx.basic_auth or ("", "")
    client_id = client_id or str(ctx.params.get("client_id") or "")
    client_secret = client_secret or str(ctx.params.get("client_secret") or "")
    app = emu._oauth_apps.get(client_id)
    if app is None:
        raise ApiError("invalid_client_id")
    if app.client_secret != client_secret:
        raise ApiError("bad_client_secret")
    grant_type = ctx.params.get("grant_type") or "authorization_code"
    if grant_type == "refresh_token":
        raise ApiError("invalid_refresh_token")
    if grant_type != "authorization_code":
        raise ApiError("invalid_grant_type")
    code = emu._oauth_codes.get(str(ctx.params.get("code") or ""))
    if (
        code is None
        or code.used
        or code.client_id != client_id
        or time.time() - code.created > emu.oauth_code_ttl
    ):
        raise ApiError("invalid_code")
    if code.redirect_uri and ctx.params.get("redirect_uri") != code.redirect_uri:
        raise ApiError("bad_redirect_uri")
    code.used = True
    ctx.team = emu.teams[code.team_id]
    return emu._issue_install_tokens(code)


# The methods that live in their own modules register themselves with @method on import.
from . import web_api_extra  # noqa: E402,F401

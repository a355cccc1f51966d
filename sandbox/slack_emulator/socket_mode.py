"""Socket Mode for SlackEmulator: app-level tokens, apps.connections.open, and a small RFC 6455
server on the emulator's own port that pushes envelopes to the app and collects its acks.

What slack_sdk's built-in client (under Bolt's SocketModeHandler) relies on, read from its source:

- `apps.connections.open` with the app-level token as `Authorization: Bearer` returns the URL it
  connects to; any port but 443 is spoken to over plain TCP, so `ws://127.0.0.1:<port>/link/?…`
  works. It asks for a new URL before every reconnect (tickets here are single use).
- it checks `Sec-WebSocket-Accept`, cannot unmask server frames (so ours are unmasked) and masks
  its own (so we require it).
- it pings right after connecting and every `ping_interval`, and drops a connection that has not
  ponged for four intervals: every ping gets its pong.
- on a `disconnect` message it opens a new connection at once, then closes the old one, but reads
  the new one only once the old one's pending recv returns (up to 3 s): the emulator closes the old
  connection as soon as the new one is up, as Slack does. On a close frame it disconnects and
  reconnects at its next check, up to `ping_interval` later.
- it acks with `{"envelope_id", "payload"?}`, and sends nothing when Bolt answers other than 200
  (no listener, or a listener that raised before acking).
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qs

from .state import ApiError

if TYPE_CHECKING:
    from .emulator import SlackEmulator
    from .server import SlackEmulatorHandler

logger = logging.getLogger(__name__)

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# How long a connection we closed waits for the client's close frame before dropping the TCP link.
CLOSE_GRACE_SECONDS = 1.0
ENVELOPE_TYPES = ("events_api", "interactive", "slash_commands")
# Interactions whose ack may carry an answer (response_action, options…), as in Slack's examples.
ANSWERABLE_INTERACTIONS = ("block_actions", "block_suggestion", "view_submission")


class ProtocolError(Exception):
    """A frame that breaks RFC 6455: the connection is closed with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


# ---------------------------------------------------------------------------- framing


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1((key.strip() + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _xor(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    stream = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def encode_frame(opcode: int, payload: bytes = b"", *, mask: bool = False, fin: bool = True) -> bytes:
    """One frame; servers send unmasked frames, clients (`mask=True`) masked ones."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head.append(mask_bit | length)
    elif length < 1 << 16:
        head.append(mask_bit | 126)
        head += struct.pack("!H", length)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", length)
    if mask:
        key = secrets.token_bytes(4)
        head += key
        payload = _xor(payload, key)
    return bytes(head) + payload


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    if size == 0:
        return b""
    data = stream.read(size)
    if data is None or len(data) < size:
        raise EOFError("connection closed")
    return data


def read_frame(stream: BinaryIO, *, require_mask: bool) -> tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of the next frame; EOFError when the peer is gone."""
    first, second = _read_exactly(stream, 2)
    fin, opcode = bool(first & 0x80), first & 0x0F
    masked, length = bool(second & 0x80), second & 0x7F
    if first & 0x70:
        raise ProtocolError(1002, "reserved bits set without an extension")
    if opcode in CONTROL_OPCODES:
        if not fin or length > 125:
            raise ProtocolError(1002, "control frames must be short and unfragmented")
    elif opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY):
        raise ProtocolError(1002, f"unknown opcode {opcode:#x}")
    if require_mask and not masked:
        raise ProtocolError(1002, "client frames must be masked")
    if length == 126:
        length = struct.unpack("!H", _read_exactly(stream, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read_exactly(stream, 8))[0]
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(1009, "message too big")
    key = _read_exactly(stream, 4) if masked else b""
    payload = _read_exactly(stream, length)
    return fin, opcode, _xor(payload, key) if masked else payload


# ---------------------------------------------------------------------------- one connection


class SocketConnection:
    """One WebSocket from the app: read on the HTTP handler's thread, written from any thread."""

    def __init__(self, hub: "SocketModeHub", connection_id: str, team_id: str, sock: socket.socket,
                 rfile: BinaryIO) -> None:
        self.hub = hub
        self.id = connection_id
        self.team_id = team_id
        self._sock = sock
        self._rfile = rfile
        self._send_lock = threading.Lock()
        self._grace: threading.Timer | None = None
        self.opened_at = time.time()
        self.closed_at: float | None = None
        self.closing = False  # a close frame went out, or the link is gone: no more envelopes
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_by: str | None = None  # "server" or "client"
        self.pings = 0
        self.other_messages: list[Any] = []  # text from the app that was not an ack
        self.refresh_requested = False  # sent a `disconnect`: closed once the app has a new connection

    @property
    def is_open(self) -> bool:
        return not self.closing

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": self.team_id,
            "open": self.is_open,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "close_code": self.close_code,
            "close_reason": self.close_reason,
            "closed_by": self.closed_by,
            "pings": self.pings,
            "other_messages": list(self.other_messages),
        }

    def send_json(self, message: dict[str, Any]) -> None:
        """Raises ConnectionError once the connection is closing or gone."""
        frame = encode_frame(OP_TEXT, json.dumps(message).encode("utf-8"))
        with self._send_lock:
            if self.closing:
                raise ConnectionError(f"socket {self.id} is closed")
            try:
                self._sock.sendall(frame)
            except OSError as error:
                raise ConnectionError(f"socket {self.id} is gone: {error}") from error

    def _send_control(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            if self.closing:
                return
            try:
                self._sock.sendall(encode_frame(opcode, payload))
            except OSError:
                pass

    def close(self, code: int = 1000, reason: str = "", *, by: str = "server") -> None:
        """Send our close frame (once); the client's answer, or a short grace, ends the link."""
        with self._send_lock:
            if self.closing:
                return
            self.closing = True
            self.close_code, self.close_reason, self.closed_by = code, reason, by
            try:
                self._sock.sendall(encode_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:123]))
            except OSError:
                pass
        if by == "server":
            self._grace = threading.Timer(CLOSE_GRACE_SECONDS, self._drop)
            self._grace.daemon = True
            self._grace.start()
        self.hub._changed()

    def _drop(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def serve(self) -> None:
        """Read frames until the client closes or the link drops."""
        parts: list[bytes] = []
        message_opcode: int | None = None
        try:
            while True:
                fin, opcode, payload = read_frame(self._rfile, require_mask=True)
                if opcode == OP_PING:
                    self.pings += 1
                    self._send_control(OP_PONG, payload)
                elif opcode == OP_PONG:
                    pass
                elif opcode == OP_CLOSE:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    # RFC 6455 §5.5.1: answer a close we did not start with a close.
                    self.close(code if code != 1005 else 1000, payload[2:].decode("utf-8", "replace"), by="client")
                    return
                else:
                    if opcode == OP_CONTINUATION and message_opcode is None:
                        raise ProtocolError(1002, "continuation frame without a message")
                    if opcode != OP_CONTINUATION:
                        if message_opcode is not None:
                            raise ProtocolError(1002, "new message inside a fragmented one")
                        message_opcode = opcode
                    parts.append(payload)
                    if sum(len(part) for part in parts) > MAX_MESSAGE_BYTES:
                        raise ProtocolError(1009, "message too big")
                    if fin:
                        data, kind = b"".join(parts), message_opcode
                        parts, message_opcode = [], None
                        if kind == OP_TEXT:
                            try:
                                text = data.decode("utf-8")
                            except UnicodeDecodeError:
                                raise ProtocolError(1007, "text must be UTF-8") from None
                            self.hub._received(self, text)
        except ProtocolError as error:
            logger.info("socket %s: %s", self.id, error)
            self.close(error.code, str(error))
        except (EOFError, OSError, ValueError):  # the peer went away, or we dropped the link
            pass
        finally:
            self._finished()

    def _finished(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        with self._send_lock:
            if not self.closing:
                self.closing, self.closed_by, self.close_code = True, "client", 1006  # dropped, no close frame
            self.closed_at = time.time()
        self.hub._changed()


# ---------------------------------------------------------------------------- the hub


@dataclass
class Envelope:
    envelope_id: str
    team_id: str
    type: str
    payload: dict[str, Any]
    message: dict[str, Any]
    sent_at: float
    connection_id: str
    ack: dict[str, Any] | None = None


class SocketModeHub:
    """App-level tokens, tickets, connections, envelopes and acks of one SlackEmulator.

    Its own condition guards its state; it may be entered while the emulator's lock is held
    (apps.connections.open), never the other way round.
    """

    def __init__(self, emulator: "SlackEmulator", *, ticket_ttl: float = 30.0) -> None:
        self._emu = emulator
        self.ticket_ttl = ticket_ttl
        self._cond = threading.Condition()
        self._app_tokens: dict[str, str] = {}  # xapp- token -> team id
        self._tickets: dict[str, tuple[str, float]] = {}  # ticket -> (team id, issued at)
        self._connections: list[SocketConnection] = []
        self._envelopes: dict[str, Envelope] = {}
        self._acks: list[dict[str, Any]] = []
        self._counter = 0
        self._accepting = True

    # ------------------------------------------------------------------ tokens and URLs

    def register_app_token(self, token: str | None = None, team_id: str | None = None) -> str:
        team = self._emu.team(team_id)
        token = token or f"xapp-1-{team.app_id}-{secrets.randbelow(10**12):012d}-{secrets.token_hex(16)}"
        with self._cond:
            self._app_tokens[token] = team.id
        return token

    def app_tokens(self) -> dict[str, str]:
        """Registered app-level tokens and their team ids."""
        with self._cond:
            return dict(self._app_tokens)

    def revoke_app_token(self, token: str) -> None:
        """The token stops working for apps.connections.open; connections already open stay up."""
        with self._cond:
            self._app_tokens.pop(token, None)

    def _open_url(self, token: str | None) -> tuple[str, str]:
        """apps.connections.open: (team id, ws:// URL with a single-use ticket)."""
        if not token:
            raise ApiError("not_authed")
        if token in self._emu._tokens:
            raise ApiError("not_allowed_token_type")
        with self._cond:
            team_id = self._app_tokens.get(token)
            if team_id is None:
                raise ApiError("invalid_auth")
            ticket = secrets.token_hex(16)
            self._tickets[ticket] = (team_id, time.time())
        url = f"ws://{self._emu.host}:{self._emu.port}/link/?ticket={ticket}&app_id={self._emu.app_id}"
        return team_id, url

    # ------------------------------------------------------------------ the upgrade

    def serve_upgrade(self, handler: "SlackEmulatorHandler", query: str) -> None:
        """GET /link/?ticket=…: switch to WebSocket, say hello, serve until the link ends."""
        headers = handler.headers
        key = headers.get("Sec-WebSocket-Key") or ""
        connection_tokens = [t.strip().lower() for t in (headers.get("Connection") or "").split(",")]
        if (headers.get("Upgrade") or "").lower() != "websocket" or "upgrade" not in connection_tokens or not key:
            handler._send(400, b"expected a WebSocket upgrade", "text/plain; charset=utf-8")
            return
        if (headers.get("Sec-WebSocket-Version") or "").strip() != "13":
            handler._send(426, b"WebSocket version 13 only", "text/plain; charset=utf-8",
                          {"Sec-WebSocket-Version": "13"})
            return
        ticket = (parse_qs(query).get("ticket") or [""])[-1]
        with self._cond:
            issued = self._tickets.pop(ticket, None)
            valid = issued is not None and self._accepting and time.time() - issued[1] <= self.ticket_ttl
            if valid:
                self._counter += 1
                connection_id = f"socket-{self._counter}"
                team_id = issued[0]  # type: ignore[index]
                open_now = sum(1 for c in self._connections if c.team_id == team_id and c.is_open)
        if not valid:
            handler._send(401, b"invalid_ticket: ask apps.connections.open for a new URL", "text/plain; charset=utf-8")
            return
        handler.send_response_only(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", accept_key(key))
        handler.end_headers()
        handler.close_connection = True
        connection = SocketConnection(self, connection_id, team_id, handler.connection, handler.rfile)
        try:
            connection.send_json({
                "type": "hello",
                "num_connections": open_now + 1,
                "debug_info": {"host": "slack-emulator", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self._emu.app_id},
            })
        except ConnectionError:
            return
        with self._cond:
            replaced = [c for c in self._connections if c.team_id == team_id and c.is_open and c.refresh_requested]
            self._connections.append(connection)
            self._cond.notify_all()
        for old in replaced:  # as Slack does once the app has moved over
            old.close(1001, "refreshed")
        connection.serve()

    # ------------------------------------------------------------------ what tests read

    def connections(self, team_id: str | None = None, *, include_closed: bool = False) -> list[dict[str, Any]]:
        """Open connections (oldest first), or all of them with `include_closed`."""
        with self._cond:
            return [
                c.info() for c in self._connections
                if (team_id is None or c.team_id == team_id) and (include_closed or c.is_open)
            ]

    def wait_for_connection(self, team_id: str | None = None, timeout: float = 5.0,
                            *, other_than: str | None = None) -> dict[str, Any]:
        """The newest open connection (not `other_than`, to wait for a reconnect); TimeoutError if none comes."""
        team_id = team_id or self._emu.default_team().id
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                connection = self._newest(team_id, exclude={other_than} if other_than else set())
                if connection is not None:
                    return connection.info()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no Socket Mode connection from team {team_id} within {timeout}s")
                self._cond.wait(remaining)

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        """Every envelope sent, oldest first, with the ack it got (or None)."""
        with self._cond:
            return [
                {"envelope_id": e.envelope_id, "team_id": e.team_id, "type": e.type, "message": e.message,
                 "connection_id": e.connection_id, "sent_at": e.sent_at, "ack": e.ack}
                for e in self._envelopes.values()
            ]

    @property
    def acks(self) -> list[dict[str, Any]]:
        """Every ack received, in order: envelope_id, payload (None without one), connection_id,
        time, and `known` (False for an envelope id the emulator never sent)."""
        with self._cond:
            return list(self._acks)

    # ------------------------------------------------------------------ pushing envelopes

    def send(self, type: str, payload: dict[str, Any], team_id: str | None = None, *,  # noqa: A002 - Slack's field
             accepts_response_payload: bool | None = None, retry_attempt: int | None = None,
             retry_reason: str | None = None, timeout: float = 5.0) -> str:
        """Push one envelope to the team's newest open connection (waiting up to `timeout` for one);
        returns its envelope_id."""
        if type not in ENVELOPE_TYPES:
            raise ValueError(f"envelope type must be one of {ENVELOPE_TYPES}, not {type!r}")
        team_id = team_id or self._emu.default_team().id
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive" and payload.get("type") in ANSWERABLE_INTERACTIONS
            )
        envelope_id = str(uuid.uuid4())
        message: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api" or retry_attempt is not None:
            message["retry_attempt"] = retry_attempt or 0
            message["retry_reason"] = retry_reason or ""
        deadline = time.monotonic() + timeout
        failed: set[str] = set()
        while True:
            with self._cond:
                connection = self._newest(team_id, exclude=failed)
                if connection is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"no Socket Mode connection from team {team_id} to send {type} to")
                    self._cond.wait(remaining)
                    continue
                self._envelopes[envelope_id] = Envelope(
                    envelope_id, team_id, type, payload, message, time.time(), connection.id
                )
            try:
                connection.send_json(message)
                return envelope_id
            except ConnectionError:  # closed under our feet (a reconnect): try the next one
                failed.add(connection.id)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The app's ack of an envelope (`payload` is None for a bare ack); TimeoutError without one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            envelope = self._envelopes.get(envelope_id)
            if envelope is None:
                raise KeyError(f"no envelope {envelope_id} was sent")
            while envelope.ack is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the app did not ack {envelope.type} envelope {envelope_id} within {timeout}s")
                self._cond.wait(remaining)
            return dict(envelope.ack)

    def request(self, type: str, payload: dict[str, Any], team_id: str | None = None, *,  # noqa: A002
                timeout: float = 5.0, **options: Any) -> dict[str, Any]:
        """send() then wait_for_ack()."""
        envelope_id = self.send(type, payload, team_id, timeout=timeout, **options)
        return self.wait_for_ack(envelope_id, timeout)

    def disconnect(self, reason: str = "refresh_requested", team_id: str | None = None) -> int:
        """Send Slack's `disconnect` message (refresh_requested, warning, link_disabled) to every open
        connection; slack_sdk's client then opens a new one, and the emulator closes the old one
        as soon as it has. Returns how many were told."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "slack-emulator"}}
        sent = 0
        for connection in self._open(team_id):
            try:
                connection.refresh_requested = True
                connection.send_json(message)
                sent += 1
            except ConnectionError:
                pass
        return sent

    def close(self, team_id: str | None = None, code: int = 1001, reason: str = "", *,
              wait: float | None = None) -> int:
        """Close every open connection from the server side (close frame); with `wait`, return
        once the app has dropped them (TimeoutError after `wait` seconds). Returns how many."""
        connections = self._open(team_id)
        for connection in connections:
            connection.close(code, reason)
        if wait is not None:
            deadline = time.monotonic() + wait
            with self._cond:
                while any(c.closed_at is None for c in connections):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"the app kept {len(connections)} closed socket(s) open for {wait}s")
                    self._cond.wait(remaining)
        return len(connections)

    # ------------------------------------------------------------------ emulator lifecycle

    def start(self) -> None:
        with self._cond:
            self._accepting = True

    def stop(self) -> None:
        with self._cond:
            self._accepting = False
            self._tickets.clear()
        self.close(code=1001, reason="emulator stopped")

    # ------------------------------------------------------------------ internals

    def _open(self, team_id: str | None) -> list[SocketConnection]:
        with self._cond:
            return [c for c in self._connections if c.is_open and (team_id is None or c.team_id == team_id)]

    def _newest(self, team_id: str, exclude: set[str]) -> SocketConnection | None:
        for connection in reversed(self._connections):
            if connection.team_id == team_id and connection.is_open and connection.id not in exclude:
                return connection
        return None

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _received(self, connection: SocketConnection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._cond:
            if not isinstance(envelope_id, str):
                connection.other_messages.append(message if message is not None else text)
                return
            envelope = self._envelopes.get(envelope_id)
            ack = {
                "envelope_id": envelope_id,
                "payload": message.get("payload"),  # type: ignore[union-attr]
                "connection_id": connection.id,
                "time": time.time(),
                "known": envelope is not None,
            }
            self._acks.append(ack)
            if envelope is not None and envelope.ack is None:
                envelope.ack = ack
            self._cond.notify_all()

"""The Gmail API + Google OAuth emulator: a real HTTP server on loopback.

``GmailEmulator`` owns the mailboxes, the OAuth server, fault injection,
quota accounting and Pub/Sub push delivery, and serves them over HTTP/1.1
(keep-alive, exact Content-Length) on a background thread so that
googleapiclient, google-auth and google-auth-oauthlib work against it
unchanged.  Everything the tests need to arrange or inspect is a plain Python
method on the emulator.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from . import errors
from ._routes import FULL, match
from .api import ApiCall, GmailApi, parse_related
from .batch import BatchFormatError, format_batch, parse_batch
from .errors import ApiError
from .faults import BATCH, Fault
from ..latency import LatencyTable
from ..loopback_http import LoopbackService, TrackedHandler
from .mailbox import HISTORY_ID_BASE, Mailbox, Message, Record
from .mime import (
    addresses,
    build_raw,
    decoded_headers,
    format_date,
    has_attachment,
    new_message_id_header,
    parse_date_header,
    parse_raw,
    snippet_of,
    text_of,
)
from .oauth import AuthorizePageError, OAuthError, OAuthServer
from .oidc import GOOGLE_ISSUER, push_claims
from .push import PushDispatcher, RetryPolicy
from .rate_limit import Charge, UserRateLimiter

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=UTF-8"
BATCH_LIMIT = 100
DEFAULT_SCOPES = (FULL,)


@dataclass(frozen=True)
class Call:
    """One Gmail API call as the emulator saw it (quota accounting, assertions)."""

    user: str | None
    method: str
    units: int
    status: int | str  # HTTP status, or "drop" / "timeout"
    in_batch: bool
    fault: str | None = None  # the injected fault, if any
    time: float = 0.0
    rate_limited: bool = False  # refused by the per-user rate limit (HTTP 429, no units)
    latency_ms: float = 0.0  # latency added to this call (set_latency draw + fault latency)


@dataclass
class _Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    action: str | None = None  # "drop" | "timeout"
    hang_seconds: float = 0.0
    latency: float = 0.0  # seconds to wait before answering


def _json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> _Response:
    body = b"" if obj is None else json.dumps(obj, ensure_ascii=False).encode("utf-8")
    all_headers = {"Content-Type": JSON_TYPE, "Vary": "Origin, X-Origin, Referer"} if obj is not None else {}
    all_headers.update(headers or {})
    return _Response(status, all_headers, body)


def _error_response(error: ApiError) -> _Response:
    return _json_response(error.code, error.body(), error.headers)


def _retry_at(seconds: float) -> str:
    """The time Google names in "User-rate limit exceeded.  Retry after <time>" (RFC 3339, ms, UTC)."""
    when = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _as_datetime(value: Any) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise TypeError(f"cannot use {value!r} as a date")


class HeaderDict(dict):
    """Header name -> value with case-insensitive lookups (``h["in-reply-to"]``)."""

    def _key(self, name: str) -> str:
        lowered = name.lower()
        for key in self.keys():
            if key.lower() == lowered:
                return key
        return name

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(self._key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(self._key(name))

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(self._key(name), default)


def _select_fields(obj: Any, spec: str) -> Any:
    """Google's partial response (``fields=messages(id,threadId),nextPageToken``)."""

    def parse(text: str, pos: int = 0) -> tuple[dict, int]:
        tree: dict[str, Any] = {}
        name = ""
        while pos < len(text):
            ch = text[pos]
            if ch == ",":
                if name:
                    _add(tree, name.strip(), None)
                name = ""
                pos += 1
            elif ch == "(":
                sub, pos = parse(text, pos + 1)
                _add(tree, name.strip(), sub)
                name = ""
            elif ch == ")":
                if name:
                    _add(tree, name.strip(), None)
                return tree, pos + 1
            else:
                name += ch
                pos += 1
        if name:
            _add(tree, name.strip(), None)
        return tree, pos

    def _add(tree: dict, path: str, sub: dict | None) -> None:
        parts = [p for p in path.split("/") if p]
        if not parts:
            return
        for part in parts[:-1]:
            tree = tree.setdefault(part, {}) or {}
        tree[parts[-1]] = sub

    def apply(value: Any, tree: dict | None) -> Any:
        if tree is None or "*" in tree:
            return value
        if isinstance(value, list):
            return [apply(item, tree) for item in value]
        if isinstance(value, dict):
            return {key: apply(value[key], sub) for key, sub in tree.items() if key in value}
        return value

    tree, _ = parse(spec)
    return apply(obj, tree)


class _Handler(TrackedHandler):
    server_version = "ESF"
    emulator: "GmailEmulator"

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        self.emulator._request_started()
        try:
            self._answer()
        finally:
            self.emulator._request_finished()

    def _answer(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            response = self.emulator._handle_http(self.command, self.path, headers, body)
        except Exception:  # a bug in the emulator: answer like Google's backend would
            log.exception("gmail emulator failed on %s %s", self.command, self.path)
            response = _error_response(errors.backend_error())
        if response.latency > 0:
            # On this request's thread, holding no lock: concurrent calls wait side by side.
            self.emulator._stopping.wait(response.latency)
        if response.action == "timeout":
            self.emulator._stopping.wait(response.hang_seconds)
        if response.action in ("drop", "timeout"):
            self.drop_connection()
            return
        self.write_response(response.status, response.headers, response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class GmailEmulator(LoopbackService):
    """Gmail API v1 + Google OAuth 2.0, served over real HTTP on loopback."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        history_retention: float | timedelta | None = None,
        push_delay_seconds: float = 0.0,
        *,
        access_token_lifetime: int = 3599,
        batch_limit: int = BATCH_LIMIT,
        deliver_local: bool = True,
        message_ids: str = "hex",
    ) -> None:
        self.host = host
        self._requested_port = port
        if isinstance(history_retention, timedelta):
            history_retention = history_retention.total_seconds()
        self.history_retention: float | None = history_retention
        self.batch_limit = batch_limit
        self.deliver_local = deliver_local
        if message_ids not in ("hex", "urlsafe"):
            raise ValueError(f"message_ids must be 'hex' or 'urlsafe', not {message_ids!r}")
        # "urlsafe": ids as a Gmail-compatible server may mint them, with '-' and '_' (Gmail's own are hex; a
        # client must treat both as opaque strings).
        self.urlsafe_ids = message_ids == "urlsafe"
        self.oauth = OAuthServer(access_token_lifetime)
        self.push = PushDispatcher(push_delay_seconds)
        self.api = GmailApi(self)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._mailboxes: dict[str, Mailbox] = {}
        self._calls: list[Call] = []
        self._faults: list[Fault] = []
        self._latency = LatencyTable()
        self._rate_limiter: UserRateLimiter | None = None
        self._rate_limit_answer = 429
        self._consent_user: str | None = None
        self._consent_deny = False
        self._consent_scopes: tuple[str, ...] | None = None
        self._requests_lock = threading.Lock()
        self._active_requests = 0
        self._peak_requests = 0
        self.certs_fetches = 0  # GETs of certs_url: a verifier should cache them, not fetch per push
        self._next_message_number = 0x18C0_0000_0000_0000 + secrets.randbelow(1 << 40)

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> "GmailEmulator":
        self._serve(type("GmailEmulatorHandler", (_Handler,), {"emulator": self}), "gmail-emulator")
        self.push.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.push.stop()
        self._close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def batch_url(self) -> str:
        return self.url + "batch/gmail/v1"

    @property
    def auth_uri(self) -> str:
        return self.url + "o/oauth2/auth"

    @property
    def token_uri(self) -> str:
        return self.url + "token"

    @property
    def revoke_uri(self) -> str:
        return self.url + "revoke"

    # -- accounts and OAuth -------------------------------------------------

    def register_client(self, client_id: str, client_secret: str, redirect_uris: Iterable[str] = ()) -> None:
        """An OAuth client; with ``redirect_uris`` the authorize endpoint enforces them."""
        self.oauth.register_client(client_id, client_secret, redirect_uris)

    def add_user(self, address: str) -> None:
        """A Google account with an empty mailbox (system labels only)."""
        key = address.strip().lower()
        with self._lock:
            if key in self._mailboxes:
                return
            start = HISTORY_ID_BASE + 1_000_000 + secrets.randbelow(1 << 32)
            self._mailboxes[key] = Mailbox(key, start)

    def users(self) -> list[str]:
        with self._lock:
            return list(self._mailboxes)

    def consent_as(self, user: str | None, deny: bool = False, scopes: Iterable[str] | None = None) -> None:
        """Who clicks "Allow" on the next authorize requests; ``deny=True`` clicks "Cancel".

        ``scopes`` are the boxes left ticked on Google's granular consent page
        (default None: everything requested).  Only requested scopes can be
        granted; ``["openid", "email"]`` grants just the sign-in part.  When
        nothing requested stays ticked the consent ends in ``access_denied``.
        The choice holds for every later consent until changed.
        """
        with self._lock:
            if user is not None:
                self._mailbox(user)
            self._consent_user = user.lower() if user else None
            self._consent_deny = deny
            self._consent_scopes = None if scopes is None else tuple(scopes)

    def granted_scopes(self, user: str, client_id: str) -> list[str] | None:
        """The scopes ``user`` has granted ``client_id`` (None: no live grant)."""
        return self.oauth.granted_scopes(self._mailbox(user).address, client_id)

    def revoke_access(self, user: str) -> None:
        """The user removed the app from their Google account."""
        self.oauth.revoke_user(self._mailbox(user).address)

    def expire_access_tokens(self, user: str) -> None:
        """Access tokens stop working (401); refresh tokens still do."""
        self.oauth.expire_user_access_tokens(self._mailbox(user).address)

    def issue_tokens(self, user: str, client_id: str, scopes: Sequence[str] = DEFAULT_SCOPES) -> dict[str, Any]:
        """Token response as after consent with access_type=offline, without the browser step."""
        return self.oauth.issue_tokens(self._mailbox(user).address, client_id, tuple(scopes))

    # -- mailbox content ----------------------------------------------------

    def _mailbox(self, user: str) -> Mailbox:
        mailbox = self._mailboxes.get(user.strip().lower())
        if mailbox is None:
            raise KeyError(f"unknown user {user!r}; add it with add_user()")
        return mailbox

    def _new_message_id(self) -> str:
        self._next_message_number += 1 + secrets.randbelow(16)
        number = f"{self._next_message_number:016x}"
        if self.urlsafe_ids:
            return f"{number[:6]}-{number[6:12]}_{number[12:]}"  # still unique and in order of arrival
        return number

    def _resolve_labels(self, mb: Mailbox, labels: Iterable[str], create: bool = True) -> list[str]:
        result = []
        for item in labels:
            label = mb.get_label(item) or mb.label_by_name(item)
            if label is None:
                if not create:
                    raise KeyError(f"unknown label {item!r}")
                label = mb.create_label(item, None, None, None)
            result.append(label.id)
        return result

    def _build_message(
        self,
        mb: Mailbox,
        *,
        sender: str,
        to: str | Sequence[str],
        subject: str = "",
        body: str = "",
        date: Any = None,
        message_id_header: str | None = None,
        in_reply_to: str | None = None,
        cc: str | Sequence[str] | None = None,
        extra_headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> Message:
        when = _as_datetime(date)
        to_text = to if isinstance(to, str) else ", ".join(to)
        headers: list[tuple[str, str]] = [("From", sender), ("To", to_text)]
        if cc:
            headers.append(("Cc", cc if isinstance(cc, str) else ", ".join(cc)))
        headers.append(("Subject", subject))
        headers.append(("Date", format_date(when)))
        headers.append(("Message-ID", message_id_header or new_message_id_header()))
        if in_reply_to:
            parent_id = mb.by_rfc_id.get(in_reply_to.strip().lower())
            parent = mb.messages.get(parent_id) if parent_id else None
            references = (parent.header("references") + " " if parent is not None else "") + in_reply_to
            headers.append(("In-Reply-To", in_reply_to))
            headers.append(("References", references.strip()))
        if extra_headers:
            items = extra_headers.items() if isinstance(extra_headers, Mapping) else extra_headers
            headers.extend((str(name), str(value)) for name, value in items)
        headers.append(("MIME-Version", "1.0"))
        raw = build_raw(headers, body)
        headers.append(("Content-Type", 'text/plain; charset="UTF-8"'))
        headers.append(("Content-Transfer-Encoding", "7bit" if body.isascii() else "base64"))
        return Message(
            self._new_message_id(), raw, headers, body, snippet_of(body), int(when.timestamp() * 1000)
        )

    def insert_message(
        self,
        user: str,
        *,
        sender: str,
        to: str | Sequence[str],
        subject: str = "",
        body: str = "",
        label_ids: Iterable[str] = ("INBOX", "UNREAD"),
        date: datetime | None = None,
        message_id_header: str | None = None,
        in_reply_to: str | None = None,
        thread_id: str | None = None,
        cc: str | Sequence[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> str:
        """Mail arriving in ``user``'s mailbox (as SMTP delivery would); returns the Gmail id.

        ``label_ids`` takes label ids or names; unknown names become user labels.
        """
        with self._lock:
            mb = self._mailbox(user)
            message = self._build_message(
                mb, sender=sender, to=to, subject=subject, body=body, date=date,
                message_id_header=message_id_header, in_reply_to=in_reply_to, cc=cc,
                extra_headers=extra_headers,
            )
            if thread_id is not None and thread_id not in mb.threads:
                raise KeyError(f"unknown thread {thread_id!r}")
            record = mb.add_message(message, self._resolve_labels(mb, label_ids), thread_id=thread_id)
            self._after_change(mb, [record])
            return message.id

    def deliver_raw(self, user: str, raw: bytes, label_ids: Iterable[str] = ("INBOX", "UNREAD")) -> str:
        """Mail as a sender wrote it, MIME and all (an HTML part, odd charsets), arriving in ``user``'s
        mailbox; its Date header is its arrival time when it parses. Returns the Gmail id."""
        with self._lock:
            mb = self._mailbox(user)
            message = self._message_from_raw(raw, None, True)
            record = mb.add_message(message, self._resolve_labels(mb, label_ids))
            self._after_change(mb, [record])
            return message.id

    def add_messages_bulk(self, user: str, specs: Iterable[Mapping[str, Any]]) -> list[str]:
        """Many messages at once (benchmarks): same keys as insert_message, one push at the end."""
        with self._lock:
            mb = self._mailbox(user)
            ids = []
            records: list[Record] = []
            label_cache: dict[tuple[str, ...], list[str]] = {}
            for spec in specs:
                spec = dict(spec)
                labels = tuple(spec.pop("label_ids", spec.pop("labels", ("INBOX", "UNREAD"))))
                thread_id = spec.pop("thread_id", None)
                if labels not in label_cache:
                    label_cache[labels] = self._resolve_labels(mb, labels)
                message = self._build_message(mb, **spec)
                records.append(mb.add_message(message, label_cache[labels], thread_id=thread_id))
                ids.append(message.id)
            self._after_change(mb, records[-1:])
            return ids

    def create_label(self, user: str, name: str) -> str:
        """A user label, as if created in the Gmail UI; returns its id."""
        with self._lock:
            mb = self._mailbox(user)
            if mb.name_conflicts(name):
                raise ValueError(f"label name {name!r} exists or conflicts")
            return mb.create_label(name, None, None, None).id

    def delete_label(self, user: str, label_id: str) -> None:
        """The user deletes a label in the Gmail UI: it leaves every message (history records it)."""
        with self._lock:
            mb = self._mailbox(user)
            self._after_change(mb, mb.delete_label(label_id))

    def mark_read(self, user: str, gmail_id: str) -> None:
        """The user opens the message in Gmail: UNREAD goes (history records it, a watch may push)."""
        self.modify_labels(user, gmail_id, remove=["UNREAD"])

    def archive(self, user: str, gmail_id: str) -> None:
        """The user archives the message in Gmail: INBOX goes (history records it, a watch may push)."""
        self.modify_labels(user, gmail_id, remove=["INBOX"])

    def modify_labels(self, user: str, gmail_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        """Change labels as the user would in Gmail (ids or names); records history."""
        with self._lock:
            mb = self._mailbox(user)
            message = mb.messages[gmail_id]
            records = mb.change_labels(
                message, self._resolve_labels(mb, add, create=False), self._resolve_labels(mb, remove, create=False)
            )
            self._after_change(mb, records)

    def delete_message(self, user: str, gmail_id: str) -> None:
        """Permanently delete a message (history records messageDeleted)."""
        with self._lock:
            mb = self._mailbox(user)
            self._after_change(mb, [mb.delete_message(mb.messages[gmail_id])])

    def message(self, user: str, gmail_id: str) -> dict[str, Any]:
        """Internal state of one message, for assertions."""
        with self._lock:
            mb = self._mailbox(user)
            message = mb.messages.get(gmail_id)
            if message is None:
                raise KeyError(f"no message {gmail_id!r} in {user}")
            return {
                "id": message.id,
                "threadId": message.thread_id,
                "labelIds": list(message.label_ids),
                "labelNames": [mb.get_label(lid).name for lid in message.label_ids if mb.get_label(lid)],
                "historyId": str(message.history_id),
                "internalDate": message.internal_date,
                "headers": HeaderDict(message.headers),
                "from": message.header("from"),
                "to": message.header("to"),
                "subject": message.header("subject"),
                "body": message.text,
                "snippet": message.snippet,
                "raw": message.raw,
            }

    def label_names(self, user: str, gmail_id: str) -> set[str]:
        return set(self.message(user, gmail_id)["labelNames"])

    def label_id(self, user: str, name: str) -> str | None:
        with self._lock:
            label = self._mailbox(user).label_by_name(name)
            return label.id if label else None

    def user_messages(self, user: str) -> list[str]:
        """Every message id of the mailbox, newest first."""
        with self._lock:
            return [message.id for message in self._mailbox(user).newest_first()]

    def sent_messages(self, user: str) -> list[dict[str, Any]]:
        """Messages the user sent through messages.send, oldest first, with parsed headers."""
        with self._lock:
            mb = self._mailbox(user)
            result = []
            for gmail_id in mb.sent_ids:
                message = mb.messages.get(gmail_id)
                if message is None:
                    continue
                headers = HeaderDict(message.headers)
                result.append(
                    {
                        "id": message.id,
                        "threadId": message.thread_id,
                        "labelIds": list(message.label_ids),
                        "headers": headers,
                        "from": headers.get("From", ""),
                        "to": headers.get("To", ""),
                        "cc": headers.get("Cc", ""),
                        "subject": headers.get("Subject", ""),
                        "body": message.text,
                        "raw": message.raw,
                    }
                )
            return result

    def history_id(self, user: str) -> str:
        """The mailbox's current history id (as getProfile reports it)."""
        with self._lock:
            return str(self._mailbox(user).history_id)

    def expire_history(self, user: str) -> None:
        """Every history id issued so far becomes too old: history.list answers 404."""
        with self._lock:
            self._mailbox(user).expire_history()

    def _prune_history(self, mb: Mailbox) -> None:
        mb.prune_history(time.time(), self.history_retention)

    # -- new mail through the API -------------------------------------------

    def _message_from_raw(self, raw: bytes, internal_date: int | None, use_date_header: bool) -> Message:
        parsed = parse_raw(raw)
        headers = decoded_headers(parsed)
        text = text_of(parsed)
        if internal_date is None:
            header_date = parse_date_header(parsed.get("Date")) if use_date_header else None
            internal_date = int((header_date.timestamp() if header_date else time.time()) * 1000)
        return Message(
            self._new_message_id(), raw, headers, text, snippet_of(text), internal_date, has_attachment(parsed)
        )

    def _store_raw(self, mb, raw, label_ids, *, use_date_header, meta, thread_for):
        message = self._message_from_raw(raw, None, use_date_header)
        thread_id = thread_for(mb, meta, message.header("subject"))
        record = mb.add_message(message, label_ids, thread_id=thread_id)
        return message, record

    def _send(self, mb: Mailbox, raw: bytes, meta: dict, thread_for) -> tuple[Message, list[Record]]:
        probe = parse_raw(raw)
        recipients = [
            addr for name in ("To", "Cc", "Bcc") for _, addr in addresses(", ".join(probe.get_all(name, [])))
        ]
        if not recipients:
            raise errors.invalid_argument("Recipient address required")
        prefix = []
        if probe.get("From") is None:
            prefix.append(f"From: {mb.address}")
        if probe.get("Date") is None:
            prefix.append(f"Date: {format_date(datetime.now(timezone.utc))}")
        if probe.get("Message-ID") is None:
            prefix.append(f"Message-ID: {new_message_id_header()}")
        if prefix:
            raw = ("\r\n".join(prefix) + "\r\n").encode() + raw
        message = self._message_from_raw(raw, int(time.time() * 1000), False)
        thread_id = thread_for(mb, meta, message.header("subject"))
        record = mb.add_message(message, ["SENT"], thread_id=thread_id, thread_by_headers=False)
        mb.sent_ids.append(message.id)
        if self.deliver_local:
            for address in dict.fromkeys(recipients):
                other = self._mailboxes.get(address)
                if other is None or other is mb:
                    continue
                copy = self._message_from_raw(raw, message.internal_date, False)
                delivered = other.add_message(copy, ["INBOX", "UNREAD", "CATEGORY_PERSONAL"])
                self._after_change(other, [delivered])
        return message, [record]

    # -- push ---------------------------------------------------------------

    def create_push_subscription(
        self,
        topic_name: str,
        push_endpoint_url: str,
        verification_token: str | None = None,
        subscription_name: str | None = None,
        *,
        service_account: str | None = None,
        audience: str | None = None,
    ) -> str:
        """A Pub/Sub push subscription (creating the topic); returns the subscription name.

        With ``service_account`` it is an authenticated push subscription: every POST carries
        ``Authorization: Bearer <OIDC token>`` signed by this emulator's Google key (``certs_url``), with
        ``aud`` = ``audience`` (default: the endpoint URL), ``email`` = the service account, ``email_verified``.
        """
        return self.push.add_subscription(topic_name, push_endpoint_url, verification_token, subscription_name,
                                          service_account, audience).name

    @property
    def certs_url(self) -> str:
        """Google's signing certificates, as https://www.googleapis.com/oauth2/v1/certs serves them."""
        return self.url + "oauth2/v1/certs"

    def sign_push_token(self, service_account: str, audience: str, *, issued_at: float | None = None,
                        lifetime: int = 3600, email_verified: bool = True, issuer: str = GOOGLE_ISSUER) -> str:
        """A push token as the emulator's authenticated subscriptions send it, with any claim changed (tests:
        expired, another audience or account)."""
        return self.push.signer.sign(push_claims(service_account, audience, issued_at=issued_at, lifetime=lifetime,
                                                 email_verified=email_verified, issuer=issuer))

    def create_topic(self, topic_name: str) -> None:
        """A Pub/Sub topic without subscribers (watch accepts it; notifications go nowhere)."""
        self.push.create_topic(topic_name)

    @property
    def push_deliveries(self) -> list[dict[str, Any]]:
        with self.push._cond:
            return list(self.push.deliveries)

    def wait_for_push(self, timeout: float = 5.0) -> bool:
        """Wait until every push notification has been delivered or given up (retries included)."""
        return self.push.wait_idle(timeout)

    def set_push_delay(self, seconds: float, jitter: float = 0.0, *, seed: int | None = None) -> None:
        """Each notification is due ``seconds ± jitter`` (uniform, never negative) after its change.

        The API call that made the change never waits for it.  ``seed`` makes
        the sequence of delays reproducible.  0 (the default) delivers at once.
        """
        self.push.set_delay(seconds, jitter, seed)

    def set_push_coalescing(self, enabled: bool) -> None:
        """On (the default): a notification still waiting absorbs later changes of its mailbox.

        Off: one notification per change (per API call or emulator helper that
        changed the mailbox), each carrying the historyId right after that change,
        as Pub/Sub delivers what Gmail publishes.
        """
        self.push.set_coalescing(enabled)

    def set_push_retry(
        self,
        enabled: bool = True,
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 10.0,
        max_attempts: int | None = 5,
    ) -> None:
        """At-least-once delivery: a nack (not 102/200/201/202/204, timeout, unreachable) is sent again.

        The same message (messageId and data) is redelivered after
        ``min_backoff * 2**(n-1)`` seconds (capped at ``max_backoff``) until it
        is acknowledged or ``max_attempts`` POSTs were made (None: no limit).
        Pub/Sub's own defaults are 10 s and 600 s; small values keep tests quick.
        Off by default: a failed push is recorded and lost.
        """
        if enabled and (min_backoff < 0 or max_backoff < min_backoff):
            raise ValueError("need 0 <= min_backoff <= max_backoff")
        if enabled and max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts counts POSTs: at least 1, or None")
        self.push.set_retry(RetryPolicy(min_backoff, max_backoff, max_attempts) if enabled else None)

    def push_counts(self) -> dict[str, int]:
        """Notifications published / coalesced / delivered / failed, POST attempts and redeliveries."""
        with self.push._cond:
            return dict(self.push.counts)

    def watch_state(self, user: str) -> dict[str, Any] | None:
        with self._lock:
            watch = self._mailbox(user).watch
            if watch is None:
                return None
            return {
                "topicName": watch.topic_name, "labelIds": list(watch.label_ids),
                "labelFilterBehavior": watch.behavior, "expiration": watch.expiration_ms,
            }

    def expire_watch(self, user: str) -> None:
        """The mailbox's watch runs out (as 7 days after users.watch): no more pushes."""
        with self._lock:
            watch = self._mailbox(user).watch
            if watch is not None:
                watch.expiration_ms = int(time.time() * 1000) - 1

    def _after_change(self, mb: Mailbox, records: Sequence[Record]) -> None:
        watch = mb.watch
        if watch is None or not records:
            return
        if watch.expiration_ms < time.time() * 1000:
            return
        if watch.label_ids:
            # A change relates to a label the message has, had before the change
            # (archived: INBOX removed) or had when it was deleted -- as Gmail's filter.
            wanted = set(watch.label_ids)
            related = any(wanted & (set(record[4]) | set(record[5]) | set(record[7])) for record in records)
            if related != (watch.behavior == "include"):
                return
        self.push.publish(watch.topic_name, mb.address, mb.history_id)

    # -- quota, calls, faults, latency ----------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def quota_units(self, user: str | None = None) -> int:
        with self._lock:
            wanted = user.lower() if user else None
            return sum(call.units for call in self._calls if wanted is None or call.user == wanted)

    def call_counts(self, user: str | None = None) -> dict[str, int]:
        """Calls per method id (faulted calls included)."""
        counts: dict[str, int] = {}
        with self._lock:
            for call in self._calls:
                if user is None or call.user == user.lower():
                    counts[call.method] = counts.get(call.method, 0) + 1
        return counts

    def reset_counters(self) -> None:
        """Forget recorded calls, push counts and the peak of concurrent requests."""
        with self._lock:
            self._calls.clear()
        self.push.reset_counts()
        with self._requests_lock:
            self._peak_requests = self._active_requests

    def rate_limited_counts(self) -> dict[str, int]:
        """Calls the per-user rate limit refused (429, or 403 when set so), per user (injected faults not included)."""
        counts: dict[str, int] = {}
        with self._lock:
            for call in self._calls:
                if call.rate_limited and call.user is not None:
                    counts[call.user] = counts.get(call.user, 0) + 1
        return counts

    @property
    def peak_concurrent_requests(self) -> int:
        """Most HTTP requests being answered at the same moment (since start or reset_counters)."""
        with self._requests_lock:
            return self._peak_requests

    def _request_started(self) -> None:
        with self._requests_lock:
            self._active_requests += 1
            self._peak_requests = max(self._peak_requests, self._active_requests)

    def _request_finished(self) -> None:
        with self._requests_lock:
            self._active_requests -= 1

    def add_fault(self, fault: Fault) -> Fault:
        """Inject ``fault`` into matching calls; the returned object is the handle (``hits``)."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove_fault(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_latency(self, ms: float, method: str = "*", jitter_ms: float = 0, *, seed: int | None = None) -> None:
        """Added latency per call of ``method`` (a method id or glob); 0 (and no jitter) removes it.

        Each call waits a uniform draw from ``[ms - jitter_ms, ms + jitter_ms]``,
        never negative; ``seed`` makes the sequence of draws reproducible.  An
        exact method id wins over globs.  A call inside a batch draws its own
        latency; the batch answers after the slowest of its parts (Google runs
        them in parallel), not after their sum.  The wait holds no lock.
        """
        self._latency.set(ms, method, jitter_ms=jitter_ms, seed=seed)

    def set_user_rate_limit(self, units_per_second: float | None = 250, *, window_seconds: float = 1.0,
                            answer: int = 429) -> None:
        """Gmail's per-user rate limit; None (the default state) turns it off.

        A call that would bring the user's quota units within the last
        ``window_seconds`` above ``units_per_second * window_seconds`` answers
        429 ``rateLimitExceeded`` ("User-rate limit exceeded.  Retry after
        <time>") and costs nothing; ``answer=403`` gives the other answer
        Google documents for the same limit, 403 ``userRateLimitExceeded``.
        Parts of a batch are charged one by one.  Setting it again starts every
        user's window afresh.
        """
        if answer not in (429, 403):
            raise ValueError(f"answer must be 429 or 403, not {answer!r}")
        limiter = None if units_per_second is None else UserRateLimiter(units_per_second, window_seconds)
        with self._lock:
            self._rate_limiter = limiter
            self._rate_limit_answer = answer

    def _record_call(
        self, user, method, units, status, in_batch, fault=None, *, rate_limited=False, latency_ms=0.0
    ) -> None:
        with self._lock:
            self._calls.append(
                Call(user, method, units, status, in_batch, fault, time.time(), rate_limited, latency_ms)
            )

    def _pick_fault(self, method_id: str, user: str) -> Fault | None:
        with self._lock:
            faults = list(self._faults)
        for fault in faults:
            if fault.method != BATCH and fault.fires(method_id, user):
                return fault
        return None

    def _pick_batch_fault(self) -> Fault | None:
        with self._lock:
            faults = [fault for fault in self._faults if fault.method == BATCH]
        for fault in faults:
            if fault.fires(BATCH, None):
                return fault
        return None

    # -- seeding --------------------------------------------------------------

    def seed_from(self, data: Mapping[str, Any] | str | Path) -> dict[str, list[str]]:
        """Load users, OAuth clients, labels, messages and push subscriptions.

        ``{"users": ["a@x.com" | {"email", "labels": [...]}],
        "clients": [{"client_id", "client_secret", "redirect_uris"}],
        "messages": [{"user", "sender", "to", "subject", "body", "labels", "date", "cc"}],
        "push_subscriptions": [{"topic", "endpoint", "token"}]}``; ``date`` is ISO 8601
        (naive means UTC) or epoch seconds; ``labels`` are ids or names (new names
        become user labels).  A path or JSON text is read first.
        """
        if isinstance(data, Path) or (isinstance(data, str) and not data.lstrip().startswith("{")):
            data = json.loads(Path(data).read_text(encoding="utf-8"))
        elif isinstance(data, str):
            data = json.loads(data)
        users = []
        for entry in data.get("users", []):
            address = entry if isinstance(entry, str) else entry.get("email") or entry["address"]
            self.add_user(address)
            users.append(address.lower())
            if isinstance(entry, Mapping):
                for name in entry.get("labels", []):
                    if self.label_id(address, name) is None:
                        self.create_label(address, name)
        for client in data.get("clients", []):
            self.register_client(client["client_id"], client["client_secret"], client.get("redirect_uris", ()))
        ids = []
        for spec in data.get("messages", []):
            user = spec["user"]
            self.add_user(user)
            ids.append(
                self.insert_message(
                    user,
                    sender=spec.get("sender") or spec["from"],
                    to=spec.get("to") or user,
                    subject=spec.get("subject", ""),
                    body=spec.get("body", ""),
                    label_ids=spec.get("labels", spec.get("label_ids", ("INBOX", "UNREAD"))),
                    date=_as_datetime(spec.get("date")),
                    cc=spec.get("cc"),
                    message_id_header=spec.get("message_id"),
                    in_reply_to=spec.get("in_reply_to"),
                )
            )
        for sub in data.get("push_subscriptions", []):
            self.create_push_subscription(sub["topic"], sub["endpoint"], sub.get("token"),
                                          service_account=sub.get("service_account"), audience=sub.get("audience"))
        return {"users": users, "messages": ids}

    # -- HTTP -----------------------------------------------------------------

    def _handle_http(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Response:
        parts = urlsplit(target)
        path, query = parts.path, parts.query
        override = headers.get("x-http-method-override")
        if override and method == "POST":
            method = override.upper()
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                query = "&".join(piece for piece in (query, body.decode("utf-8")) if piece)
                body = b""
        if path in ("/o/oauth2/auth", "/o/oauth2/v2/auth"):
            return self._authorize(query)
        if path in ("/token", "/o/oauth2/token"):
            return self._token(headers, body, query)
        if path in ("/revoke", "/o/oauth2/revoke"):
            return self._revoke(headers, body, query)
        if path in ("/batch", "/batch/gmail/v1"):
            if method != "POST":
                return _json_response(405, {"error": {"code": 405, "message": "Method Not Allowed", "status": "UNIMPLEMENTED"}})
            return self._batch(headers, body)
        if path == "/healthz":
            return _json_response(200, {"ok": True})
        if path == "/oauth2/v1/certs" and method == "GET":
            with self._lock:
                self.certs_fetches += 1
            # Google lets clients cache its certificates for a few hours (they rotate daily).
            return _json_response(200, self.push.signer.certs(), {"Cache-Control": "public, max-age=19800"})
        return self._api_call(method, path, query, headers, body, in_batch=False)

    # OAuth endpoints

    def _authorize(self, query: str) -> _Response:
        params = dict(parse_qsl(query, keep_blank_values=True))
        with self._lock:
            user = self._consent_user
            deny = self._consent_deny
            granted = self._consent_scopes
            hint = (params.get("login_hint") or "").lower()
            if user is None and hint in self._mailboxes:
                user = hint
            if user is None and self._mailboxes:
                user = next(iter(self._mailboxes))
        try:
            location = self.oauth.authorize(params, user, deny, granted)
        except AuthorizePageError as exc:
            page = (
                f"<!doctype html><title>Error {exc.status}: {exc.error}</title>"
                f"<h1>Error {exc.status}: {exc.error}</h1><p>{exc.description}</p>"
            ).encode()
            return _Response(exc.status, {"Content-Type": "text/html; charset=utf-8"}, page)
        return _Response(302, {"Location": location, "Content-Type": "text/html; charset=UTF-8"}, b"")

    @staticmethod
    def _form(headers: dict[str, str], body: bytes, query: str) -> dict[str, str]:
        form = dict(parse_qsl(query, keep_blank_values=True))
        if body:
            if headers.get("content-type", "").startswith("application/json"):
                try:
                    form.update({k: str(v) for k, v in json.loads(body).items()})
                except (ValueError, AttributeError):
                    pass
            else:
                form.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return form

    def _token(self, headers: dict[str, str], body: bytes, query: str) -> _Response:
        form = self._form(headers, body, "")
        basic = None
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
                client_id, _, secret = decoded.partition(":")
                basic = (unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " ")))
            except (ValueError, UnicodeDecodeError):
                return _json_response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        no_store = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache"}
        try:
            result = self.oauth.token(form, basic)
        except OAuthError as exc:
            return _json_response(exc.status, exc.body(), no_store)
        return _json_response(200, result, no_store)

    def _revoke(self, headers: dict[str, str], body: bytes, query: str) -> _Response:
        token = self._form(headers, body, query).get("token", "")
        try:
            self.oauth.revoke(token)
        except OAuthError as exc:
            return _json_response(exc.status, exc.body())
        return _json_response(200, {})

    # Gmail API

    def _api_call(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, in_batch: bool
    ) -> _Response:
        found = match(method, path.lstrip("/"))
        if found is None:
            error = ApiError(404, "Not Found", "notFound")
            return _error_response(error)
        route, path_params, is_upload = found
        path_params = {name: unquote(value) for name, value in path_params.items()}
        params = parse_qs(query, keep_blank_values=True)
        method_id = route.method_id

        token = ""
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        token = token or (params.get("access_token") or params.get("oauth_token") or [""])[-1]
        if not token:
            self._record_call(None, method_id, 0, 401, in_batch)
            return _error_response(errors.login_required())
        access = self.oauth.lookup(token)
        if access is None:
            self._record_call(None, method_id, 0, 401, in_batch)
            return _error_response(errors.invalid_credentials())
        user = access.grant.user
        requested_user = path_params.get("userId", "me")
        if requested_user != "me" and requested_user.lower() != user:
            self._record_call(user, method_id, 0, 403, in_batch)
            return _error_response(errors.delegation_denied(requested_user))
        if not set(route.scopes) & set(access.scopes):
            self._record_call(user, method_id, 0, 403, in_batch)
            return _error_response(errors.insufficient_scopes())

        latency_ms = self._latency.draw_ms(method_id)
        limiter = self._rate_limiter
        charge: Charge | None = None
        if limiter is not None:
            admitted = limiter.admit(user, route.units)
            if not isinstance(admitted, Charge):
                answer = self._rate_limit_answer
                self._record_call(user, method_id, 0, answer, in_batch, rate_limited=True, latency_ms=latency_ms)
                response = _error_response(errors.rate_limit_429(_retry_at(admitted)) if answer == 429
                                           else errors.rate_limit_403("userRateLimitExceeded"))
                response.latency = latency_ms / 1000.0
                return response
            charge = admitted
        fault = self._pick_fault(method_id, user)
        if fault is not None:
            latency_ms += fault.latency_ms
            if fault.status is not None:
                if limiter is not None and charge is not None:
                    limiter.refund(charge)  # injected faults cost nothing
                self._record_call(
                    user, method_id, 0, fault.status, in_batch, fault=str(fault.status), latency_ms=latency_ms
                )
                if fault.status in ("drop", "timeout"):
                    return _Response(
                        action=fault.status, hang_seconds=fault.timeout_seconds, latency=latency_ms / 1000.0
                    )
                response = _error_response(self._fault_error(fault))
                response.latency = latency_ms / 1000.0
                return response
        latency = latency_ms / 1000.0

        try:
            call = ApiCall(method_id, user, params, path_params, scopes=access.scopes)
            if is_upload:
                self._read_upload(call, params, headers, body)
            elif body:
                try:
                    call.body = json.loads(body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    raise errors.invalid_argument("Invalid JSON payload received.") from None
            with self._lock:
                mailbox = self._mailboxes[user]
                result = self.api.handlers[method_id](mailbox, call)
                self._after_change(mailbox, call.records)
        except ApiError as error:
            self._record_call(user, method_id, route.units, error.code, in_batch, latency_ms=latency_ms)
            response = _error_response(error)
            response.latency = latency
            return response
        self._record_call(
            user, method_id, route.units, 200 if result is not None else 204, in_batch, latency_ms=latency_ms
        )
        if result is None:
            response = _Response(204, {}, b"")
        else:
            fields = (params.get("fields") or [""])[-1]
            response = _json_response(200, _select_fields(result, fields) if fields else result)
        response.latency = latency
        return response

    @staticmethod
    def _read_upload(call: ApiCall, params: dict[str, list[str]], headers: dict[str, str], body: bytes) -> None:
        upload_type = (params.get("uploadType") or params.get("upload_protocol") or ["media"])[-1]
        if upload_type == "multipart":
            metadata, media = parse_related(headers.get("content-type", ""), body)
            call.body = metadata
            call.media = media
        elif upload_type in ("media", "raw"):
            call.media = body
        else:
            raise errors.bad_request(f"Upload protocol {upload_type!r} is not supported by the emulator")

    @staticmethod
    def _fault_error(fault: Fault) -> ApiError:
        if fault.status == 429:
            return errors.rate_limit_429(_retry_at(1.0))
        if fault.status == 403:
            return errors.rate_limit_403(fault.reason)
        if fault.status == 500:
            return errors.backend_error()
        return errors.service_unavailable()

    def _batch(self, headers: dict[str, str], body: bytes) -> _Response:
        whole = self._pick_batch_fault()
        if whole is not None and whole.status is not None:  # the batch request itself fails: no part is run
            if whole.status in ("drop", "timeout"):
                return _Response(action=whole.status, hang_seconds=whole.timeout_seconds,
                                 latency=whole.latency_ms / 1000.0)
            response = _error_response(self._fault_error(whole))
            response.latency = whole.latency_ms / 1000.0
            return response
        try:
            inner = parse_batch(headers.get("content-type", ""), body)
        except BatchFormatError as exc:
            return _error_response(errors.invalid_argument(str(exc)))
        if not inner:
            return _error_response(errors.invalid_argument("Failed to parse batch request, error: no parts"))
        if len(inner) > self.batch_limit:
            return _error_response(
                errors.invalid_argument(
                    f"Inner request count exceeds the limit. Received: {len(inner)}, Limit: {self.batch_limit}"
                )
            )
        answers = []
        # Google answers a batch when its slowest part is done: the parts run in parallel.
        latency = 0.0
        for request in inner:
            inner_headers = dict(request.headers)
            if "authorization" not in inner_headers and "authorization" in headers:
                inner_headers["authorization"] = headers["authorization"]
            parts = urlsplit(request.target)
            if parts.path.startswith(("/batch", "/upload")):
                response = _error_response(errors.invalid_argument("Invalid request inside a batch"))
            else:
                response = self._api_call(
                    request.method, parts.path, parts.query, inner_headers, request.body, in_batch=True
                )
            if response.action is not None:
                # A dropped or hanging inner call takes the whole batch connection with it.
                return response
            latency = max(latency, response.latency)
            answers.append((request.content_id, response.status, response.headers, response.body))
        content_type, payload = format_batch(answers)
        return _Response(200, {"Content-Type": content_type}, payload, latency=latency)

"""The Gmail API methods: request validation and response shapes.

Each handler receives the caller's mailbox and an ``ApiCall`` and returns the
JSON resource (or None for an empty 204 answer), raising ``ApiError`` the way
Gmail answers.  Handlers run under the emulator's lock; history records they
create are collected on the call so the emulator can push notifications.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from . import errors
from ._routes import METADATA_SCOPE
from .batch import parse_headers, split_head, boundary_of
from .mailbox import (
    HISTORY_TYPES,
    IMMUTABLE_SYSTEM_LABELS,
    LABEL_ADDED,
    LABEL_REMOVED,
    MESSAGE_ADDED,
    MESSAGE_DELETED,
    Mailbox,
    Message,
    Record,
    Watch,
)
from .mime import b64_decode_any, b64url_encode, parse_raw, payload_of
from .search import compile_query

if TYPE_CHECKING:
    from .server import GmailEmulator

MAX_LIST_RESULTS = 500
DEFAULT_LIST_RESULTS = 100
MAX_BATCH_MODIFY_IDS = 1000
WATCH_LIFETIME_MS = 7 * 24 * 3600 * 1000

_MESSAGE_ID = re.compile(r"^[0-9a-fA-F]{1,32}$")
# A Gmail-compatible server whose ids are not hex (GmailEmulator(message_ids="urlsafe")): base64url characters.
_URLSAFE_MESSAGE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")
_FORMATS = ("minimal", "full", "raw", "metadata")

# Properties the request schemas of the discovery document allow: Google
# rejects unknown names with "Invalid JSON payload received. Unknown name".
_REQUEST_FIELDS = {
    "Message": {
        "classificationLabelValues", "historyId", "id", "internalDate", "labelIds", "payload",
        "raw", "sizeEstimate", "snippet", "threadId",
    },
    "ModifyMessageRequest": {
        "addClassificationLabels", "addLabelIds", "removeClassificationLabelIds", "removeLabelIds",
    },
    "BatchModifyMessagesRequest": {
        "addClassificationLabels", "addLabelIds", "ids", "removeClassificationLabelIds", "removeLabelIds",
    },
    "BatchDeleteMessagesRequest": {"ids"},
    "ModifyThreadRequest": {"addLabelIds", "removeLabelIds"},
    "Label": {
        "color", "id", "labelListVisibility", "messageListVisibility", "messagesTotal",
        "messagesUnread", "name", "threadsTotal", "threadsUnread", "type",
    },
    "WatchRequest": {"labelFilterAction", "labelFilterBehavior", "labelIds", "topicName"},
}


@dataclass
class ApiCall:
    method_id: str
    user: str
    params: dict[str, list[str]]
    path_params: dict[str, str]
    body: Any = None  # parsed JSON body (dict) or None
    media: bytes | None = None  # raw RFC 822 bytes of a media upload
    scopes: tuple[str, ...] = ()
    records: list[Record] = field(default_factory=list)

    def one(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else default

    def many(self, name: str) -> list[str]:
        values = self.params.get(name, [])
        if name == "historyTypes":  # also accept the comma form some clients send
            return [part for value in values for part in value.split(",") if part]
        return [value for value in values if value]

    def integer(self, name: str, default: int, maximum: int | None = None) -> int:
        value = self.one(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise errors.invalid_argument(f"Invalid value '{value}'. Values must match the following regular expression: '[0-9]+'") from None
        if number < 0:
            raise errors.invalid_argument(f"Invalid {name}")
        if number == 0:
            return default
        return min(number, maximum) if maximum else number

    def flag(self, name: str) -> bool:
        return (self.one(name) or "false").lower() == "true"

    @property
    def metadata_only(self) -> bool:
        """The token's only Gmail grant is gmail.metadata (no bodies, no search)."""
        return METADATA_SCOPE in self.scopes and not any(
            scope != METADATA_SCOPE for scope in self.scopes if "mail.google.com" in scope or "gmail." in scope
        )


def check_body(body: Any, schema: str) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise errors.invalid_argument("Invalid JSON payload received. Expected an object.")
    unknown = [key for key in body if key not in _REQUEST_FIELDS[schema]]
    if unknown:
        raise errors.invalid_argument(f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    return body


def _string_list(body: dict, name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise errors.invalid_argument(f"Invalid value at '{name}'")
    return value


def _check_message_id(value: str, what: str = "id", urlsafe: bool = False) -> None:
    if not (_URLSAFE_MESSAGE_ID if urlsafe else _MESSAGE_ID).match(value or ""):
        raise errors.invalid_argument(f"Invalid {what} value")


def minimal_resource(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = {"id": message.id, "threadId": message.thread_id}
    if message.label_ids:
        result["labelIds"] = list(message.label_ids)
    return result


def message_resource(message: Message, fmt: str, metadata_headers: list[str] | None = None) -> dict[str, Any]:
    result = minimal_resource(message)
    result["snippet"] = message.snippet
    if fmt == "metadata":
        wanted = {name.lower() for name in metadata_headers or []}
        headers = [
            {"name": name, "value": value}
            for name, value in message.headers
            if not wanted or name.lower() in wanted
        ]
        content_type = message.header("content-type").split(";")[0].strip().lower() or "text/plain"
        result["payload"] = {"partId": "", "mimeType": content_type, "filename": "", "headers": headers, "body": {"size": 0}}
    elif fmt == "full":
        result["payload"] = payload_of(parse_raw(message.raw))
    elif fmt == "raw":
        result["raw"] = b64url_encode(message.raw)
    result["sizeEstimate"] = message.size
    result["historyId"] = str(message.history_id)
    result["internalDate"] = str(message.internal_date)
    return result


def history_resource(record: Record) -> dict[str, Any]:
    hid, kind, message_id, thread_id, changed, labels = record[:6]
    ref = {"id": message_id, "threadId": thread_id}
    with_labels = dict(ref)
    if labels:
        with_labels["labelIds"] = list(labels)
    result: dict[str, Any] = {"id": str(hid), "messages": [dict(ref)]}
    if kind == MESSAGE_ADDED:
        result["messagesAdded"] = [{"message": with_labels}]
    elif kind == MESSAGE_DELETED:
        result["messagesDeleted"] = [{"message": dict(ref)}]
    elif kind == LABEL_ADDED:
        result["labelsAdded"] = [{"message": with_labels, "labelIds": list(changed)}]
    elif kind == LABEL_REMOVED:
        result["labelsRemoved"] = [{"message": with_labels, "labelIds": list(changed)}]
    return result


def _page_token(key: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}.{key[1]}".encode()).decode().rstrip("=")


def _read_page_token(token: str | None) -> tuple[int, int] | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        first, second = text.split(".")
        return int(first), int(second)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.invalid_argument("Invalid pageToken") from None


def parse_related(content_type: str, body: bytes) -> tuple[dict, bytes]:
    """Split a ``multipart/related`` media upload into its JSON metadata and media."""
    boundary = boundary_of(content_type)
    if not boundary:
        raise errors.bad_request("Bad multipart upload: no boundary")
    parts = []
    for segment in body.split(b"--" + boundary.encode())[1:]:
        if segment.startswith(b"--"):
            break
        newline = segment.find(b"\n")
        segment = segment[newline + 1 :]
        if segment.endswith(b"\r\n"):
            segment = segment[:-2]
        elif segment.endswith(b"\n"):
            segment = segment[:-1]
        head, content = split_head(segment)
        _, headers = parse_headers(head)
        if headers.get("content-transfer-encoding", "").lower() == "base64":
            content = base64.b64decode(content)
        parts.append((headers, content))
    if len(parts) != 2:
        raise errors.bad_request("Bad multipart upload: expected metadata and media parts")
    try:
        metadata = json.loads(parts[0][1] or b"{}")
    except ValueError:
        raise errors.invalid_argument("Invalid JSON payload received.") from None
    return metadata, parts[1][1]


class GmailApi:
    """Method implementations; ``emulator`` supplies ids, time and cross-mailbox delivery."""

    def __init__(self, emulator: "GmailEmulator"):
        self.emu = emulator
        self.handlers: dict[str, Callable[[Mailbox, ApiCall], Any]] = {
            "gmail.users.getProfile": self.get_profile,
            "gmail.users.watch": self.watch,
            "gmail.users.stop": self.stop,
            "gmail.users.history.list": self.history_list,
            "gmail.users.labels.list": self.labels_list,
            "gmail.users.labels.get": self.labels_get,
            "gmail.users.labels.create": self.labels_create,
            "gmail.users.labels.patch": self.labels_patch,
            "gmail.users.labels.update": self.labels_update,
            "gmail.users.labels.delete": self.labels_delete,
            "gmail.users.messages.list": self.messages_list,
            "gmail.users.messages.get": self.messages_get,
            "gmail.users.messages.modify": self.messages_modify,
            "gmail.users.messages.batchModify": self.messages_batch_modify,
            "gmail.users.messages.batchDelete": self.messages_batch_delete,
            "gmail.users.messages.delete": self.messages_delete,
            "gmail.users.messages.trash": self.messages_trash,
            "gmail.users.messages.untrash": self.messages_untrash,
            "gmail.users.messages.send": self.messages_send,
            "gmail.users.messages.insert": self.messages_insert,
            "gmail.users.messages.import": self.messages_import,
            "gmail.users.threads.list": self.threads_list,
            "gmail.users.threads.get": self.threads_get,
            "gmail.users.threads.modify": self.threads_modify,
            "gmail.users.threads.trash": self.threads_trash,
            "gmail.users.threads.untrash": self.threads_untrash,
        }

    # -- users ----------------------------------------------------------

    def get_profile(self, mb: Mailbox, call: ApiCall) -> dict:
        return {
            "emailAddress": mb.address,
            "messagesTotal": len(mb.messages),
            "threadsTotal": len(mb.threads),
            "historyId": str(mb.history_id),
        }

    def watch(self, mb: Mailbox, call: ApiCall) -> dict:
        body = check_body(call.body, "WatchRequest")
        topic = body.get("topicName") or ""
        if not _TOPIC.match(topic):
            raise errors.invalid_argument(
                "Invalid topicName does not match projects/SOME-ANDROID-PROJECT/topics/*"
            )
        if not self.emu.push.has_topic(topic):
            raise errors.ApiError(404, f"Resource not found (resource={topic.rsplit('/', 1)[-1]}).", "notFound")
        label_ids = _string_list(body, "labelIds")
        behavior = (body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include").lower()
        if behavior not in ("include", "exclude"):
            raise errors.invalid_argument("Invalid labelFilterBehavior")
        expiration = int(time.time() * 1000) + WATCH_LIFETIME_MS
        mb.watch = Watch(topic, tuple(label_ids), behavior, expiration, mb.history_id)
        return {"historyId": str(mb.history_id), "expiration": str(expiration)}

    def stop(self, mb: Mailbox, call: ApiCall) -> None:
        mb.watch = None
        return None

    # -- history --------------------------------------------------------

    def history_list(self, mb: Mailbox, call: ApiCall) -> dict:
        raw_start = call.one("startHistoryId")
        if not raw_start or not raw_start.isdigit():
            raise errors.invalid_argument("Missing/invalid parameter: startHistoryId")
        start = int(raw_start)
        types = call.many("historyTypes")
        for kind in types:
            if kind not in HISTORY_TYPES:
                raise errors.invalid_argument(f"Invalid value at 'history_types': {kind}")
        label_id = call.one("labelId") or None
        max_results = call.integer("maxResults", DEFAULT_LIST_RESULTS, MAX_LIST_RESULTS)
        token = call.one("pageToken")
        after = start
        if token:
            if not token.isdigit() or int(token) < start:
                raise errors.invalid_argument("Invalid pageToken")
            after = int(token)
        self.emu._prune_history(mb)
        records, next_position = mb.history_page(start, after, types or None, label_id, max_results)
        result: dict[str, Any] = {}
        if records:
            result["history"] = [history_resource(record) for record in records]
        if next_position is not None:
            result["nextPageToken"] = str(next_position)
        result["historyId"] = str(mb.history_id)
        return result

    # -- labels ---------------------------------------------------------

    def labels_list(self, mb: Mailbox, call: ApiCall) -> dict:
        return {"labels": [label.resource() for label in mb.all_labels()]}

    def _label(self, mb: Mailbox, call: ApiCall):
        label = mb.get_label(call.path_params["id"])
        if label is None:
            raise errors.not_found()
        return label

    def labels_get(self, mb: Mailbox, call: ApiCall) -> dict:
        label = self._label(mb, call)
        result = label.resource()
        result.update(mb.label_counts(label.id))
        return result

    def _validated_label_fields(self, body: dict) -> dict:
        for name, allowed in (
            ("messageListVisibility", ("show", "hide")),
            ("labelListVisibility", ("labelShow", "labelShowIfUnread", "labelHide")),
        ):
            if name in body and body[name] is not None and body[name] not in allowed:
                raise errors.invalid_argument(f"Invalid value at 'label.{name}'")
        color = body.get("color")
        if color is not None and not (
            isinstance(color, dict) and set(color) <= {"backgroundColor", "textColor"}
        ):
            raise errors.invalid_argument("Invalid value at 'label.color'")
        return body

    def labels_create(self, mb: Mailbox, call: ApiCall) -> dict:
        body = self._validated_label_fields(check_body(call.body, "Label"))
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise errors.invalid_argument("Invalid label name")
        if mb.name_conflicts(name):
            raise errors.ApiError(409, "Label name exists or conflicts", "alreadyExists")
        label = mb.create_label(
            name.strip(), body.get("messageListVisibility"), body.get("labelListVisibility"), body.get("color")
        )
        return label.resource()

    def _update_label(self, mb: Mailbox, call: ApiCall, replace: bool) -> dict:
        label = self._label(mb, call)
        body = self._validated_label_fields(check_body(call.body, "Label"))
        if label.type == "system":
            raise errors.invalid_argument("Invalid update request")
        name = body.get("name")
        if replace and (not isinstance(name, str) or not name.strip()):
            raise errors.invalid_argument("Invalid label name")
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise errors.invalid_argument("Invalid label name")
            if mb.name_conflicts(name, except_id=label.id):
                raise errors.ApiError(409, "Label name exists or conflicts", "alreadyExists")
            label.name = name.strip()
        if replace:
            label.message_list_visibility = body.get("messageListVisibility") or "show"
            label.label_list_visibility = body.get("labelListVisibility") or "labelShow"
            label.color = body.get("color")
        else:
            if "messageListVisibility" in body:
                label.message_list_visibility = body["messageListVisibility"]
            if "labelListVisibility" in body:
                label.label_list_visibility = body["labelListVisibility"]
            if "color" in body:
                label.color = body["color"]
        return label.resource()

    def labels_patch(self, mb: Mailbox, call: ApiCall) -> dict:
        return self._update_label(mb, call, replace=False)

    def labels_update(self, mb: Mailbox, call: ApiCall) -> dict:
        return self._update_label(mb, call, replace=True)

    def labels_delete(self, mb: Mailbox, call: ApiCall) -> None:
        label = self._label(mb, call)
        if label.type == "system":
            raise errors.invalid_argument("Invalid delete request")
        call.records.extend(mb.delete_label(label.id))
        return None

    # -- messages: reading ----------------------------------------------

    def _matching(self, mb: Mailbox, call: ApiCall) -> list[Message]:
        label_ids = call.many("labelIds")
        q = call.one("q") or ""
        if q and call.metadata_only:
            raise errors.ApiError(403, "Metadata scope does not support 'q' parameter", "forbidden")
        candidates = mb.newest_first(label_ids)
        query = compile_query(q, mb) if q.strip() else None
        hide = not call.flag("includeSpamTrash") and not ({"SPAM", "TRASH"} & set(label_ids))
        if query is not None and query.reaches_spam_trash:
            hide = False
        result = []
        for message in candidates:
            if hide and ("SPAM" in message.label_ids or "TRASH" in message.label_ids):
                continue
            if query is not None and not query.predicate(message):
                continue
            result.append(message)
        return result

    def messages_list(self, mb: Mailbox, call: ApiCall) -> dict:
        max_results = call.integer("maxResults", DEFAULT_LIST_RESULTS, MAX_LIST_RESULTS)
        position = _read_page_token(call.one("pageToken"))
        matching = self._matching(mb, call)
        start = 0
        if position is not None:
            while start < len(matching) and matching[start].sort_key >= position:
                start += 1
        page = matching[start : start + max_results]
        result: dict[str, Any] = {}
        if page:
            result["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if start + max_results < len(matching):
            result["nextPageToken"] = _page_token(page[-1].sort_key)
        result["resultSizeEstimate"] = len(matching)
        return result

    def _message(self, mb: Mailbox, message_id: str) -> Message:
        _check_message_id(message_id, urlsafe=self.emu.urlsafe_ids)
        message = mb.messages.get(message_id.lower())
        if message is None:
            raise errors.not_found()
        return message

    def _format(self, call: ApiCall) -> str:
        fmt = (call.one("format") or "full").lower()
        if fmt not in _FORMATS:
            raise errors.invalid_argument(f"Invalid value at 'format' ({call.one('format')})")
        if fmt in ("full", "raw") and call.metadata_only:
            raise errors.ApiError(403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden")
        return fmt

    def messages_get(self, mb: Mailbox, call: ApiCall) -> dict:
        fmt = self._format(call)
        message = self._message(mb, call.path_params["id"])
        return message_resource(message, fmt, call.many("metadataHeaders"))

    # -- messages: labels -------------------------------------------------

    def _label_changes(self, mb: Mailbox, body: dict) -> tuple[list[str], list[str]]:
        add = _string_list(body, "addLabelIds")
        remove = _string_list(body, "removeLabelIds")
        if len(add) > 100 or len(remove) > 100:
            raise errors.invalid_argument("Too many labels in request")
        for label_id in add + remove:
            if mb.get_label(label_id) is None:
                raise errors.invalid_argument(f"Invalid label: {label_id}")
            if label_id in IMMUTABLE_SYSTEM_LABELS:
                raise errors.invalid_argument(f"Invalid label: {label_id}")
        return add, remove

    def messages_modify(self, mb: Mailbox, call: ApiCall) -> dict:
        body = check_body(call.body, "ModifyMessageRequest")
        message = self._message(mb, call.path_params["id"])
        add, remove = self._label_changes(mb, body)
        call.records.extend(mb.change_labels(message, add, remove))
        return minimal_resource(message)

    def _ids(self, body: dict) -> list[str]:
        ids = _string_list(body, "ids")
        if not ids:
            raise errors.invalid_argument("ids must be specified")
        if len(ids) > MAX_BATCH_MODIFY_IDS:
            raise errors.invalid_argument(f"Number of ids cannot exceed {MAX_BATCH_MODIFY_IDS}")
        for message_id in ids:
            _check_message_id(message_id, urlsafe=self.emu.urlsafe_ids)
        return [message_id.lower() for message_id in ids]

    def messages_batch_modify(self, mb: Mailbox, call: ApiCall) -> None:
        body = check_body(call.body, "BatchModifyMessagesRequest")
        ids = self._ids(body)
        add, remove = self._label_changes(mb, body)
        # Ids of messages that no longer exist are skipped, as Gmail does.
        for message_id in ids:
            message = mb.messages.get(message_id)
            if message is not None:
                call.records.extend(mb.change_labels(message, add, remove))
        return None

    def messages_batch_delete(self, mb: Mailbox, call: ApiCall) -> None:
        body = check_body(call.body, "BatchDeleteMessagesRequest")
        for message_id in self._ids(body):
            message = mb.messages.get(message_id)
            if message is not None:
                call.records.append(mb.delete_message(message))
        return None

    def messages_delete(self, mb: Mailbox, call: ApiCall) -> None:
        message = self._message(mb, call.path_params["id"])
        call.records.append(mb.delete_message(message))
        return None

    def messages_trash(self, mb: Mailbox, call: ApiCall) -> dict:
        message = self._message(mb, call.path_params["id"])
        call.records.extend(mb.change_labels(message, ("TRASH",), ()))
        return minimal_resource(message)

    def messages_untrash(self, mb: Mailbox, call: ApiCall) -> dict:
        message = self._message(mb, call.path_params["id"])
        call.records.extend(mb.change_labels(message, (), ("TRASH",)))
        return minimal_resource(message)

    # -- messages: new mail -----------------------------------------------

    def _raw_and_meta(self, call: ApiCall) -> tuple[bytes, dict]:
        if call.media is not None:
            meta = check_body(call.body, "Message") if call.body else {}
            return call.media, meta
        body = check_body(call.body, "Message")
        raw = body.get("raw")
        if not raw:
            raise errors.invalid_argument(
                "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
            )
        try:
            return b64_decode_any(raw), body
        except ValueError:
            raise errors.invalid_argument("Invalid value for ByteString: raw") from None

    def _thread_for(self, mb: Mailbox, meta: dict, subject: str) -> str | None:
        thread_id = meta.get("threadId")
        if not thread_id:
            return None
        _check_message_id(thread_id, "thread_id", urlsafe=self.emu.urlsafe_ids)
        thread_id = thread_id.lower()
        if thread_id not in mb.threads:
            raise errors.not_found()
        # Gmail files the message in the thread only when the subjects match.
        return thread_id if mb.thread_accepts(thread_id, subject) else None

    def messages_send(self, mb: Mailbox, call: ApiCall) -> dict:
        raw, meta = self._raw_and_meta(call)
        message, records = self.emu._send(mb, raw, meta, self._thread_for)
        call.records.extend(records)
        return minimal_resource(message)

    def _insert(self, mb: Mailbox, call: ApiCall, default_source: str) -> dict:
        raw, meta = self._raw_and_meta(call)
        label_ids = _string_list(meta, "labelIds")
        for label_id in label_ids:
            if mb.get_label(label_id) is None:
                raise errors.invalid_argument(f"Invalid label: {label_id}")
        source = call.one("internalDateSource") or default_source
        if source not in ("receivedTime", "dateHeader"):
            raise errors.invalid_argument(f"Invalid value at 'internal_date_source' ({source})")
        message, record = self.emu._store_raw(
            mb, raw, label_ids, use_date_header=(source == "dateHeader"), meta=meta, thread_for=self._thread_for
        )
        call.records.append(record)
        return minimal_resource(message)

    def messages_insert(self, mb: Mailbox, call: ApiCall) -> dict:
        return self._insert(mb, call, "receivedTime")

    def messages_import(self, mb: Mailbox, call: ApiCall) -> dict:
        return self._insert(mb, call, "dateHeader")

    # -- threads ----------------------------------------------------------

    def threads_list(self, mb: Mailbox, call: ApiCall) -> dict:
        max_results = call.integer("maxResults", DEFAULT_LIST_RESULTS, MAX_LIST_RESULTS)
        token = call.one("pageToken")
        offset = 0
        if token:
            if not token.isdigit():
                raise errors.invalid_argument("Invalid pageToken")
            offset = int(token)
        seen: dict[str, Message] = {}
        for message in self._matching(mb, call):
            seen.setdefault(message.thread_id, message)
        threads = list(seen.items())
        page = threads[offset : offset + max_results]
        result: dict[str, Any] = {}
        if page:
            result["threads"] = [
                {
                    "id": thread_id,
                    "snippet": newest.snippet,
                    "historyId": str(max(m.history_id for m in mb.thread_messages(thread_id))),
                }
                for thread_id, newest in page
            ]
        if offset + max_results < len(threads):
            result["nextPageToken"] = str(offset + max_results)
        result["resultSizeEstimate"] = len(threads)
        return result

    def _thread(self, mb: Mailbox, call: ApiCall) -> list[Message]:
        thread_id = call.path_params["id"]
        _check_message_id(thread_id, urlsafe=self.emu.urlsafe_ids)
        members = mb.thread_messages(thread_id.lower())
        if not members:
            raise errors.not_found()
        return members

    def threads_get(self, mb: Mailbox, call: ApiCall) -> dict:
        fmt = self._format(call)
        members = self._thread(mb, call)
        headers = call.many("metadataHeaders")
        return {
            "id": members[0].thread_id,
            "historyId": str(max(m.history_id for m in members)),
            "messages": [message_resource(m, fmt, headers) for m in members],
        }

    def _thread_labels(self, mb: Mailbox, call: ApiCall, add, remove) -> dict:
        members = self._thread(mb, call)
        for message in members:
            call.records.extend(mb.change_labels(message, add, remove))
        return {
            "id": members[0].thread_id,
            "historyId": str(max(m.history_id for m in members)),
            "messages": [minimal_resource(m) for m in members],
        }

    def threads_modify(self, mb: Mailbox, call: ApiCall) -> dict:
        body = check_body(call.body, "ModifyThreadRequest")
        add, remove = self._label_changes(mb, body)
        return self._thread_labels(mb, call, add, remove)

    def threads_trash(self, mb: Mailbox, call: ApiCall) -> dict:
        return self._thread_labels(mb, call, ("TRASH",), ())

    def threads_untrash(self, mb: Mailbox, call: ApiCall) -> dict:
        return self._thread_labels(mb, call, (), ("TRASH",))

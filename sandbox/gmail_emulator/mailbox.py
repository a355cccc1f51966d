"""One Gmail account's state: messages, labels, threads and the history log.

Kept compact so that a 20k-message mailbox and 1,000 small mailboxes fit in
memory: messages use ``__slots__``, system labels are shared, history records
are tuples.  Every mutation appends history records the way Gmail does
(messageAdded / messageDeleted / labelAdded / labelRemoved), and returns them
so the emulator can decide about push notifications.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass
from typing import Any, Iterable

from . import errors
from .mime import addresses, normalized_subject

# (id, messageListVisibility, labelListVisibility) as labels.list shows them.
_SYSTEM_LABEL_SPECS = (
    ("CHAT", "hide", "labelHide"),
    ("SENT", None, None),
    ("INBOX", None, None),
    ("IMPORTANT", "hide", "labelHide"),
    ("TRASH", "hide", "labelHide"),
    ("DRAFT", None, None),
    ("SPAM", "hide", "labelHide"),
    ("CATEGORY_FORUMS", None, None),
    ("CATEGORY_UPDATES", None, None),
    ("CATEGORY_PERSONAL", None, None),
    ("CATEGORY_PROMOTIONS", None, None),
    ("CATEGORY_SOCIAL", None, None),
    ("STARRED", None, None),
    ("UNREAD", None, None),
)

# System labels a client may not put on or take off a message.
IMMUTABLE_SYSTEM_LABELS = frozenset({"SENT", "DRAFT", "CHAT"})

MESSAGE_ADDED = "messageAdded"
MESSAGE_DELETED = "messageDeleted"
LABEL_ADDED = "labelAdded"
LABEL_REMOVED = "labelRemoved"
HISTORY_TYPES = (MESSAGE_ADDED, MESSAGE_DELETED, LABEL_ADDED, LABEL_REMOVED)

HISTORY_ID_BASE = 2**63  # history ids are uint64: start above the signed range


class Label:
    __slots__ = ("id", "name", "type", "message_list_visibility", "label_list_visibility", "color")

    def __init__(self, label_id, name, label_type, mlv=None, llv=None, color=None):
        self.id = label_id
        self.name = name
        self.type = label_type
        self.message_list_visibility = mlv
        self.label_list_visibility = llv
        self.color = color

    def resource(self) -> dict[str, Any]:
        result: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.message_list_visibility:
            result["messageListVisibility"] = self.message_list_visibility
        if self.label_list_visibility:
            result["labelListVisibility"] = self.label_list_visibility
        if self.color:
            result["color"] = dict(self.color)
        result["type"] = self.type
        return result


SYSTEM_LABELS: dict[str, Label] = {
    spec[0]: Label(spec[0], spec[0], "system", spec[1], spec[2]) for spec in _SYSTEM_LABEL_SPECS
}


class Message:
    __slots__ = (
        "id", "thread_id", "label_ids", "internal_date", "history_id", "headers",
        "text", "snippet", "raw", "size", "has_attachment", "seq",
    )

    def __init__(self, message_id, raw, headers, text, snippet, internal_date, has_attachment=False):
        self.id: str = message_id
        self.thread_id: str = message_id
        self.label_ids: dict[str, None] = {}  # an ordered set
        self.internal_date: int = internal_date  # epoch ms
        self.history_id: int = 0
        self.headers: list[tuple[str, str]] = headers
        self.text: str = text
        self.snippet: str = snippet
        self.raw: bytes = raw
        self.size: int = len(raw)
        self.has_attachment: bool = has_attachment
        self.seq: int = 0

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.internal_date, self.seq)

    def header(self, name: str) -> str:
        lowered = name.lower()
        values = [value for key, value in self.headers if key.lower() == lowered]
        return ", ".join(values)

    def search_text(self) -> str:
        return "\n".join(
            (self.header("subject"), self.text, self.header("from"), self.header("to"), self.header("cc"))
        )


@dataclass
class Watch:
    topic_name: str
    label_ids: tuple[str, ...]
    behavior: str  # "include" | "exclude"
    expiration_ms: int
    history_id: int


# A history record: (id, type, message id, thread id, changed label ids,
# label ids of the message after the change, unix time, label ids the message
# had before it was deleted -- empty for every other type; push filters need
# them, since a deleted message has no labels left).
Record = tuple


def _next_gap(value: int) -> int:
    # History ids grow with gaps, as Gmail's do; derived from the value so that
    # 1,000 mailboxes need no random generator each.
    return 1 + ((value * 2654435761) >> 11) % 3


class Mailbox:
    def __init__(self, address: str, history_start: int):
        self.address = address
        self.user_labels: dict[str, Label] = {}
        self.messages: dict[str, Message] = {}
        self.order: list[Message] = []  # ascending (internal_date, seq)
        self._order_keys: list[tuple[int, int]] = []
        self.threads: dict[str, list[str]] = {}
        self.by_rfc_id: dict[str, str] = {}
        self.label_index: dict[str, set[str]] = {}
        self.history: list[Record] = []
        self.history_ids: list[int] = []
        self.history_id = history_start
        self.history_floor = history_start
        self.next_label_number = 1
        self.watch: Watch | None = None
        self.sent_ids: list[str] = []
        self._seq = 0

    # -- labels ---------------------------------------------------------

    def all_labels(self) -> list[Label]:
        return list(SYSTEM_LABELS.values()) + list(self.user_labels.values())

    def get_label(self, label_id: str) -> Label | None:
        return SYSTEM_LABELS.get(label_id) or self.user_labels.get(label_id)

    def label_by_name(self, name: str) -> Label | None:
        lowered = name.lower()
        for label in self.all_labels():
            if label.name.lower() == lowered or label.id.lower() == lowered:
                return label
        return None

    def name_conflicts(self, name: str, except_id: str | None = None) -> bool:
        lowered = name.strip().lower()
        for label in self.all_labels():
            if label.id == except_id:
                continue
            if label.name.lower() == lowered or label.id.lower() == lowered:
                return True
        return False

    def create_label(self, name: str, mlv: str | None, llv: str | None, color: dict | None) -> Label:
        label_id = f"Label_{self.next_label_number}"
        self.next_label_number += 1
        label = Label(label_id, name, "user", mlv or "show", llv or "labelShow", color)
        self.user_labels[label_id] = label
        return label

    def delete_label(self, label_id: str) -> list[Record]:
        records = []
        for message_id in list(self.label_index.get(label_id, ())):
            records.extend(self.change_labels(self.messages[message_id], (), (label_id,)))
        self.label_index.pop(label_id, None)
        del self.user_labels[label_id]
        return records

    def label_counts(self, label_id: str) -> dict[str, int]:
        members = self.label_index.get(label_id, set())
        unread = self.label_index.get("UNREAD", set())
        threads = {self.messages[mid].thread_id for mid in members}
        unread_threads = {self.messages[mid].thread_id for mid in members if mid in unread}
        return {
            "messagesTotal": len(members),
            "messagesUnread": len(members & unread),
            "threadsTotal": len(threads),
            "threadsUnread": len(unread_threads),
        }

    # -- history --------------------------------------------------------

    def _next_history_id(self) -> int:
        self.history_id += _next_gap(self.history_id)
        return self.history_id

    def _record(
        self, kind: str, message: Message, changed: tuple[str, ...] = (), labels_before: tuple[str, ...] = ()
    ) -> Record:
        hid = self._next_history_id()
        record = (
            hid, kind, message.id, message.thread_id, changed, tuple(message.label_ids), time.time(), labels_before
        )
        self.history.append(record)
        self.history_ids.append(hid)
        message.history_id = hid
        return record

    def expire_history(self) -> None:
        """Make every history id issued so far too old (history.list answers 404)."""
        self.history_floor = self._next_history_id()
        self.history.clear()
        self.history_ids.clear()

    def prune_history(self, now: float, retention_seconds: float | None) -> None:
        if retention_seconds is None or not self.history:
            return
        cutoff = now - retention_seconds
        drop = 0
        while drop < len(self.history) and self.history[drop][6] < cutoff:
            drop += 1
        if drop:
            self.history_floor = max(self.history_floor, self.history[drop - 1][0])
            del self.history[:drop]
            del self.history_ids[:drop]

    def history_page(
        self,
        start: int,
        after: int,
        types: Iterable[str] | None,
        label_id: str | None,
        max_results: int,
    ) -> tuple[list[Record], int | None]:
        """Records with id > ``after`` (``after`` >= ``start``); the int is the next page's position."""
        if start < self.history_floor or start > self.history_id or after < self.history_floor:
            raise errors.not_found()
        wanted = set(types) if types else None
        index = bisect.bisect_right(self.history_ids, after)
        page: list[Record] = []
        while index < len(self.history):
            record = self.history[index]
            index += 1
            if wanted is not None and record[1] not in wanted:
                continue
            if label_id is not None and label_id not in record[5] and label_id not in record[4]:
                continue
            page.append(record)
            if len(page) == max_results:
                break
        more = False
        while index < len(self.history):
            record = self.history[index]
            if (wanted is None or record[1] in wanted) and (
                label_id is None or label_id in record[5] or label_id in record[4]
            ):
                more = True
                break
            index += 1
        return page, (page[-1][0] if more else None)

    # -- messages -------------------------------------------------------

    def add_message(
        self,
        message: Message,
        label_ids: Iterable[str],
        *,
        thread_id: str | None = None,
        thread_by_headers: bool = True,
        record: bool = True,
    ) -> Record | None:
        self._seq += 1
        message.seq = self._seq
        message.thread_id = thread_id or (self._thread_from_headers(message) if thread_by_headers else None) or message.id
        for label_id in label_ids:
            if label_id not in message.label_ids:
                message.label_ids[label_id] = None
                self.label_index.setdefault(label_id, set()).add(message.id)
        self.messages[message.id] = message
        self.threads.setdefault(message.thread_id, []).append(message.id)
        rfc_id = message.header("message-id").strip().lower()
        if rfc_id:
            self.by_rfc_id.setdefault(rfc_id, message.id)
        key = message.sort_key
        if not self._order_keys or key >= self._order_keys[-1]:
            self.order.append(message)
            self._order_keys.append(key)
        else:
            position = bisect.bisect_right(self._order_keys, key)
            self.order.insert(position, message)
            self._order_keys.insert(position, key)
        return self._record(MESSAGE_ADDED, message) if record else None

    def _thread_from_headers(self, message: Message) -> str | None:
        references = (message.header("references") + " " + message.header("in-reply-to")).split()
        subject = normalized_subject(message.header("subject"))
        for reference in reversed(references):
            parent_id = self.by_rfc_id.get(reference.strip().lower())
            if parent_id is None:
                continue
            parent = self.messages.get(parent_id)
            if parent is not None and normalized_subject(parent.header("subject")) == subject:
                return parent.thread_id
        return None

    def thread_accepts(self, thread_id: str, subject: str) -> bool:
        """Gmail adds a message to a named thread only when the subjects match."""
        members = self.threads.get(thread_id)
        if not members:
            return False
        first = self.messages[members[0]]
        return normalized_subject(first.header("subject")) == normalized_subject(subject)

    def change_labels(self, message: Message, add: Iterable[str], remove: Iterable[str]) -> list[Record]:
        added = tuple(lid for lid in dict.fromkeys(add) if lid not in message.label_ids)
        for label_id in added:
            message.label_ids[label_id] = None
            self.label_index.setdefault(label_id, set()).add(message.id)
        removed = tuple(lid for lid in dict.fromkeys(remove) if lid in message.label_ids and lid not in added)
        for label_id in removed:
            del message.label_ids[label_id]
            self.label_index.get(label_id, set()).discard(message.id)
        records = []
        if added:
            records.append(self._record(LABEL_ADDED, message, added))
        if removed:
            records.append(self._record(LABEL_REMOVED, message, removed))
        return records

    def delete_message(self, message: Message) -> Record:
        for label_id in message.label_ids:
            self.label_index.get(label_id, set()).discard(message.id)
        del self.messages[message.id]
        members = self.threads.get(message.thread_id, [])
        if message.id in members:
            members.remove(message.id)
        if not members:
            self.threads.pop(message.thread_id, None)
        rfc_id = message.header("message-id").strip().lower()
        if self.by_rfc_id.get(rfc_id) == message.id:
            del self.by_rfc_id[rfc_id]
        position = bisect.bisect_left(self._order_keys, message.sort_key)
        if position < len(self.order) and self.order[position] is message:
            del self.order[position]
            del self._order_keys[position]
        labels_before = tuple(message.label_ids)
        message.label_ids = {}
        return self._record(MESSAGE_DELETED, message, labels_before=labels_before)

    def newest_first(self, label_ids: Iterable[str] = ()) -> list[Message]:
        wanted = list(label_ids)
        if not wanted:
            return self.order[::-1]
        sets = [self.label_index.get(lid, set()) for lid in wanted]
        smallest = min(sets, key=len)
        others = [s for s in sets if s is not smallest]
        members = [self.messages[mid] for mid in smallest if all(mid in s for s in others)]
        members.sort(key=lambda m: (m.internal_date, m.seq), reverse=True)
        return members

    def thread_messages(self, thread_id: str) -> list[Message]:
        members = [self.messages[mid] for mid in self.threads.get(thread_id, ())]
        members.sort(key=lambda m: (m.internal_date, m.seq))
        return members

    def sender_addresses(self, message: Message) -> list[str]:
        return [addr for _, addr in addresses(message.header("from"))]

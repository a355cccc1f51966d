"""users.history.list: the arguments of a call and its answer read, the same for the sync pipeline (`gmail.client`)
and the polling sweep (`gmail.sweep`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = ["SYNC_HISTORY_TYPES", "HistoryPage", "history_params", "parse_history_page"]


@dataclass
class HistoryPage:
    added_ids: list[str]
    history_id: str
    next_page_token: str | None
    # Messages that left (False) or came back to (True) the Inbox, last change wins; from labelsRemoved /
    # labelsAdded records, which the same history.list call returns (no extra quota).
    inbox_changes: dict[str, bool] = field(default_factory=dict)
    # Messages the owner sent (messagesAdded with SENT): message id -> thread id, from the records themselves
    # (follow-ups: a reply clears the thread's follow-up without fetching anything).
    sent: dict[str, str] = field(default_factory=dict)


# What the sync asks history.list for: new mail, and Inbox membership changes of any message.
SYNC_HISTORY_TYPES = ("messageAdded", "labelAdded", "labelRemoved")


def history_params(start_history_id: str, *, label_id: str | None = None,
                   history_types: Iterable[str] = SYNC_HISTORY_TYPES, page_size: int = 500,
                   page_token: str | None = None) -> dict[str, Any]:
    """The arguments of one users.history.list call, the same for the pipeline and the polling sweep."""
    params: dict[str, Any] = dict(userId="me", startHistoryId=start_history_id, historyTypes=list(history_types),
                                  maxResults=page_size)
    if label_id:
        params["labelId"] = label_id
    if page_token:
        params["pageToken"] = page_token
    return params


def parse_history_page(response: dict[str, Any], label_id: str | None = "INBOX", *,
                       server_filtered: bool = False) -> HistoryPage:
    """`added`: new messages with `label_id` (None: all); `inbox_changes`: that label added or removed; `sent`:
    the owner's sent messages. The sync asks Gmail for the whole history (no `labelId`), which costs the same
    call, and sorts it here, so the rep's sent mail is seen too. With `server_filtered` (the request named the
    label), a message Gmail lists without labels counts as having it."""
    added: list[str] = []
    changes: dict[str, bool] = {}
    sent: dict[str, str] = {}
    for record in response.get("history", []):
        for item in record.get("messagesAdded", []):
            message = item.get("message", {})
            labels = message.get("labelIds", [label_id] if server_filtered else [])
            if label_id is None or label_id in labels:
                added.append(message["id"])
            if "SENT" in labels and isinstance(message.get("threadId"), str):
                sent[message["id"]] = message["threadId"]
        if label_id is None:
            continue
        for key, inside in (("labelsAdded", True), ("labelsRemoved", False)):
            for item in record.get(key, []):
                if label_id in item.get("labelIds", []):
                    message_id = item.get("message", {}).get("id")
                    if message_id:
                        changes.pop(message_id, None)
                        changes[message_id] = inside
    return HistoryPage(added, response["historyId"], response.get("nextPageToken"), changes, sent)

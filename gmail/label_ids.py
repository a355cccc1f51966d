"""The three labels in the rep's Gmail: found or created once, their ids cached on the mailbox."""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine

from crm_store.categories import Category, LabelNames
from crm_store.db import session_scope
from crm_store.models import GmailAccount, utcnow
from gmail.client import MailboxClient
from gmail.errors import InvalidRequest

__all__ = ["cached_label_ids", "ensure_labels", "labels_created_in_gmail"]


def cached_label_ids(raw: Any) -> dict[str, str]:
    """The usable label ids of a mailbox's cache (category key -> Gmail label id): a missing, null or empty id,
    or a cache that is not a JSON object, counts as missing."""
    try:
        data = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {c.value: data[c.value] for c in Category if isinstance(data.get(c.value), str) and data[c.value].strip()}


def labels_created_in_gmail(account: GmailAccount) -> bool:
    """For /gmail status: the three labels exist in the rep's Gmail (as far as the last look at Gmail knows)."""
    return len(cached_label_ids(account.label_ids)) == len(Category)


def ensure_labels(engine: Engine, labels: LabelNames, account_id: int, mailbox: MailboxClient,
                  created: list[str] | None = None) -> dict[str, str]:
    """Find the three labels in the rep's Gmail (any case), create the missing ones, cache their ids; returns
    category key -> Gmail label id. One `labels.list` (1 unit), plus 5 units per label created. Names of the
    labels created are appended to `created`."""
    existing = {label["name"].lower(): label["id"] for label in mailbox.list_labels()}
    ids: dict[str, str] = {}
    for category in Category:
        name = labels.name_for(category)
        label_id = existing.get(name.lower())
        if label_id is None:
            try:
                label_id = mailbox.create_label(name)["id"]
                if created is not None:
                    created.append(name)
            except InvalidRequest:
                # 409: created meanwhile (another client, a retried call): take it from a fresh list.
                label_id = {l["name"].lower(): l["id"] for l in mailbox.list_labels()}.get(name.lower())
                if label_id is None:
                    raise
        ids[category.value] = label_id
    with session_scope(engine) as session:
        current = session.get(GmailAccount, account_id)
        if current is not None:
            current.label_ids = json.dumps(ids)
            current.label_ids_checked_at = utcnow()  # the clock `labels_enabled_at` is written with
            session.add(current)
    return ids

"""Zoho CRM users' roles and managers (SPEC §1 Roles): `GET /crm/v7/users`, `role.name` and `Reporting_To.id`,
into the store's CRM users by email (`crm_store.user_records`, source `zoho`).

The Users API is read whole on each run (an organisation has hundreds of users, 200 a page), because a manager
is named by Zoho id and the id → email map must be complete; the store's update is idempotent, so an unchanged
organisation changes nothing. Deleted users are left out. A grant without the `ZohoCRM.users.READ` scope, or
a Zoho reporting line that loops, leaves roles and managers as they were, with the reason as the run's problem.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from crm_store.db import session_scope
from crm_store.records import IngestResult
from crm_store.sources import ChangeSource
from crm_store.user_records import apply_user_records
from crm_sync.zoho_client import ZohoClient

MAX_USER_PAGES = 50  # 10,000 users


def _name(value: Any) -> str | None:
    return value.get("name") if isinstance(value, dict) and isinstance(value.get("name"), str) else None


def user_records(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The store's user records for Zoho's users (deleted ones and users without an email left out)."""
    email_of = {u["id"]: u.get("email") for u in users if isinstance(u.get("email"), str)}
    records = []
    for user in users:
        email = user.get("email")
        if not isinstance(email, str) or user.get("status") == "deleted":
            continue
        manager = user.get("Reporting_To")
        manager_id = manager.get("id") if isinstance(manager, dict) else None
        record: dict[str, Any] = {"email": email, "role": _name(user.get("role")),
                                  "manager_email": email_of.get(str(manager_id)) if manager_id is not None else None}
        if isinstance(user.get("full_name"), str) and user["full_name"].strip():
            record["name"] = user["full_name"]
        records.append(record)
    return records


def sync_zoho_users(engine: Engine, client: ZohoClient) -> IngestResult:
    users: list[dict[str, Any]] = []
    for page in range(1, MAX_USER_PAGES + 1):
        batch, more = client.list_users(page=page)
        users += batch
        if not more:
            break
    with session_scope(engine) as session:
        result = apply_user_records(session, list(enumerate(user_records(users))), source=ChangeSource.ZOHO,
                                    detail="Zoho CRM Users")
        if result.rejected:
            session.rollback()
        return result

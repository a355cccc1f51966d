"""Zoho CRM's users (Users API, `GET /crm/v7/users` and `/users/{id}`): who they are, their role,
profile and manager (`Reporting_To`), and which of them each `type=` lists.

Zoho's answer: `{"users": [...], "info": {"per_page", "count", "page", "more_records"}}`, paged with
`page` / `per_page` (1-200), `If-Modified-Since` keeping users modified after it (Zoho documents the
header for this API: "to get the list of recently modified users"); nothing modified → 304, nothing
at all → 204. The API needs the `ZohoCRM.users.READ` (or `.ALL`) scope: a token without it gets 401
`OAUTH_SCOPE_MISMATCH`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from . import errors

USER_TYPES = (
    "AllUsers", "ActiveUsers", "DeactiveUsers", "ConfirmedUsers", "NotConfirmedUsers", "DeletedUsers",
    "ActiveConfirmedUsers", "AdminUsers", "ActiveConfirmedAdmins", "CurrentUser",
)
STATUSES = ("active", "disabled", "deleted")  # Zoho's words for active, deactivated and deleted users
ADMIN_PROFILE = "Administrator"
USERS_SCOPES = ("zohocrm.users.read", "zohocrm.users.all", "zohocrm.users.*")


@dataclass
class CrmUser:
    id: str
    email: str
    first_name: str | None
    last_name: str
    role: dict[str, str]  # {"name", "id"}
    profile: dict[str, str]  # {"name", "id"}
    reporting_to: str | None  # the manager's user id
    status: str
    confirm: bool
    time_zone: str
    created: datetime
    modified: datetime
    zuid: str

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def lookup(self) -> dict[str, str]:
        """What records' `Owner` carries about this user."""
        return {"name": self.full_name, "id": self.id, "email": self.email}


def split_name(name: str | None, email: str) -> tuple[str | None, str]:
    """First and last name from a full name (or from the address when there is none); Zoho requires a
    last name."""
    text = (name or email.split("@")[0].replace(".", " ").title()).strip()
    first, _, last = text.rpartition(" ")
    return (first or None), (last or text)


def selects(user: CrmUser, kind: str) -> bool:
    """Whether `type=kind` lists this user."""
    active, admin = user.status == "active", user.profile["name"] == ADMIN_PROFILE
    return {
        "AllUsers": user.status != "deleted",
        "ActiveUsers": active,
        "DeactiveUsers": user.status == "disabled",
        "ConfirmedUsers": user.confirm and user.status != "deleted",
        "NotConfirmedUsers": not user.confirm and user.status != "deleted",
        "DeletedUsers": user.status == "deleted",
        "ActiveConfirmedUsers": active and user.confirm,
        "AdminUsers": admin and user.status != "deleted",
        "ActiveConfirmedAdmins": admin and active and user.confirm,
    }[kind]


def user_object(user: CrmUser, by_id: dict[str, CrmUser], format_time: Callable[[datetime], str],
                creator: CrmUser) -> dict[str, Any]:
    """One user as the Users API answers it."""
    manager = by_id.get(user.reporting_to or "")
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.full_name,
        "status": user.status,
        "confirm": user.confirm,
        "role": dict(user.role),
        "profile": dict(user.profile),
        "Reporting_To": {"name": manager.full_name, "id": manager.id} if manager is not None else None,
        "time_zone": user.time_zone,
        "zuid": user.zuid,
        "locale": "en_US",
        "language": "en_US",
        "country_locale": "en_US",
        "alias": None,
        "phone": None,
        "mobile": None,
        "Isonline": False,
        "created_time": format_time(user.created),
        "created_by": {"name": creator.full_name, "id": creator.id},
        "Modified_Time": format_time(user.modified),
        "Modified_By": {"name": creator.full_name, "id": creator.id},
    }


def check_scope(scope: str | None) -> None:
    granted = {part.strip().lower() for part in (scope or "").split(",")}
    if not granted & set(USERS_SCOPES) and "zohocrm.all" not in granted:
        raise errors.scope_mismatch()


def user_type(query: dict[str, str]) -> str:
    kind = query.get("type", "AllUsers")
    if kind not in USER_TYPES:
        error = errors.invalid_data("type")
        error.details["supported_values"] = list(USER_TYPES)
        raise error
    return kind

"""CRM users' roles and managers (SPEC §1 Roles), from `mailmagnet users import FILE.csv`, `PUT /crm/v1/users`
and the Zoho sync: records `{"email", "role", "manager_email"}` (and optionally `name`).

Same rules as the other CRM records: every record is checked first, all or nothing, answered with counts or
every problem (index or line, field, reason); idempotent; a CRM user named by `email` or `manager_email` that
does not exist yet is created with no permissions (as a contact's `owner_email` is). `role` or `manager_email`
left out keeps what is stored; given as null or "" it clears it. A record that makes someone their own manager,
or closes a loop in the reporting line, is refused: managers' visibility follows the line upwards.
Permissions (Mail Integration, admin) never come this way: only an admin grants them.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crm_store.addresses import is_valid_address
from crm_store.db import session_scope
from crm_store.models import CrmUser
from crm_store.records import IngestResult, RecordProblem
from crm_store.sources import ChangedKind, ChangeSource, record_change
from crm_store.users import get_or_create_user, normalise_email

USER_FIELDS = ("email", "role", "manager_email", "name")
KIND = ChangedKind.USERS
MAX_ROLE = 100
MAX_NAME = 200


def _text(value: Any, limit: int, field: str, pos: int, problems: list[RecordProblem]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        problems.append(RecordProblem(pos, field, "expected text"))
        return None
    text = " ".join(str(value).split())
    if len(text) > limit:
        problems.append(RecordProblem(pos, field, f"longer than {limit} characters"))
        return None
    return text or None


def _address(value: Any, field: str, pos: int, problems: list[RecordProblem], *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(RecordProblem(pos, field, "required"))
        return None
    if not isinstance(value, str):
        problems.append(RecordProblem(pos, field, "expected an email address"))
        return None
    address = normalise_email(value)
    if len(address) > 320 or not is_valid_address(address):
        problems.append(RecordProblem(pos, field, f"not an email address: {value[:60]!r}"))
        return None
    return address


def check_user_records(records: Iterable[tuple[int, Any]]) -> tuple[list[tuple[int, dict]], list[RecordProblem]]:
    """Each (position, raw record) checked: the good ones as {field: value} (only the fields given), and every
    problem."""
    good: list[tuple[int, dict]] = []
    problems: list[RecordProblem] = []
    seen: dict[str, int] = {}
    for pos, raw in records:
        found: list[RecordProblem] = []
        if not isinstance(raw, dict):
            problems.append(RecordProblem(pos, None, "expected an object with the user's fields"))
            continue
        unknown = [k for k in raw if k not in USER_FIELDS]
        for key in unknown:
            found.append(RecordProblem(pos, str(key)[:60], f"unknown field: a user has {', '.join(USER_FIELDS)}"))
        values: dict[str, Any] = {"email": _address(raw.get("email"), "email", pos, found, required=True)}
        if "role" in raw:
            values["role"] = _text(raw["role"], MAX_ROLE, "role", pos, found)
        if "name" in raw:
            values["name"] = _text(raw["name"], MAX_NAME, "name", pos, found)
        if "manager_email" in raw:
            values["manager_email"] = _address(raw["manager_email"], "manager_email", pos, found, required=False)
            if values["manager_email"] and values["manager_email"] == values["email"]:
                found.append(RecordProblem(pos, "manager_email", "a user cannot be their own manager"))
        if values["email"] and values["email"] in seen:
            found.append(RecordProblem(pos, "email", f"the same user as record {seen[values['email']]}"))
        if found:
            problems += found
            continue
        seen[values["email"]] = pos
        good.append((pos, values))
    return good, problems


def _loops(session: Session, changes: dict[int, int | None]) -> set[int]:
    """The users whose new manager closes a loop in the reporting line (with the other changes applied)."""
    manager_of: dict[int, int | None] = {}

    def manager(uid: int) -> int | None:
        if uid in changes:
            return changes[uid]
        if uid not in manager_of:
            manager_of[uid] = session.exec(select(CrmUser.manager_id).where(CrmUser.id == uid)).first()
        return manager_of[uid]

    looping = set()
    for start in changes:
        seen = {start}
        current = manager(start)
        while current is not None:
            if current in seen:
                looping.add(start)
                break
            seen.add(current)
            current = manager(current)
    return looping


def apply_user_records(session: Session, records: list[tuple[int, Any]], *, source: ChangeSource,
                       detail: str | None = None) -> IngestResult:
    """Check every record, then write them all or none (the caller's transaction)."""
    result = IngestResult(kind=KIND)
    good, problems = check_user_records(records)
    if problems:
        result.problems, result.rejected, result.skipped = problems, True, len({p.index for p in problems})
        return result
    emails = {v["email"] for _, v in good} | {v["manager_email"] for _, v in good if v.get("manager_email")}
    existing = {u.email: u for u in session.exec(select(CrmUser).where(CrmUser.email.in_(emails))).all()} \
        if emails else {}
    users = {}
    created = set()
    for email in sorted(emails):
        user = existing.get(email)
        if user is None:
            user = get_or_create_user(session, email)
            created.add(email)
        users[email] = user
    session.flush()
    manager_changes: dict[int, int | None] = {}
    for pos, values in good:
        user = users[values["email"]]
        if "manager_email" in values:
            manager_changes[user.id] = users[values["manager_email"]].id if values["manager_email"] else None
    looping = _loops(session, manager_changes)
    if looping:
        by_id = {users[v["email"]].id: pos for pos, v in good}
        result.problems = [RecordProblem(by_id[uid], "manager_email", "this manager closes a loop in the reporting "
                                         "line (someone would be their own manager's manager)")
                           for uid in sorted(looping, key=lambda u: by_id[u])]
        result.rejected, result.skipped = True, len(result.problems)
        session.rollback()
        return result
    for pos, values in good:
        user = users[values["email"]]
        before = (user.role, user.manager_id, user.name)
        if "role" in values:
            user.role = values["role"]
        if "name" in values and values["name"]:
            user.name = values["name"]
        if user.id in manager_changes:
            user.manager_id = manager_changes[user.id]
        if values["email"] in created:
            result.created += 1
        elif (user.role, user.manager_id, user.name) != before:
            result.updated += 1
        else:
            result.unchanged += 1
        session.add(user)
    # Managers named only as `manager_email` that did not exist are created too, and counted.
    result.created += len(created - {v["email"] for _, v in good})
    session.flush()
    record_change(session.connection(), source, KIND, created=result.created, updated=result.updated, deleted=0,
                  detail=detail)
    return result


def ingest_user_records(engine: Engine, records: Any, *, source: ChangeSource, detail: str | None = None,
                        max_records: int = 1000) -> IngestResult:
    if not isinstance(records, list):
        return IngestResult(kind=KIND, problems=[RecordProblem(None, None, "expected a JSON array of records")],
                            rejected=True)
    if len(records) > max_records:
        return IngestResult(kind=KIND, problems=[RecordProblem(None, None, f"too many records: {len(records)}, at "
                                                           f"most {max_records} per request")], rejected=True)
    with session_scope(engine) as session:
        result = apply_user_records(session, list(enumerate(records)), source=source, detail=detail)
        if result.rejected:
            session.rollback()
        return result

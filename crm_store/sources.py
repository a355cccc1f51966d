"""Where CRM data came from: when it last changed, through which source, with what counts.

Every import that changes something (CSV import, ingest API request, page of a Zoho CRM sync)
upserts one row per (source, kind) in the transaction that writes the change, so the row never
claims a change that was rolled back. `crm_data_status` says when CRM data last changed and through which source
(`/gmail status` and the App Home word it), with the state of each sync stream.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from crm_store.db import session_scope
from crm_store.models import CrmDataChange, CrmSyncCursor, utcnow
from crm_store.values import ChangedKind, ChangeSource

__all__ = ["ChangeSource", "ChangedKind", "CrmChange", "CrmDataStatus", "record_change", "crm_data_status"]


SOURCE_NAMES = {
    ChangeSource.CSV: "CSV import",
    ChangeSource.API: "CRM ingest API",
    ChangeSource.ZOHO: "Zoho CRM sync",
}


@dataclass(frozen=True)
class CrmChange:
    source: ChangeSource
    kind: ChangedKind
    changed_at: datetime
    created: int
    updated: int
    deleted: int
    detail: str | None = None

    @property
    def source_name(self) -> str:
        return SOURCE_NAMES[self.source]


@dataclass(frozen=True)
class SyncStreamState:
    """One incremental sync stream (`zoho:Contacts`, `zoho:Deals:deleted`, …)."""

    name: str
    since: datetime | None
    last_success_at: datetime | None
    last_error: str | None


@dataclass
class CrmDataStatus:
    last_change: CrmChange | None
    changes: list[CrmChange] = field(default_factory=list)  # newest first, one per (source, kind)
    syncs: list[SyncStreamState] = field(default_factory=list)

    def sync_streams(self, prefix: str) -> list[SyncStreamState]:
        return [stream for stream in self.syncs if stream.name.split(":", 1)[0] == prefix]

    def sync_succeeded_at(self, prefix: str = "zoho") -> datetime | None:
        """When every stream of that sync last completed (the oldest of their successes)."""
        streams = self.sync_streams(prefix)
        if not streams or any(stream.last_success_at is None for stream in streams):
            return None
        return min(stream.last_success_at for stream in streams)

    def sync_error(self, prefix: str = "zoho") -> str | None:
        errors = [stream.last_error for stream in self.sync_streams(prefix) if stream.last_error]
        return errors[0] if errors else None


def record_change(connection: Connection, source: ChangeSource, kind: ChangedKind, *, created: int, updated: int,
                  deleted: int, detail: str | None = None, at: datetime | None = None) -> None:
    """Note a change in the caller's transaction (a no-op change is not worth a row). A source or kind outside
    the enums is refused by the columns' type (StatementError) before anything is written."""
    if not (created or updated or deleted):
        return
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    values = {"source": source, "kind": kind, "changed_at": at or utcnow(), "created": created,
              "updated": updated, "deleted": deleted, "detail": (detail or None) and detail[:200]}
    statement = dialect.insert(CrmDataChange.__table__).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["source", "kind"],
        set_={name: statement.excluded[name] for name in ("changed_at", "created", "updated", "deleted", "detail")},
    )
    connection.execute(statement)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def crm_data_status(engine: Engine) -> CrmDataStatus:
    """The last CRM change, the last change of each source and kind, and the sync streams' state."""
    with session_scope(engine) as session:
        return read_crm_data_status(session)


def read_crm_data_status(session: Session) -> CrmDataStatus:
    """`crm_data_status` inside a caller's transaction (a status command reads everything in one)."""
    rows = session.exec(select(CrmDataChange).order_by(CrmDataChange.changed_at.desc())).all()
    cursors = session.exec(select(CrmSyncCursor).order_by(CrmSyncCursor.name)).all()
    changes = [CrmChange(row.source, row.kind, _aware(row.changed_at), row.created, row.updated, row.deleted,
                         row.detail) for row in rows]
    syncs = [SyncStreamState(row.name, _aware(row.since), _aware(row.last_success_at), row.last_error)
             for row in cursors]
    return CrmDataStatus(changes[0] if changes else None, changes, syncs)

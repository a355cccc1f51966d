"""What a Zoho CRM sync run answers: per module counts and problems, and how the run ended."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["ModuleResult", "SyncProblem", "ZohoSyncResult", "ZohoSyncStatus"]


@dataclass
class SyncProblem:
    module: str
    record_id: str | None  # the Zoho id
    field: str | None  # Zoho's field name
    reason: str

    def __str__(self) -> str:
        where = f"{self.module} {self.record_id}" + (f" {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


@dataclass
class ModuleResult:
    module: str
    pages: int = 0  # pages of records read (empty answers included)
    deleted_pages: int = 0
    read: int = 0  # records Zoho handed out
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    skipped_organisation: int = 0  # of the skipped, records whose address is the organisation's own
    problems: list[SyncProblem] = field(default_factory=list)


class ZohoSyncStatus(StrEnum):
    """How a run ended (also the `result` of `mailmagnet_crm_sync_runs_total`)."""
    SYNCED = "synced"
    SKIPPED = "skipped"  # another replica holds the lease
    FAILED = "failed"


@dataclass
class ZohoSyncResult:
    status: ZohoSyncStatus
    reason: str | None = None  # why skipped or failed
    full: bool = False
    modules: dict[str, ModuleResult] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is ZohoSyncStatus.SYNCED

    @property
    def pages(self) -> int:
        return sum(result.pages + result.deleted_pages for result in self.modules.values())

    @property
    def deletes(self) -> int:
        return sum(result.deleted for result in self.modules.values())

    @property
    def problems(self) -> list[SyncProblem]:
        return [problem for result in self.modules.values() for problem in result.problems]

    def summary(self) -> str:
        """One line for the CLI and the logs."""
        if self.status is ZohoSyncStatus.SKIPPED:
            return f"skipped: {self.reason}"
        parts = [f"{name.lower()}: {r.created} created, {r.updated} updated, {r.deleted} deleted, "
                 f"{r.skipped} skipped"
                 + (f" ({r.skipped_organisation} the organisation's own addresses)" if r.skipped_organisation else "")
                 for name, r in self.modules.items()]
        text = "; ".join(parts) or "nothing read"
        return f"failed: {self.reason} ({text})" if self.status is ZohoSyncStatus.FAILED else text

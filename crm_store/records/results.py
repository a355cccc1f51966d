"""What applying a batch of CRM records answers: the kinds, each bad record's problem, the counts, and the
exception that says nothing was written."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "MAX_RECORDS_PER_REQUEST",
    "MAX_REQUEST_BYTES",
    "ORGANISATION_ADDRESS",
    "IngestResult",
    "RecordKind",
    "RecordProblem",
    "RecordsRejected",
]


class RecordKind(StrEnum):
    CONTACTS = "contacts"
    DEALS = "deals"
    LEADS = "leads"  # contact rows with a lead status (crm_store.leads)


# The ingest API's request-size guard: records per request, and bytes of JSON the route should read at most
# (1,000 records of a few hundred bytes each, with room to spare).
MAX_RECORDS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024

# RecordProblem.code of a record refused because its address is the organisation's own.
ORGANISATION_ADDRESS = "organisation_address"


@dataclass
class RecordProblem:
    index: int | None  # position of the record (list index, or file line); None: the request as a whole
    field: str | None  # None: the record as a whole
    reason: str
    code: str | None = None  # ORGANISATION_ADDRESS: the record is fine, its address is the organisation's

    def as_json(self) -> dict:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass
class IngestResult:
    kind: str  # contacts | deals
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0  # bad records left out (skip_invalid), or the bad records of a rejected batch
    problems: list[RecordProblem] = field(default_factory=list)
    rejected: bool = False  # nothing was written because of the problems
    deleted_deals: int = 0  # deals removed together with their contacts
    skipped_organisation: int = 0  # of the bad records, those refused for an organisation address
    # Contacts whose label category may have changed; one CategoryChange row each was written.
    changed_contact_ids: set[int] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "deleted": self.deleted, "skipped": self.skipped}

    def as_json(self) -> dict:
        """The counts, `deleted_deals` when contacts took deals with them, and the problems when there are any."""
        body: dict[str, Any] = {"kind": self.kind, **self.counts()}
        if self.deleted_deals:
            body["deleted_deals"] = self.deleted_deals
        if self.problems:
            body["problems"] = [problem.as_json() for problem in self.problems]
        return body


class RecordsRejected(Exception):
    """Nothing was written; `result.problems` lists every bad record."""

    def __init__(self, result: IngestResult):
        self.result = result
        super().__init__(f"{result.kind}: {len({p.index for p in result.problems})} bad record(s); nothing was written")

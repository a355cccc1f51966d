"""One batch of records on its way in: each record's checked row, how positions are named in problems, the
problems found so far, and the all-or-nothing rule (`Batch.finish`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from crm_store.records.fields import check_record, quote
from crm_store.records.progress import ProgressTracker
from crm_store.records.results import ORGANISATION_ADDRESS, IngestResult, RecordKind, RecordProblem, RecordsRejected

__all__ = ["Batch", "Row", "Where"]


@dataclass
class Row:
    pos: int
    values: dict[str, Any]  # the fields the record has, checked and normalised ("deleted" excluded)
    deleted: bool = False
    ok: bool = True
    target: int | None = None  # existing record id; None: a new record (or, deleted: nothing to delete)
    contact_id: int | None = None  # deals: the contact the record names

    @property
    def email(self) -> str | None:
        return self.values.get("email")

    @property
    def external_id(self) -> str | None:
        return self.values.get("external_id")

    @property
    def name(self) -> str | None:
        return self.values.get("name")

    def addresses(self) -> list[tuple[str, str]]:
        """The addresses a contact record keys on: both for an upsert, the primary one for a delete."""
        found = [("email", self.email)] if self.email else []
        secondary = None if self.deleted else self.values.get("secondary_email")
        if secondary and secondary != self.email:
            found.append(("secondary_email", secondary))
        return found


class Where:
    """How positions are named in messages: `line 7` for a file, `index 3` for a JSON array."""

    def __init__(self, positions: Sequence[int] | None, word: str):
        self.positions, self.word = positions, word

    def at(self, i: int) -> int:
        return self.positions[i] if self.positions is not None else i

    def name(self, pos: int) -> str:
        return f"{self.word} {pos}"

    def first(self, pos: int) -> str:
        return f"first {'on' if self.word == 'line' else 'at'} {self.word} {pos}"


class Batch:
    """The records of one call, their problems, and what the caller asked to happen to bad ones."""

    def __init__(self, kind: RecordKind, where: Where, problems: list[RecordProblem], *, skip_invalid: bool,
                 skip_organisation: bool, progress: ProgressTracker):
        self.kind, self.where, self.problems = kind, where, problems
        self.skip_invalid, self.skip_organisation = skip_invalid, skip_organisation
        self.progress = progress
        self.result = IngestResult(kind=kind.value)

    def check_all(self, records: Sequence[Any]) -> list[tuple[Row, list[RecordProblem]]]:
        """Each record's fields checked on its own (`fields.check_record`)."""
        checked = []
        for i, raw in enumerate(records):
            pos = self.where.at(i)
            values, deleted, row_problems = check_record(self.kind, raw, pos)
            checked.append((Row(pos, values, deleted), row_problems))
            self.progress.advance()
        return checked

    def check_unique_external_id(self, row: Row, first_external: dict[str, int],
                                 row_problems: list[RecordProblem]) -> None:
        """An external_id repeated within the batch: the later record is the error."""
        external_id = row.external_id
        if not external_id:
            return
        if external_id in first_external:
            row_problems.append(RecordProblem(row.pos, "external_id", f"duplicate external_id {quote(external_id)} "
                                                                      f"({self.where.first(first_external[external_id])})"))
        else:
            first_external[external_id] = row.pos

    def fail(self, row: Row, column: str | None, reason: str) -> None:
        row.ok = False
        self.problems.append(RecordProblem(row.pos, column, reason))

    def finish(self) -> None:
        """Reject the batch when it has problems and the caller did not ask to skip bad records (or, with
        `skip_organisation`, when a record has a problem other than an organisation address)."""
        result, problems = self.result, self.problems
        result.problems = sorted(problems, key=lambda problem: -1 if problem.index is None else problem.index)
        result.skipped = len({problem.index for problem in problems})
        result.skipped_organisation = len({problem.index for problem in problems
                                           if problem.code == ORGANISATION_ADDRESS})
        blocking = [problem for problem in problems
                    if not (self.skip_organisation and problem.code == ORGANISATION_ADDRESS)]
        if blocking and not self.skip_invalid:
            result.rejected = True
            raise RecordsRejected(result)

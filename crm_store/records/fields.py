"""Field rules: what each field of a contact or deal record may hold, and what a record must have.

Each field is checked by a pydantic model (`ContactRecord`, `DealRecord`); the rules are in the package
docstring (`crm_store.records`). `check_record` turns one raw record into its checked values and problems.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any, Callable, Mapping, Optional

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, ValidationError
from pydantic_core import PydanticCustomError

from crm_store.records.results import RecordKind, RecordProblem
from crm_store.users import normalise_email

__all__ = ["CONTACT_FIELDS", "DEAL_FIELDS", "LEAD_FIELDS", "ContactRecord", "DealRecord", "LeadRecord", "check_record",
           "normalise_amount", "quote"]

CONTACT_FIELDS = (
    "email", "secondary_email", "first_name", "last_name", "company", "phone", "owner_email", "external_id",
)
# A lead has the contact's fields plus its status and, once converted, the contact it became (`crm_store.leads`).
LEAD_FIELDS = CONTACT_FIELDS + ("lead_status", "converted_contact_external_id")
DEAL_FIELDS = (
    "name", "contact_email", "contact_external_id", "stage", "closing_date", "amount", "owner_email", "external_id",
)

# Column widths of the tables: PostgreSQL refuses longer text, SQLite would keep it.
_MAX_LENGTH = {
    "email": 320, "secondary_email": 320, "owner_email": 320, "contact_email": 320,
    "first_name": 200, "last_name": 200, "company": 300, "phone": 64,
    "external_id": 128, "contact_external_id": 128,
    "name": 300, "stage": 100, "lead_status": 100, "converted_contact_external_id": 128,
    "closing_date": 100, "amount": 100,
}

_AMOUNT_LIMIT = Decimal(10) ** 16  # Numeric(18, 2)
_CENT = Decimal("0.01")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def quote(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _error(kind: str, message: str) -> PydanticCustomError:
    # Formatted here, with no context: pydantic would expand {placeholders} found in the data too.
    return PydanticCustomError(kind, message)


def _text_value(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _error("text_type", "expected text")
    text = str(value).strip()
    if "\x00" in text:
        raise _error("nul", "contains a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # JSON's `\ud800` escape: valid JSON, but no database can store it
            raise _error("unicode", "is not valid Unicode text (it holds a lone surrogate)") from None
    if not text:
        return None
    if len(text) > limit:
        raise _error("too_long", f"too long: {len(text)} characters, at most {limit}")
    return text


def _text(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda value: _text_value(value, limit))


@lru_cache(maxsize=65536)
def _is_valid_address(address: str) -> bool:
    """email-validator's syntax check (~50 µs); cached, since owners and deal contacts repeat."""
    try:
        # test_environment: `.test` addresses are accepted like `.example` ones; no DNS either way.
        validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def _email_value(value: Any) -> str | None:
    text = _text_value(value, 320)
    if text is None:
        return None
    address = normalise_email(text)
    if not _is_valid_address(address):
        raise _error("malformed_email", f"malformed email {quote(address)}")
    return address


def _date_value(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = _text_value(value, _MAX_LENGTH["closing_date"])
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _error("date", f"unparseable date {quote(text)}: expected YYYY-MM-DD") from None


def _amount_value(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount: Decimal | None = None
    if isinstance(value, bool):
        shown = str(value).lower()
    elif isinstance(value, (int, Decimal)):
        amount, shown = Decimal(value), str(value)
    elif isinstance(value, float):
        amount, shown = Decimal(repr(value)), repr(value)  # repr: the float as written, not its binary value
    else:
        text = _text_value(value, _MAX_LENGTH["amount"])
        if text is None:
            return None
        shown = text
        try:
            # Decimal also reads `1_000`, other scripts' digits and "Infinity": only a number as people write it.
            amount = Decimal(text) if _PLAIN_NUMBER.fullmatch(text) else None
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite():
        raise _error("amount", f"unparseable amount {quote(shown)}: expected a number like 1234.50")
    if abs(amount) >= _AMOUNT_LIMIT or abs(amount := amount.quantize(_CENT, rounding=ROUND_HALF_UP)) >= _AMOUNT_LIMIT:
        raise _error("amount_size", f"amount {quote(shown)} is too large")
    return amount


def _text_field(name: str):
    return Annotated[Optional[str], _text(_MAX_LENGTH[name])]


Email = Annotated[Optional[str], BeforeValidator(_email_value)]
IsoDate = Annotated[Optional[date], BeforeValidator(_date_value)]
Amount = Annotated[Optional[Decimal], BeforeValidator(_amount_value)]


class ContactRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email = None
    secondary_email: Email = None
    first_name: _text_field("first_name") = None
    last_name: _text_field("last_name") = None
    company: _text_field("company") = None
    phone: _text_field("phone") = None
    owner_email: Email = None
    external_id: _text_field("external_id") = None
    deleted: StrictBool = False


class DealRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _text_field("name") = None
    contact_email: Email = None
    contact_external_id: _text_field("contact_external_id") = None
    stage: _text_field("stage") = None
    closing_date: IsoDate = None
    amount: Amount = None
    owner_email: Email = None
    external_id: _text_field("external_id") = None
    deleted: StrictBool = False


class LeadRecord(ContactRecord):
    lead_status: _text_field("lead_status") = None
    converted_contact_external_id: _text_field("converted_contact_external_id") = None


_MODELS = {RecordKind.CONTACTS: ContactRecord, RecordKind.DEALS: DealRecord, RecordKind.LEADS: LeadRecord}
_FIELDS = {RecordKind.CONTACTS: CONTACT_FIELDS, RecordKind.DEALS: DEAL_FIELDS, RecordKind.LEADS: LEAD_FIELDS}


def normalise_amount(amount: Any) -> Decimal | None:
    """An amount read back from the database, at the column's scale (SQLite hands NUMERIC back through a float)."""
    return None if amount is None else Decimal(amount).quantize(_CENT, rounding=ROUND_HALF_UP)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_record(kind: RecordKind, raw: Any, pos: int) -> tuple[dict[str, Any], bool, list[RecordProblem]]:
    """The record's checked fields (only the good ones when some are bad), whether it is a delete, its problems."""
    if not isinstance(raw, Mapping):
        return {}, False, [RecordProblem(pos, None, f"expected an object with the {kind.value[:-1]}'s fields")]
    data = {str(key): value for key, value in raw.items()}
    checked, problems = _validate(kind, data, pos)
    values = {name: getattr(checked, name) for name in checked.model_fields_set if name != "deleted"}
    erred = {problem.field for problem in problems}

    def missing(name: str) -> bool:
        return name not in erred and _blank(data.get(name))

    required = _deal_required if kind is RecordKind.DEALS else _contact_required
    problems.extend(RecordProblem(pos, name, reason) for name, reason in required(checked.deleted, missing, data))
    if len(problems) > 1:
        order = {name: number for number, name in enumerate(_FIELDS[kind])}
        problems.sort(key=lambda problem: order.get(problem.field, len(order)))
    return values, checked.deleted, problems


def _validate(kind: RecordKind, data: dict[str, Any], pos: int) -> tuple[BaseModel, list[RecordProblem]]:
    """The record through its model; with bad fields, the model of the good ones and a problem per bad one."""
    model = _MODELS[kind]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems: list[RecordProblem] = []
        bad: set[str] = set()
        for error in exc.errors(include_url=False):
            name = str(error["loc"][0]) if error["loc"] else None
            if error["type"] == "extra_forbidden":
                reason = f"unknown field: a {kind.value[:-1]} has {', '.join(_FIELDS[kind])} and deleted"
            elif name == "deleted":
                reason = "expected true or false"
            else:
                reason = error["msg"]
            problems.append(RecordProblem(pos, name, reason))
            if name is not None:
                bad.add(name)
        # The good fields still count for the checks across records (a duplicate key, say).
        return model.model_validate({key: value for key, value in data.items() if key not in bad}), problems


def _contact_required(deleted: bool, missing: Callable[[str], bool], data: dict[str, Any]) -> list[tuple[str, str]]:
    if deleted:
        if missing("email") and missing("external_id"):
            return [("external_id", "missing external_id or email: a deleted contact is named by one of them")]
        return []
    return [("email", "missing email")] if missing("email") else []


def _deal_required(deleted: bool, missing: Callable[[str], bool], data: dict[str, Any]) -> list[tuple[str, str]]:
    no_contact = missing("contact_email") and missing("contact_external_id")
    if deleted:
        if missing("external_id") and (missing("name") or no_contact):
            return [("external_id", "missing external_id, or name with contact_email or contact_external_id: "
                                    "a deleted deal is named by one of them")]
        return []
    found = [(name, f"missing {name}") for name in ("name", "stage") if missing(name)]
    if no_contact:
        column = "contact_external_id" if "contact_external_id" in data and "contact_email" not in data \
            else "contact_email"
        found.append((column, "missing contact_email or contact_external_id"))
    return found

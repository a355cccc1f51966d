"""The CRM ingest API's request handling, independent of the web framework and of HTTP.

`PUT /crm/v1/contacts` and `PUT /crm/v1/deals` take a JSON array of records (see
`crm_store.records`), `PUT /crm/v1/users` users' roles and managers (`crm_store.user_records`),
authenticated by `Authorization: Bearer <key>` (keys from
`crm_store.api_keys`). The route reads at most `MAX_REQUEST_BYTES` of body, calls
`ingest_request`, and turns what it returns or raises into the answer (`bot/routes/crm.py`):

- `IngestRefused(Refusal.UNKNOWN_KIND)` — a path that is none of `INGEST_KINDS`;
- `IngestRefused(Refusal.UNAUTHORIZED)` — no key, an unknown or a revoked key (the same for all three);
- `IngestRefused(Refusal.TOO_LARGE)` — a body larger than `MAX_REQUEST_BYTES`;
- `IngestRefused(Refusal.NOT_JSON)` — a body that is not UTF-8 JSON (`detail` says why);
- an `IngestResult`: `rejected` (records refused, nothing written; problems with an index of null are
  the request as a whole, e.g. not an array, too many records), or the counts.

The key is checked before the body is parsed, so an anonymous caller learns nothing about the
records. The change is recorded with source `api` and the key's name.
"""
from __future__ import annotations

import json
from enum import StrEnum

from sqlalchemy.engine import Engine

from crm_store.api_keys import verify_key
from crm_store.records import ingest_records
from crm_store.records.results import MAX_RECORDS_PER_REQUEST, MAX_REQUEST_BYTES, IngestResult, RecordKind
from crm_store.sources import ChangeSource
from crm_store.user_records import KIND as USERS
from crm_store.user_records import ingest_user_records

__all__ = ["INGEST_KINDS", "IngestRefused", "Refusal", "ingest_request"]

# What `PUT /crm/v1/{kind}` takes: every record kind, and the CRM users. The one list: the route accepts these
# and the metrics count each under its own name.
INGEST_KINDS = frozenset({kind.value for kind in RecordKind} | {USERS.value})


class Refusal(StrEnum):
    """Why a request was refused before its records were looked at."""
    UNKNOWN_KIND = "unknown_kind"
    UNAUTHORIZED = "unauthorized"
    TOO_LARGE = "too_large"
    NOT_JSON = "invalid_json"


class IngestRefused(Exception):
    def __init__(self, refusal: Refusal, detail: str = ""):
        self.refusal, self.detail = refusal, detail
        super().__init__(f"{refusal.value}: {detail}" if detail else refusal.value)


def bearer_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def ingest_request(engine: Engine, kind: str, *, authorization: str | None, body: bytes) -> IngestResult:
    """Everything `PUT /crm/v1/{kind}` does, given the Authorization header and the raw body; raises
    `IngestRefused` for a request refused before its records are looked at."""
    if kind not in INGEST_KINDS:
        raise IngestRefused(Refusal.UNKNOWN_KIND)
    key_name = verify_key(engine, bearer_key(authorization))
    if key_name is None:
        raise IngestRefused(Refusal.UNAUTHORIZED)
    if len(body) > MAX_REQUEST_BYTES:
        raise IngestRefused(Refusal.TOO_LARGE)
    try:
        records = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise IngestRefused(Refusal.NOT_JSON, str(error)) from None
    if kind == USERS:  # roles and managers (SPEC §1 Roles)
        return ingest_user_records(engine, records, source=ChangeSource.API, detail=f"key {key_name}",
                                   max_records=MAX_RECORDS_PER_REQUEST)
    return ingest_records(engine, kind, records, source=ChangeSource.API, detail=f"key {key_name}")

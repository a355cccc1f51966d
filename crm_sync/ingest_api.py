"""The CRM ingest API's request handling, independent of the web framework.

`PUT /crm/v1/contacts` and `PUT /crm/v1/deals` take a JSON array of records (see
`crm_store.records`), `PUT /crm/v1/users` users' roles and managers (`crm_store.user_records`),
authenticated by `Authorization: Bearer <key>` (keys from
`crm_store.api_keys`). The route reads at most `MAX_REQUEST_BYTES` of body, calls
`handle_ingest_request`, and answers its status, headers and JSON body as they are:

- 401 `{"error": "unauthorized", …}` with `WWW-Authenticate: Bearer` — no key, an unknown or a
  revoked key (the same answer for all three);
- 413 — a body larger than `MAX_REQUEST_BYTES`;
- 400 — a body that is not UTF-8 JSON;
- 422 — records refused: `{"kind", …counts, "problems": [{"index", "field", "reason"}]}`, nothing
  written (an index of null: the request as a whole, e.g. not an array, too many records);
- 200 — `{"kind", "created", "updated", "unchanged", "deleted", "skipped"}` (and
  `deleted_deals` when contacts were deleted with their deals).

The key is checked before the body is parsed, so an anonymous caller learns nothing about the
records. The change is recorded with source `api` and the key's name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from crm_store.api_keys import verify_key
from crm_store.records import MAX_RECORDS_PER_REQUEST, MAX_REQUEST_BYTES, RecordKind, ingest_records
from crm_store.sources import ChangeSource
from crm_store.user_records import KIND as USERS
from crm_store.user_records import ingest_user_records

__all__ = ["MAX_RECORDS_PER_REQUEST", "MAX_REQUEST_BYTES", "IngestResponse", "handle_ingest_request"]

KINDS = {kind.value for kind in RecordKind} | {USERS}


@dataclass(frozen=True)
class IngestResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def bearer_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def handle_ingest_request(engine: Engine, kind: str, *, authorization: str | None, body: bytes) -> IngestResponse:
    """Everything `PUT /crm/v1/{kind}` does, given the Authorization header and the raw body."""
    if kind not in KINDS:
        return IngestResponse(404, {"error": "not_found",
                                    "message": "PUT /crm/v1/contacts, /crm/v1/deals or /crm/v1/users"})
    key_name = verify_key(engine, bearer_key(authorization))
    if key_name is None:
        return IngestResponse(401, {"error": "unauthorized",
                                    "message": "send Authorization: Bearer <key> with a key from "
                                               "`mailmagnet crm keys create NAME`"},
                              {"WWW-Authenticate": 'Bearer realm="mailmagnet-crm"'})
    if len(body) > MAX_REQUEST_BYTES:
        return IngestResponse(413, {"error": "too_large",
                                    "message": f"at most {MAX_REQUEST_BYTES} bytes and {MAX_RECORDS_PER_REQUEST} "
                                               "records per request"})
    try:
        records = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return IngestResponse(400, {"error": "invalid_json", "message": f"the body is not JSON: {error}"[:300]})
    if kind == USERS:  # roles and managers (SPEC §1 Roles)
        result = ingest_user_records(engine, records, source=ChangeSource.API.value, detail=f"key {key_name}",
                                     max_records=MAX_RECORDS_PER_REQUEST)
    else:
        result = ingest_records(engine, kind, records, source=ChangeSource.API.value, detail=f"key {key_name}")
    return IngestResponse(422 if result.rejected else 200, result.as_json())

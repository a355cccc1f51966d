"""PUT /crm/v1/<kind>: the CRM ingest API; the HTTP statuses are decided here (SPEC §6)."""
from __future__ import annotations

from flask import Response, jsonify, request

from bot.routes import served
from crm_store.records.results import MAX_RECORDS_PER_REQUEST, MAX_REQUEST_BYTES
from crm_sync.ingest_api import IngestRefused, Refusal
from usecases import crm as crm_use_cases


def ingest_refusal(refused: IngestRefused) -> Response:
    """The CRM ingest API's answer to a request refused before its records were looked at (SPEC §6)."""
    status, message, headers = {
        Refusal.UNKNOWN_KIND: (404, "PUT /crm/v1/contacts, /crm/v1/deals, /crm/v1/leads or /crm/v1/users", {}),
        Refusal.UNAUTHORIZED: (401, "send Authorization: Bearer <key> with a key from "
                                    "`mailmagnet crm keys create NAME`",
                               {"WWW-Authenticate": 'Bearer realm="mailmagnet-crm"'}),
        Refusal.TOO_LARGE: (413, f"at most {MAX_REQUEST_BYTES} bytes and {MAX_RECORDS_PER_REQUEST} records "
                                 "per request", {}),
        Refusal.NOT_JSON: (400, f"the body is not JSON: {refused.detail}"[:300], {}),
    }[refused.refusal]
    response = jsonify(error=refused.refusal.value, message=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def crm_ingest(kind: str):
    # A declared length over the limit is refused unread; otherwise one byte past the limit is enough to tell.
    too_large = (request.content_length or 0) > MAX_REQUEST_BYTES
    body = b"x" * (MAX_REQUEST_BYTES + 1) if too_large else request.get_data(cache=False)[:MAX_REQUEST_BYTES + 1]
    try:
        result = crm_use_cases.ingest(served().services, kind, authorization=request.headers.get("Authorization"),
                                      body=body)
    except IngestRefused as refused:
        return ingest_refusal(refused)
    return jsonify(result.as_json()), 422 if result.rejected else 200

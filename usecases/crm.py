"""CRM data that stays current (SPEC §3, §6): the ingest API, the Zoho CRM sync, API keys, and where
CRM data last came from. Changes arriving any way record category changes, so labels are re-filed as
after a CSV import."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from sqlmodel import Session

from crm_store import api_keys
from crm_store.errors import DomainError, InvalidInput
from crm_store.sources import ChangedKind, ChangeSource, CrmChange, crm_data_status, read_crm_data_status
from crm_store.records.results import IngestResult
from crm_sync.ingest_api import INGEST_KINDS, IngestRefused, ingest_request
from crm_sync.zoho_results import ZohoSyncResult
from crm_sync.zoho_sync import run_zoho_sync
from telemetry import metrics
from usecases.context import Services
from usecases.refusals import Refusal

log = logging.getLogger(__name__)

# "skipped_organisation": of the skipped, records whose address is the organisation's own (never a contact).
COUNTED = ("created", "updated", "unchanged", "deleted", "skipped", "skipped_organisation")


class CrmSyncNotConfigured(DomainError):
    pass


def ingest(services: Services, kind: str, *, authorization: str | None, body: bytes) -> IngestResult:
    """`PUT /crm/v1/{kind}`: the bearer key decides who may write; the whole request or nothing. Raises
    `IngestRefused` for a request refused before its records are looked at."""
    try:
        result = ingest_request(services.engine, kind, authorization=authorization, body=body)
    except IngestRefused as refused:
        # A refused request counts under its kind, any path that is no kind under "other" (a label per URL
        # would let callers grow the metric without bound).
        metrics.CRM_RECORDS.labels(source=ChangeSource.API, kind=kind if kind in INGEST_KINDS else "other",
                                   result=refused.refusal.value).inc()
        raise
    if result.rejected:
        metrics.CRM_RECORDS.labels(source=ChangeSource.API, kind=kind, result="rejected").inc()
    else:
        for outcome in COUNTED:
            count = getattr(result, outcome)
            if count:
                metrics.CRM_RECORDS.labels(source=ChangeSource.API, kind=kind, result=outcome).inc(count)
    return result


def sync_zoho(services: Services, *, full: bool = False, owner: str | None = None,
              on_page: Callable[[str, str, int], None] | None = None) -> ZohoSyncResult:
    """One Zoho CRM sync run (the scheduler every CRM_SYNC_INTERVAL_SECONDS, or the operator now), under
    the database lease that keeps it to one replica at a time. `on_page` runs after each committed page;
    an exception it raises stops the run there (a replica shutting down)."""
    if services.zoho is None:
        raise CrmSyncNotConfigured(Refusal.ZOHO_NOT_CONFIGURED)
    result = run_zoho_sync(services.engine, services.zoho, full=full, owner=owner, on_page=on_page)
    metrics.CRM_SYNC_RUNS.labels(source=ChangeSource.ZOHO, result=result.status.value).inc()
    for name, module in result.modules.items():
        for outcome in COUNTED:
            count = getattr(module, outcome, 0)
            if count:
                metrics.CRM_RECORDS.labels(source=ChangeSource.ZOHO, kind=ChangedKind(name.lower()),
                                           result=outcome).inc(count)
    log.info("Zoho CRM sync: %s", result.summary())
    return result


def create_api_key(services: Services, name: str) -> str:
    """The operator creates an ingest key; its plaintext is shown once and stored only as a hash."""
    return api_keys.create_key(services.engine, name)


def revoke_api_key(services: Services, name: str) -> None:
    if not api_keys.revoke_key(services.engine, name):
        raise InvalidInput(f"no active API key named {name!r}")


@dataclass(frozen=True)
class CrmDataState:
    """When CRM data last changed and through which source, and the last Zoho CRM sync's failure (when it failed)."""

    last_change: CrmChange | None
    zoho_error: str | None = None


def crm_data_state(services: Services, session: Session | None = None) -> CrmDataState:
    """For status surfaces; read in `session` when the caller has one open."""
    state = crm_data_status(services.engine) if session is None else read_crm_data_status(session)
    return CrmDataState(state.last_change, state.sync_error("zoho") if services.zoho is not None else None)

"""The service's own bookkeeping tables (neither CRM data nor mail): Slack request keys, job leases, ingest API keys,
where CRM data last came from, and the Zoho sync's cursors. Imported from `crm_store.models` like every table."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlmodel import Field, SQLModel

from crm_store.values import ChangedKind, ChangeSource, EnumText, utcnow


class ProcessedSlackRequest(SQLModel, table=True):
    """Idempotency keys for Slack requests with side effects (retries, double clicks)."""

    __tablename__ = "processed_slack_requests"

    key: str = Field(primary_key=True, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class JobLease(SQLModel, table=True):
    """A named job that one replica at a time may run (the Zoho CRM sync), until `expires_at`."""

    __tablename__ = "job_leases"

    name: str = Field(primary_key=True, max_length=64)
    owner: str = Field(max_length=64)
    expires_at: datetime


class ApiKey(SQLModel, table=True):
    """A key for the CRM ingest API. Only its SHA-256 is stored (see `crm_store.api_keys`)."""

    __tablename__ = "api_keys"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    key_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})  # hex SHA-256
    key_prefix: str = Field(max_length=16)  # the first characters, to recognise a key in listings
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: Optional[datetime] = Field(default=None)
    revoked_at: Optional[datetime] = Field(default=None)


class CrmDataChange(SQLModel, table=True):
    """When CRM data last changed through one source (csv, api, zoho) and kind, with that change's counts."""

    __tablename__ = "crm_data_changes"

    source: ChangeSource = Field(primary_key=True, sa_type=EnumText(ChangeSource, 16))
    kind: ChangedKind = Field(primary_key=True, sa_type=EnumText(ChangedKind, 16))
    changed_at: datetime = Field(index=True)
    created: int = Field(default=0)
    updated: int = Field(default=0)
    deleted: int = Field(default=0)
    detail: Optional[str] = Field(default=None, max_length=200)  # file name, API key name, …


class CrmSyncCursor(SQLModel, table=True):
    """Where an incremental CRM sync stream resumes (e.g. `zoho:Contacts`, `zoho:Contacts:deleted`).

    Advanced in the transaction that commits each page, so a crash re-reads at most the page
    that was not committed (see `crm_sync.zoho_sync`).
    """

    __tablename__ = "crm_sync_cursors"

    name: str = Field(primary_key=True, max_length=64)
    # Records modified after this instant are still to read (sent as If-Modified-Since).
    since: Optional[datetime] = Field(default=None)
    # JSON {record id: Modified_Time} of records already applied that a read from `since` returns again.
    skip: Optional[str] = Field(default=None)
    # A listing interrupted mid-way resumes from its page token while the token is valid.
    page_token: Optional[str] = Field(default=None, max_length=500)
    page_token_since: Optional[datetime] = Field(default=None)
    page_token_expires_at: Optional[datetime] = Field(default=None)
    last_success_at: Optional[datetime] = Field(default=None)
    last_error: Optional[str] = Field(default=None, max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)

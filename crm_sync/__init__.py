"""Keeping the CRM store current from outside: the Zoho CRM sync (REST API v7).

Entry points for the assembly: `ZohoConfig.from_env(os.environ)` (None when not configured) and
`run_zoho_sync(engine, config, *, full=False)` every `config.interval_seconds`, and for the CLI
`crm sync zoho [--full]`.
"""

from crm_sync.config import ZohoConfig
from crm_sync.errors import (
    LeaseLost,
    ZohoAuthError,
    ZohoBadAnswer,
    ZohoError,
    ZohoPageTokenInvalid,
    ZohoRateLimited,
    ZohoRequestError,
    ZohoTemporaryError,
)
from crm_sync.zoho_client import ZohoClient
from crm_sync.zoho_results import ModuleResult, SyncProblem, ZohoSyncResult
from crm_sync.zoho_sync import LEASE_NAME, run_zoho_sync

__all__ = [
    "LEASE_NAME",
    "LeaseLost",
    "ModuleResult",
    "SyncProblem",
    "ZohoAuthError",
    "ZohoBadAnswer",
    "ZohoClient",
    "ZohoConfig",
    "ZohoError",
    "ZohoPageTokenInvalid",
    "ZohoRateLimited",
    "ZohoRequestError",
    "ZohoSyncResult",
    "ZohoTemporaryError",
    "run_zoho_sync",
]

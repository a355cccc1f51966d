"""Settings of the Zoho CRM sync, built by the assembly from `ZOHO_*` and `CRM_SYNC_INTERVAL_SECONDS`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

DEFAULT_ACCOUNTS_URL = "https://accounts.zoho.com"
DEFAULT_INTERVAL_SECONDS = 300


@dataclass(frozen=True)
class ZohoConfig:
    client_id: str
    client_secret: str
    refresh_token: str
    # Zoho's data centres differ (accounts.zoho.eu, …). The API root: None uses the `api_domain`
    # the token endpoint names, as Zoho asks clients to.
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    api_url: str | None = None
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    per_page: int = 200  # Zoho's maximum
    timeout_seconds: float = 30.0
    max_attempts: int = 5  # per call, for 429, 5xx and network failures
    backoff_base_seconds: float = 1.0
    max_wait_seconds: float = 60.0  # a longer Retry-After ends the run; the next one resumes
    lease_seconds: int = 600  # renewed after every page
    # A hostile or broken Zoho must not hold a run or the memory: pages read per listing in one run (a longer
    # listing continues in the next run), and the bytes of one answer.
    max_pages_per_run: int = 2500
    max_answer_bytes: int = 4 * 1024 * 1024
    # Roles and managers from the Users API (needs the ZohoCRM.users.READ scope in the grant). The assembly turns it
    # on from ZOHO_SYNC_USERS (on by default); a config built by hand reads records only.
    sync_users: bool = False

    def __post_init__(self) -> None:
        if not (self.client_id and self.client_secret and self.refresh_token):
            raise ValueError("the Zoho CRM sync needs ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN")
        if not 1 <= self.per_page <= 200:
            raise ValueError("per_page is between 1 and 200")

    @property
    def token_url(self) -> str:
        return self.accounts_url.rstrip("/") + "/oauth/v2/token"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "ZohoConfig | None":
        """From the settings' names (`ZOHO_CLIENT_ID`, …); None when the sync is not configured."""
        client_id = environ.get("ZOHO_CLIENT_ID", "").strip()
        if not client_id:
            return None
        interval = environ.get("CRM_SYNC_INTERVAL_SECONDS", "").strip()
        return cls(
            client_id=client_id,
            client_secret=environ.get("ZOHO_CLIENT_SECRET", "").strip(),
            refresh_token=environ.get("ZOHO_REFRESH_TOKEN", "").strip(),
            accounts_url=environ.get("ZOHO_ACCOUNTS_URL", "").strip() or DEFAULT_ACCOUNTS_URL,
            api_url=environ.get("ZOHO_API_URL", "").strip() or None,
            interval_seconds=int(interval) if interval else DEFAULT_INTERVAL_SECONDS,
            sync_users=environ.get("ZOHO_SYNC_USERS", "true").strip().lower() not in ("0", "false", "no", "off"),
        )

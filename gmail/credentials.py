"""OAuth credentials as stored (encrypted, `gmail.accounts`) and as google-auth wants them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from google.oauth2.credentials import Credentials

from gmail.config import GoogleConfig

__all__ = ["credentials_from_dict", "credentials_to_dict"]


def credentials_from_dict(data: dict[str, Any], config: GoogleConfig) -> Credentials:
    expiry = datetime.fromisoformat(data["expiry"]).replace(tzinfo=None) if data.get("expiry") else None
    return Credentials(
        token=data.get("token"),
        refresh_token=data.get("refresh_token"),
        token_uri=config.token_uri,
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=data.get("scopes") or list(config.scopes),
        expiry=expiry,  # google-auth compares naive UTC datetimes
    )


def credentials_to_dict(credentials: Credentials) -> dict[str, Any]:
    return {
        "token": credentials.token,
        "refresh_token": credentials.refresh_token,
        "expiry": credentials.expiry.isoformat() if credentials.expiry else None,
        # What Google granted (it may be less than what was asked for), so a refresh never asks for more.
        "scopes": _scope_list(getattr(credentials, "granted_scopes", None) or credentials.scopes),
    }


def _scope_list(scopes) -> list[str]:
    if isinstance(scopes, str):
        return scopes.split()
    return list(scopes or [])

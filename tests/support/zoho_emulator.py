"""The Zoho emulator's registered client and start time, and its token and API calls as a client makes them."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from sandbox.zoho_emulator import ZohoEmulator


CLIENT_ID = "1000.TESTCLIENT"
CLIENT_SECRET = "zoho-test-secret"
START = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def zoho():
    with ZohoEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        emulator.set_time(START)
        yield emulator


def grant(zoho, **overrides):
    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "refresh_token": overrides.pop("refresh_token", None) or zoho.issue_refresh_token(CLIENT_ID)}
    form.update(overrides)
    return requests.post(zoho.token_url, data=form, timeout=10)


@pytest.fixture
def auth(zoho):
    return {"Authorization": f"Zoho-oauthtoken {grant(zoho).json()['access_token']}"}


def get(zoho, path, auth, headers=None, **params):
    return requests.get(f"{zoho.api_url}/crm/v7/{path}", params=params, headers={**auth, **(headers or {})},
                        timeout=10)

"""The Zoho CRM sync's client configured against the Zoho emulator, with its sleeps recorded instead of slept."""
from __future__ import annotations

import pytest

from crm_sync import ZohoClient, ZohoConfig
from sandbox.zoho_emulator import ZohoEmulator
from tests.support.zoho_emulator import CLIENT_ID, CLIENT_SECRET, START, zoho  # noqa: F401 - the emulator fixture


def make_config(zoho: ZohoEmulator, **overrides) -> ZohoConfig:
    values = dict(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                  refresh_token=zoho.issue_refresh_token(CLIENT_ID), accounts_url=zoho.accounts_url,
                  api_url=zoho.api_url, timeout_seconds=5, backoff_base_seconds=0.01, max_wait_seconds=30)
    values.update(overrides)
    return ZohoConfig(**values)


@pytest.fixture
def config(zoho) -> ZohoConfig:
    return make_config(zoho)


class Sleeps(list):
    """Stands in for time.sleep: remembers what the client would have waited."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client_for(sleeps):
    clients = []

    def build(config: ZohoConfig) -> ZohoClient:
        client = ZohoClient(config, sleep=sleeps)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()

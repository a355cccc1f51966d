"""The Zoho CRM client against the emulator over HTTP: OAuth, retries, errors, empty answers."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crm_sync import (
    ZohoAuthError,
    ZohoPageTokenInvalid,
    ZohoRateLimited,
    ZohoRequestError,
    ZohoTemporaryError,
)
from sandbox.zoho_emulator import Fault
from tests.support.zoho_sync import START, make_config

FIELDS = ("Email", "Modified_Time")


def endpoints(zoho):
    return [(call.endpoint, call.status) for call in zoho.calls]


def test_the_refresh_token_grant_gives_the_token_and_the_api_domain(zoho, client_for):
    client = client_for(make_config(zoho, api_url=None))
    zoho.add_contact("a@example.com")

    page = client.list_records("Contacts", FIELDS)

    assert [record["Email"] for record in page.records] == ["a@example.com"]
    assert client.api_url == zoho.api_url  # learnt from api_domain
    assert endpoints(zoho) == [("token", 200), ("records", 200)]
    assert page.server_time == START and not page.more


def test_an_expired_access_token_is_refreshed_once_and_the_call_retried(zoho, config, client_for):
    client = client_for(config)
    client.list_records("Contacts", FIELDS)
    zoho.expire_access_tokens()
    zoho.reset_calls()

    client.list_records("Contacts", FIELDS)

    assert endpoints(zoho) == [("records", 401), ("token", 200), ("records", 204)]
    # A token refused again right after a refresh is not retried forever.
    zoho.inject(Fault(path="/crm/v7/*", count=2, status=401))
    with pytest.raises(ZohoAuthError, match="scopes"):
        client.list_records("Contacts", FIELDS)


def test_a_refused_refresh_token_is_an_auth_error_naming_the_setting(zoho, config, client_for):
    zoho.revoke_refresh_token(config.refresh_token)
    with pytest.raises(ZohoAuthError, match="ZOHO_REFRESH_TOKEN"):
        client_for(config).list_records("Contacts", FIELDS)
    with pytest.raises(ZohoAuthError, match="invalid_client"):
        client_for(make_config(zoho, client_secret="wrong")).list_records("Contacts", FIELDS)


def test_429_waits_what_zoho_says(zoho, config, client_for, sleeps):
    client = client_for(config)
    zoho.inject(Fault(path="/crm/v7/Contacts", count=2, status=429, retry_after=3))
    client.list_records("Contacts", FIELDS)
    assert sleeps == [3.0, 3.0]
    assert [status for _, status in endpoints(zoho)] == [200, 429, 429, 204]

    # Longer than the client waits within a run: the run ends, the next one resumes.
    zoho.inject(Fault(path="/crm/v7/Contacts", count=1, status=429, retry_after=3600))
    with pytest.raises(ZohoRateLimited) as limited:
        client.list_records("Contacts", FIELDS)
    assert limited.value.retry_after == 3600 and sleeps == [3.0, 3.0]


def test_server_errors_and_dropped_connections_are_retried_then_reported(zoho, config, client_for, sleeps):
    client = client_for(config)
    zoho.inject(Fault(path="/crm/v7/Contacts", count=1, status=500))
    zoho.inject(Fault(path="/crm/v7/Contacts", count=1, status="drop"))
    assert client.list_records("Contacts", FIELDS).records == []
    assert len(sleeps) == 2 and all(0 <= seconds <= 1 for seconds in sleeps)

    zoho.inject(Fault(path="/crm/v7/Deals", count=10, status=503))
    with pytest.raises(ZohoTemporaryError, match="after 5 attempts"):
        client.list_records("Deals", ("Deal_Name",))


def test_refusals_and_empty_answers(zoho, config, client_for):
    client = client_for(config)
    assert client.list_records("Contacts", FIELDS, since=START).records == []  # 304
    assert client.list_deleted("Contacts").records == []  # 204
    with pytest.raises(ZohoRequestError) as refused:
        client.list_records("Widgets", FIELDS)
    assert (refused.value.status, refused.value.code) == (400, "INVALID_MODULE")
    for _ in range(3):
        zoho.add_contact(None, last_name="x")
        zoho.advance(1)
    page = client.list_records("Contacts", FIELDS, per_page=2)
    assert page.more and page.page_token_expiry == START + timedelta(days=1, seconds=3)
    zoho.advance(86401)
    with pytest.raises(ZohoPageTokenInvalid):
        client.list_records("Contacts", FIELDS, page_token=page.next_page_token)


def test_the_config_comes_from_the_settings_names():
    from crm_sync import ZohoConfig

    assert ZohoConfig.from_env({}) is None
    config = ZohoConfig.from_env({"ZOHO_CLIENT_ID": "1000.X", "ZOHO_CLIENT_SECRET": "s", "ZOHO_REFRESH_TOKEN": "r",
                                  "ZOHO_ACCOUNTS_URL": "https://accounts.zoho.eu", "CRM_SYNC_INTERVAL_SECONDS": "120"})
    assert (config.token_url, config.api_url, config.interval_seconds) == (
        "https://accounts.zoho.eu/oauth/v2/token", None, 120)
    assert ZohoConfig.from_env({"ZOHO_CLIENT_ID": "1000.X", "ZOHO_CLIENT_SECRET": "s", "ZOHO_REFRESH_TOKEN": "r"}
                               ).interval_seconds == 300
    with pytest.raises(ValueError, match="ZOHO_REFRESH_TOKEN"):
        ZohoConfig.from_env({"ZOHO_CLIENT_ID": "1000.X", "ZOHO_CLIENT_SECRET": "s"})

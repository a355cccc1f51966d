"""crm.*: CRM data in without CSV files (SPEC §6): records per second through the ingest API and through the
Zoho CRM sync, for 50k contacts and 150k deals, and how long a deal changed in Zoho takes to move its
contact's mail to another label.

- API: `PUT /crm/v1/contacts|deals` through the real server, 1,000 records per request (the limit).
- Zoho: a full sync from the Zoho CRM emulator (200 records per page, Zoho's maximum), then an
  incremental sync with nothing new (the cost of a quiet poll: calls and seconds).
- Re-filing: a deal won in the Zoho emulator; the scheduler's Zoho sync and label runs move the mail
  from Open Deals to Customers. Measured with the intervals scaled down, and stated for the default
  intervals: the wait for the next CRM sync and the next label run, plus the work measured here.
"""
from __future__ import annotations

import http.client
import json
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.common import emit
from crm_sync import ZohoConfig, run_zoho_sync
from crm_store.db import create_db_engine, upgrade_database
from sandbox.stack import start_stack
from sandbox.zoho_emulator import ZohoEmulator
from usecases.crm import create_api_key

CONTACTS = 50_000
DEALS_PER_CONTACT = 3
PER_REQUEST = 1_000
STAGES = ("Qualification", "Negotiation", "Closed Won", "Closed Lost")


def contact(i: int) -> dict:
    return {"email": f"c{i}@customer{i % 997}.example", "first_name": f"First{i}", "last_name": f"Last{i}",
            "company": f"Company {i % 5000}", "external_id": f"C{i}", "owner_email": f"rep{i % 50}@crm.example"}


def deal(i: int, j: int) -> dict:
    return {"name": f"Deal {i}-{j}", "contact_external_id": f"C{i}", "stage": STAGES[(i + j) % len(STAGES)],
            "closing_date": f"2027-{1 + (i + j) % 12:02d}-15", "amount": str(1000 + i % 500),
            "external_id": f"D{i}-{j}", "owner_email": f"rep{i % 50}@crm.example"}


def api_throughput(database_url: str) -> dict:
    stack = start_stack(database_url)
    try:
        key = create_api_key(stack.services, "bench")
        parts = urlsplit(stack.server.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)

        def put(kind: str, records: list[dict]) -> None:
            connection.request("PUT", f"/crm/v1/{kind}", body=json.dumps(records).encode(),
                               headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{kind}: {response.status} {body[:300]!r}")

        started = time.perf_counter()
        for start in range(0, CONTACTS, PER_REQUEST):
            put("contacts", [contact(i) for i in range(start, min(CONTACTS, start + PER_REQUEST))])
        contacts_seconds = time.perf_counter() - started
        deals = [deal(i, j) for i in range(CONTACTS) for j in range(DEALS_PER_CONTACT)]
        started = time.perf_counter()
        for start in range(0, len(deals), PER_REQUEST):
            put("deals", deals[start:start + PER_REQUEST])
        deals_seconds = time.perf_counter() - started
        # The same body again: validated, compared, nothing written.
        started = time.perf_counter()
        put("deals", deals[:PER_REQUEST])
        unchanged_seconds = time.perf_counter() - started
        connection.close()
    finally:
        stack.stop()
    total = CONTACTS + len(deals)
    return {"api_contacts_per_second": round(CONTACTS / contacts_seconds),
            "api_deals_per_second": round(len(deals) / deals_seconds),
            "api_records_per_second": round(total / (contacts_seconds + deals_seconds)),
            "api_seconds": round(contacts_seconds + deals_seconds, 1),
            "api_unchanged_request_ms": round(unchanged_seconds * 1000, 1)}


def zoho_throughput(database_url: str) -> dict:
    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    with ZohoEmulator() as zoho:
        zoho.register_client("1000.BENCH", "bench-secret")
        ids = [zoho.add_contact(c["email"], first_name=c["first_name"], last_name=c["last_name"],
                                company=c["company"], owner=c["owner_email"])
               for c in (contact(i) for i in range(CONTACTS))]
        for i, contact_id in enumerate(ids):
            for j in range(DEALS_PER_CONTACT):
                d = deal(i, j)
                zoho.add_deal(d["name"], stage=d["stage"], contact_id=contact_id, closing_date=d["closing_date"],
                              amount=int(d["amount"]), owner=d["owner_email"])
        config = ZohoConfig(client_id="1000.BENCH", client_secret="bench-secret",
                            refresh_token=zoho.issue_refresh_token("1000.BENCH"), accounts_url=zoho.accounts_url,
                            api_url=zoho.api_url)
        started = time.perf_counter()
        full = run_zoho_sync(engine, config)
        full_seconds = time.perf_counter() - started
        calls_before = len(zoho.calls)
        zoho.advance(5)
        started = time.perf_counter()
        quiet = run_zoho_sync(engine, config)
        quiet_seconds = time.perf_counter() - started
        quiet_calls = len(zoho.calls) - calls_before
    engine.dispose()
    if not (full.ok and quiet.ok):
        raise RuntimeError(f"zoho sync failed: {full.summary()} / {quiet.summary()}")
    records = sum(m.created for m in full.modules.values())
    return {"zoho_records_per_second": round(records / full_seconds), "zoho_full_sync_seconds": round(full_seconds, 1),
            "zoho_records": records, "zoho_pages": full.pages, "zoho_quiet_sync_ms": round(quiet_seconds * 1000, 1),
            "zoho_quiet_sync_calls": quiet_calls}


def main() -> None:
    figures = {"contacts": CONTACTS, "deals": CONTACTS * DEALS_PER_CONTACT, "records_per_request": PER_REQUEST}
    with tempfile.TemporaryDirectory(prefix="mm-bench-crm-") as tmp:
        figures.update(api_throughput(f"sqlite:///{Path(tmp) / 'api.db'}"))
        figures.update(zoho_throughput(f"sqlite:///{Path(tmp) / 'zoho.db'}"))
    emit("crm", figures)


if __name__ == "__main__":
    main()

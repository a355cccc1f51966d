"""The Zoho CRM sync as `serve` runs it: on the scheduler, one replica at a time, and a deal won in Zoho
moving the contact's mail from Open Deals to Customers with no one running anything by hand."""
from __future__ import annotations

import dataclasses

import pytest

from bot.services import build_services
from sandbox.zoho_emulator import ZohoEmulator
from testsupport.stack import REP_GMAIL, start_stack
from usecases.crm import sync_zoho

CLIENT_ID, CLIENT_SECRET = "1000.SCHEDULER", "scheduler-secret"


@pytest.fixture
def zoho():
    with ZohoEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        yield emulator


def zoho_settings(zoho) -> dict:
    return dict(zoho_client_id=CLIENT_ID, zoho_client_secret=CLIENT_SECRET,
                zoho_refresh_token=zoho.issue_refresh_token(CLIENT_ID), zoho_accounts_url=zoho.accounts_url,
                zoho_api_url=zoho.api_url)


def labels_after_a_deal_is_won_in_zoho(database_url, zoho, *, label_interval_seconds: int) -> list[str]:
    """Ana's mail filed under Open Deals by the running scheduler, then her deal won in Zoho: the labels her mail
    ends up with once it is under Customers (waited for up to 30 s)."""
    ana = zoho.add_contact("ana@acme.example", first_name="Ana", company="Acme")
    deal = zoho.add_deal("Acme renewal", stage="Negotiation", contact_id=ana, closing_date="2099-01-28")
    stack = start_stack(database_url, scheduler=True, start_scheduler=False, crm_sync_interval_seconds=1,
                        sync_interval_seconds=1, label_interval_seconds=label_interval_seconds, **zoho_settings(zoho))
    try:
        stack.add_rep()
        stack.connect_with_magnet(labels=True)
        gmail_id = stack.mail("Ana <ana@acme.example>", "Renewal terms")
        stack.services.jobs.start()
        stack.slack.wait_for(lambda: "Open Deals" in stack.gmail.label_names(REP_GMAIL, gmail_id), timeout=30)
        zoho.edit_record("Deals", deal, Stage="Closed Won")
        stack.slack.wait_for(lambda: "Customers" in stack.gmail.label_names(REP_GMAIL, gmail_id), timeout=30)
        return stack.gmail.label_names(REP_GMAIL, gmail_id)
    finally:
        stack.stop()


def test_a_deal_won_in_zoho_moves_the_mail_to_customers(database_url, zoho):
    labels = labels_after_a_deal_is_won_in_zoho(database_url, zoho, label_interval_seconds=2)
    assert "Open Deals" not in labels and "INBOX" not in labels


def test_a_deal_won_in_zoho_refiles_the_mail_long_before_the_next_scheduled_label_run(database_url, zoho):
    """With label runs an hour apart, the change itself brings the mailbox's run forward (bot/jobs.py,
    `refile_changed`): the mail moves within seconds of the CRM sync that read the change."""
    labels = labels_after_a_deal_is_won_in_zoho(database_url, zoho, label_interval_seconds=3600)
    assert "Open Deals" not in labels


def test_two_replicas_never_sync_zoho_at_the_same_time(database_url, zoho):
    """Replica B asks to sync while replica A is between two pages of its run: B is told it is skipped."""
    for i in range(60):
        zoho.add_contact(f"c{i}@acme.example", first_name=f"C{i}")
    stack = start_stack(database_url, **zoho_settings(zoho))
    try:
        replicas = [build_services(stack.settings) for _ in range(2)]
        for services in replicas:
            services.zoho = dataclasses.replace(services.zoho, per_page=20)
        during: list = []

        def b_asks_meanwhile(module: str, stream: str, page: int) -> None:
            if not during:
                during.append(sync_zoho(replicas[1], owner="replica-b"))

        first = sync_zoho(replicas[0], owner="replica-a", on_page=b_asks_meanwhile)
        assert first.status == "synced" and during[0].status == "skipped", during[0].summary()
        assert sum(m.created for m in first.modules.values()) == 60
        assert sync_zoho(replicas[1], owner="replica-b").status == "synced"  # free again once A is done
    finally:
        stack.stop()


def test_a_failing_look_at_the_change_log_is_logged_and_never_raises_into_the_scheduler(database_url, monkeypatch,
                                                                                        caplog):
    from crm_store import category_changes
    from crm_store.db import session_scope
    from tests.factories import make_contact

    stack = start_stack(database_url, scheduler=True, start_scheduler=False)
    try:
        jobs = stack.services.jobs
        assert jobs.refile_changed() == 0  # the first look: changes from here on
        with session_scope(stack.engine) as session:
            contact_id = make_contact(session, "changed@acme.example").id
        with stack.engine.begin() as connection:
            category_changes.record(connection, [contact_id])

        def broken(*args, **kwargs):
            raise RuntimeError("a bug in the look-up")

        monkeypatch.setattr(category_changes, "bring_refiling_forward", broken)
        assert jobs.refile_changed() == 0
        assert "could not bring label runs forward" in caplog.text
    finally:
        stack.stop()

"""A mailbox with labels on over a small CRM (one contact per category), on the Gmail emulator, and what Gmail shows."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from crm_store.categories import LabelNames, StageRules
from crm_store.csv_import import import_contacts, import_deals
from crm_store.db import session_scope
from crm_store.mailboxes import set_labels
from crm_store.models import GmailAccount
from gmail.accounts import load_credentials
from gmail.labels import LabelFiler


USER = "rep@gmail.example"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
CONTACTS = (
    "email,secondary_email,first_name,external_id\n"
    "closing@x.example,,Cleo,C1\n"
    "open@x.example,,Otto,C2\n"
    "customer@x.example,alias@y.example,Cora,C3\n"
    "lost@x.example,,Lou,C4\n"
    "nodeals@x.example,,Ned,C5\n"
)
DEALS = (
    "name,contact_external_id,stage,closing_date,external_id\n"
    "Closing,C1,Negotiation,2026-11-28,D1\n"
    "Old win,C1,Closed Won,2025-01-01,D1b\n"
    "Later,C2,Proposal,2027-03-01,D2\n"
    "Won,C3,Closed Won,2026-01-01,D3\n"
    "Lost,C4,Closed Lost,2026-11-10,D4\n"
)
NAMES = {"closing": "Deals Closing This Month", "open": "Open Deals", "customer": "Customers"}


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def labels_env(gmail_env):
    import_contacts(gmail_env.engine, io.StringIO(CONTACTS))
    import_deals(gmail_env.engine, io.StringIO(DEALS))
    clock = Clock(NOW)
    filer = LabelFiler(gmail_env.engine, StageRules(), LabelNames(), clock=clock)
    account_id = gmail_env.connect(USER)
    pipeline = gmail_env.pipeline(filer)
    pipeline.clock = clock
    pipeline.sync(account_id)  # cursor
    with session_scope(gmail_env.engine) as session:
        set_labels(session, session.get(GmailAccount, account_id), True)
    pipeline.sync(account_id)  # empty backfill

    def label_run():
        account = gmail_env.account(account_id)
        mailbox = gmail_env.service.mailbox(load_credentials(gmail_env.cipher, account, gmail_env.config))
        pipeline.sync(account_id)
        return filer.run(gmail_env.account(account_id), mailbox)

    gmail_env.label_run = label_run
    gmail_env.clock = clock
    gmail_env.account_id = account_id
    return gmail_env


def mail(env, sender, **kwargs):
    return env.emu.insert_message(USER, sender=sender, to=USER, subject="Hi", **kwargs)


def names(env, gmail_id):
    return env.emu.label_names(USER, gmail_id)

"""The first part of the demo: the CRM's categories on the sample data, sender by sender, with the reason."""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from bot.settings import Settings
from bot.wiring import category_config
from crm_store.csv_import import import_contacts, import_deals
from crm_store.db import create_db_engine, session_scope, upgrade_database
from crm_store.explain import explain_sender
from handlers.blocks.why import explanation_text
from testsupport.demo.data import demo_data_dir, shifted_deals_csv

DEMO_SENDERS = [
    '"Jane Doe" <Jane.Doe@ACME.example>',
    "jane@acme-holdings.example",
    "Bob Smith <bob.smith@globex.example>",
    "=?UTF-8?Q?Chlo=C3=A9_Martin?= <chloe.martin@initech.example>",
    "dave.jones@umbrella.example",
    "erin.lee@hooli.example",
    "grace.kim@wayne.example",
    "henry.ford@tyrell.example",
    "stranger@unknown.example",
]


def show_categories(settings: Settings) -> None:
    tz = settings.default_timezone
    now = datetime.now(timezone.utc)
    rules, labels = category_config(settings)
    with tempfile.TemporaryDirectory(prefix="mailmagnet-demo-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        upgrade_database(url)
        engine = create_db_engine(url)
        data = demo_data_dir()
        deals = Path(tmp) / "deals.csv"
        shifted_deals_csv(data / "deals.csv", deals, now.date())
        print("== MailMagnet demo: CRM categories on sample data ==")
        for kind, importer, path in (("contacts", import_contacts, data / "contacts.csv"),
                                     ("deals", import_deals, deals)):
            report = importer(engine, path)
            print(f"imported {kind}: {report.created} created")
        print(f"\nAs of {now:%Y-%m-%d} ({tz}), an email from ... is filed under:\n")
        with session_scope(engine) as session:
            for sender in DEMO_SENDERS:
                explanation = explain_sender(session, sender, at=now, tz=tz, rules=rules, labels=labels)
                print(f"  {sender}\n    -> {explanation.label or '(no label)'}\n       {explanation_text(explanation)}\n")
        engine.dispose()

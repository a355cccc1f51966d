"""`mailmagnet demo`: the product working on the sample CRM data shipped in sandbox/demo_data."""
from __future__ import annotations

import calendar
import csv
import tempfile
from datetime import date, datetime, timezone
from importlib import resources
from pathlib import Path

from bot.settings import Settings

# The sample deals were written for this month; the demo moves every closing
# date by the same number of months so the categories read the same whenever
# it runs.
SAMPLE_MONTH = date(2026, 11, 1)

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


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def shifted_deals_csv(source: Path, target: Path, today: date) -> None:
    months = (today.year - SAMPLE_MONTH.year) * 12 + today.month - SAMPLE_MONTH.month
    with source.open(newline="", encoding="utf-8") as src, target.open("w", newline="", encoding="utf-8") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            if row.get("closing_date"):
                row["closing_date"] = add_months(date.fromisoformat(row["closing_date"]), months).isoformat()
            writer.writerow(row)


def demo_data_dir() -> Path:
    return Path(str(resources.files("sandbox") / "demo_data"))


def run_demo(settings: Settings) -> int:
    from bot.wiring import category_config
    from crm_store.csv_import import import_contacts, import_deals
    from crm_store.db import create_db_engine, session_scope, upgrade_database
    from crm_store.explain import explain_sender

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
            report = importer(engine, path, progress=False)
            print(f"imported {kind}: {report.created} created")
        print(f"\nAs of {now:%Y-%m-%d} ({tz}), an email from ... is filed under:\n")
        with session_scope(engine) as session:
            for sender in DEMO_SENDERS:
                explanation = explain_sender(session, sender, at=now, tz=tz, rules=rules, labels=labels)
                print(f"  {sender}\n    -> {explanation.label or '(no label)'}\n       {explanation.reason}\n")
        engine.dispose()
    return 0

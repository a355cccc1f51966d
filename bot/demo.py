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
    show_categories(settings)
    run_bot_end_to_end(settings)
    return 0


def show_categories(settings: Settings) -> None:
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


def _readable(post: dict) -> str:
    """What a person reads in Slack: the blocks' texts, else the fallback text."""
    lines = []
    for block in post.get("blocks") or []:
        for item in [block.get("text")] + list(block.get("fields") or []) + list(block.get("elements") or []):
            if isinstance(item, dict) and item.get("type") in ("mrkdwn", "plain_text") and item.get("text"):
                lines.append(item["text"])
    return "\n".join(lines) or post.get("text", "")


def _command(stack, user_id: str, text: str) -> str:
    return _readable(stack.command(user_id, text))


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.strip().splitlines()[:24])


def run_bot_end_to_end(settings: Settings) -> None:
    """`mailmagnet serve` for real, against the built-in Gmail and Slack emulators."""
    from sandbox.stack import REP, authorize_url_in, start_stack

    alice_gmail = "alice@gmail.example"

    print("== MailMagnet demo: the bot end to end, against the built-in Gmail and Slack emulators ==")
    data = demo_data_dir()
    with tempfile.TemporaryDirectory(prefix="mailmagnet-demo-") as tmp:
        stack = start_stack(f"sqlite:///{Path(tmp) / 'bot.db'}", scheduler=True, start_scheduler=False)
        try:
            print(f"Gmail emulator {stack.gmail.url}, Slack emulator {stack.slack.url}, "
                  f"MailMagnet serving on {stack.server.url}")
            deals = Path(tmp) / "deals.csv"
            shifted_deals_csv(data / "deals.csv", deals, datetime.now(timezone.utc).date())
            stack.import_crm((data / "contacts.csv").read_text(encoding="utf-8"),
                             deals.read_text(encoding="utf-8"))
            stack.add_rep("U0ADMIN", "bruno@mailmagnet.example", gmail=None, slack_admin=True)
            stack.add_rep(REP, "alice@mailmagnet.example", gmail=alice_gmail, mail_integration=False)
            print("\n1. Alice has no Mail Integration permission yet:")
            print(_indent(_command(stack, REP, "connect")))
            print(f"\n2. Bruno (Slack admin): /gmail admin grant <@{REP}>")
            print(_indent(_command(stack, "U0ADMIN", f"admin grant <@{REP}|alice>")))

            print("\n3. Alice: /gmail connect -> Authenticate -> Google consent -> callback")
            status, _body = stack.follow_consent(authorize_url_in(stack.command(REP, "connect")), alice_gmail)
            dm = stack.slack.wait_for(lambda: stack.slack.dms(REP), timeout=15)[-1]
            print(f"      callback page: HTTP {status}; DM from MailMagnet: {dm['text']}")

            print("\n4. Alice: /gmail magnet on, then /gmail labels on")
            print(_indent(_command(stack, REP, "magnet on")))
            print(_indent(_command(stack, REP, "labels on")))
            stack.run("sync")

            print("\n5. Mail arrives in Alice's Gmail:")
            senders = ['"Jane Doe" <jane.doe@acme.example>', "Bob Smith <bob.smith@globex.example>",
                       "=?UTF-8?Q?Chlo=C3=A9_Martin?= <chloe.martin@initech.example>",
                       "dave.jones@umbrella.example", "newsletter@unknown.example"]
            ids = {}
            for sender in senders:
                ids[sender] = stack.mail(sender, f"Hello from {sender.split('<')[-1].rstrip('>')}",
                                         gmail=alice_gmail)
                print(f"      from {sender}")
            stack.run("sync")
            print("\n6. MailMagnet alerts in Alice's DM (one per email from a CRM contact):")
            for message in stack.slack.dms(REP):
                if (message.get("metadata") or {}).get("event_type") == "mailmagnet_alert":
                    fields = next(b for b in message["blocks"] if b.get("fields"))["fields"]
                    deal = fields[2]["text"].split("\n", 1)[1]
                    print(f"      {message['text']} — {deal}")

            stack.run("labels")
            print("\n7. After the label run, in Gmail:")
            ours = set(stack.services.labels.__dict__.values())
            for sender, gmail_id in ids.items():
                names = stack.gmail.label_names(alice_gmail, gmail_id)
                where = ", ".join(sorted(n for n in names if n in ours)) or "left in the Inbox"
                print(f"      {sender.split('<')[-1].rstrip('>'):36} -> {where}")

            print("\n8. Alice: /gmail why dave.jones@umbrella.example")
            print(_indent(_command(stack, REP, "why dave.jones@umbrella.example")))
            print("\n9. Alice: /gmail status")
            print(_indent(_command(stack, REP, "status")))
            print(f"\nGmail quota used by MailMagnet in this demo: {stack.gmail.quota_units(alice_gmail)} units; "
                  f"Slack Web API calls: {len(stack.slack.calls)}.")
        finally:
            stack.stop()

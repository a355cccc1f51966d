"""The second part of the demo: `mailmagnet serve` for real, against the built-in Gmail and Slack emulators, and
the story told scene by scene (each scene a module of this package, in the order it is told)."""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from bot.settings import Settings
from testsupport.demo import admin, connect, followup, mail, reply, sharing, zoho
from testsupport.demo.cast import ALICE, ALICE_GMAIL, BRUNO
from testsupport.demo.data import demo_data_dir, shifted_deals_csv
from testsupport.stack import start_stack


def run_bot_end_to_end(settings: Settings) -> None:
    """`mailmagnet serve` for real, against the built-in Gmail and Slack emulators."""
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
            stack.add_rep(BRUNO, "bruno@mailmagnet.example", gmail=None, slack_admin=True)
            stack.add_rep(ALICE, "alice@mailmagnet.example", gmail=ALICE_GMAIL, mail_integration=False)
            connect.show_connect(stack)  # 1-4
            mail.show_mail_alerted_and_filed(stack)  # 5-9
            sharing.show_contact_view(stack)  # 10-11
            reply.show_reply_from_slack(stack)  # 12-13
            zoho.show_zoho_deal_won(stack)  # 14
            zoho.show_lead_converted(stack)  # 15
            followup.show_followup_nudge(stack)  # 16
            admin.show_admin_overview(stack)  # 17-18
            print(f"\nGmail quota used by MailMagnet in this demo: {stack.gmail.quota_units(ALICE_GMAIL)} units; "
                  f"Slack Web API calls: {len(stack.slack.calls)}.")
        finally:
            stack.stop()

"""One `mailmagnet serve` process on one database with one connected mailbox (the SIGTERM test in
tests/bot/test_shutdown.py). The SPEC §9 scenarios — replicas on PostgreSQL, kills at the failpoints, faults in
flight — are testsupport/fleet.py and scenarios.py's (tests/reliability, benchmarks/reliability.py)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections import Counter

from cryptography.fernet import Fernet

from crm_store.csv_import import import_contacts, import_deals
from crm_store.db import create_db_engine, session_scope, upgrade_database
from crm_store.models import GmailAccount
from gmail.tokens import TokenCipher
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackEmulator
from testsupport.mailboxes import seed_mailboxes
from testsupport.stack import free_port

CLIENT_ID, CLIENT_SECRET = "chaos.apps.googleusercontent.com", "chaos-secret"
TEAM = "T0001"
CONTACTS = "email,first_name,external_id\n" + "".join(f"c{i}@customer.example,C{i},C{i}\n" for i in range(10))
DEALS = "name,contact_external_id,stage,closing_date,external_id\n" + "".join(
    f"D{i},C{i},{'Closed Won' if i % 2 else 'Proposal'},2099-01-01,D{i}\n" for i in range(10))
EXPECTED_LABEL = {i: ("Customers" if i % 2 else "Open Deals") for i in range(10)}


class World:
    """Emulators, a database with one rep whose mailbox is connected (MailMagnet and labels on)."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.gmail = GmailEmulator().start()
        self.slack = SlackEmulator().start()
        self.gmail.register_client(CLIENT_ID, CLIENT_SECRET)
        self.key = Fernet.generate_key().decode()
        upgrade_database(database_url)
        self.engine = create_db_engine(database_url)
        import_contacts(self.engine, io.StringIO(CONTACTS))
        import_deals(self.engine, io.StringIO(DEALS))
        [self.account_id] = seed_mailboxes(self.engine, TokenCipher([self.key]), self.gmail, CLIENT_ID, 1,
                                           labels=True)
        with session_scope(self.engine) as session:
            account = session.get(GmailAccount, self.account_id)
            self.address, self.user_id = account.email_address, account.slack_user_id
        self.slack.default_team()
        self.slack.add_user(TEAM, self.user_id, email="rep0@crm.example")
        self.port = free_port()
        self.sent: dict[str, int] = {}

    def env(self, **extra) -> dict[str, str]:
        values = {
            "DATABASE_URL": self.database_url, "SLACK_BOT_TOKEN": self.slack.default_team().bot_token,
            "SLACK_SIGNING_SECRET": "chaos", "SLACK_API_URL": self.slack.api_url, "GOOGLE_CLIENT_ID": CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": CLIENT_SECRET, "GOOGLE_AUTH_URI": self.gmail.auth_uri,
            "GOOGLE_TOKEN_URI": self.gmail.token_uri, "GOOGLE_REVOKE_URI": self.gmail.revoke_uri,
            "GMAIL_API_URL": self.gmail.url, "TOKEN_ENCRYPTION_KEYS": self.key,
            "PUBLIC_URL": f"http://127.0.0.1:{self.port}", "SYNC_INTERVAL_SECONDS": "1",
            "LABEL_INTERVAL_SECONDS": "2", "LEASE_SECONDS": "5", "GMAIL_RETRY_BASE_SECONDS": "0.05",
            "GMAIL_TIMEOUT_SECONDS": "5", "LOG_LEVEL": "ERROR",
        }
        values.update(extra)
        return {**os.environ, **values}

    def start_serve(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port)],
                                env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def mail(self, index: int) -> None:
        contact = index % 10
        gmail_id = self.gmail.insert_message(self.address, sender=f"C{contact} <c{contact}@customer.example>",
                                             to=self.address, subject=f"Message {index}", body="Hello")
        self.sent[gmail_id] = contact

    def alerted(self) -> Counter:
        dm = self.slack.dm_channel(TEAM, self.user_id)
        return Counter(m["metadata"]["event_payload"]["gmail_id"] for m in self.slack.messages(dm)
                       if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert")

    def misfiled(self) -> list[str]:
        wrong = []
        for gmail_id, contact in self.sent.items():
            labels = self.gmail.label_names(self.address, gmail_id)
            if EXPECTED_LABEL[contact] not in labels or "INBOX" in labels:
                wrong.append(gmail_id)
        return wrong

    def settled(self) -> bool:
        return set(self.alerted()) >= set(self.sent) and not self.misfiled()

    def close(self) -> None:
        self.engine.dispose()
        self.gmail.stop()
        self.slack.stop()


def wait_settled(world: World, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not world.settled():
        time.sleep(0.2)

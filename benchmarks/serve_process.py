"""`mailmagnet serve` as its own process, pointed at the emulators: what the scale benchmarks measure (its
cycle, its RSS) must not share a process, an interpreter lock or a heap with the emulators and the
benchmark that drive it."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cryptography.fernet import Fernet

from crm_store.csv_import import import_contacts, import_deals
from crm_store.db import create_db_engine, upgrade_database
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackEmulator
from testsupport.stack import free_port


# One CRM contact with an open deal: the sender whose mail the alert benchmarks send.
CONTACTS = "email,first_name,company,external_id\njane@acme.example,Jane,Acme,C1\n"
DEALS = "name,contact_external_id,stage,closing_date,external_id\nRenewal,C1,Proposal,2099-01-01,D1\n"


def prepare(database_url: str, gmail: GmailEmulator, client_id: str, client_secret: str) -> tuple[Engine, str]:
    """What a serve process finds before it starts: the schema, the CRM contact above, our Google client
    registered with the emulator. Returns the engine and a new token encryption key."""
    gmail.register_client(client_id, client_secret)
    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    import_contacts(engine, io.StringIO(CONTACTS))
    import_deals(engine, io.StringIO(DEALS))
    return engine, Fernet.generate_key().decode()


def start_serve(database_url: str, gmail: GmailEmulator, slack: SlackEmulator, *, client_id: str,
                client_secret: str, encryption_key: str, **settings: str) -> subprocess.Popen:
    """`settings` are further environment settings (SYNC_INTERVAL_SECONDS="3600", ...). Its stdout is
    dropped and its log goes to a temporary file (`log_tail`), never to a pipe: a pipe nobody reads fills up
    with a failing run's tracebacks and then blocks every thread that logs, shutdown included."""
    port = free_port()
    env = {
        **os.environ, "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": slack.default_team().bot_token,
        "SLACK_SIGNING_SECRET": "benchmark", "SLACK_API_URL": slack.api_url, "GOOGLE_CLIENT_ID": client_id,
        "GOOGLE_CLIENT_SECRET": client_secret, "GOOGLE_AUTH_URI": gmail.auth_uri,
        "GOOGLE_TOKEN_URI": gmail.token_uri, "GOOGLE_REVOKE_URI": gmail.revoke_uri,
        "GMAIL_API_URL": gmail.url, "TOKEN_ENCRYPTION_KEYS": encryption_key,
        "PUBLIC_URL": f"http://127.0.0.1:{port}", "LOG_LEVEL": "WARNING", **settings,
    }
    log = tempfile.TemporaryFile(mode="w+", prefix="mm-serve-")
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=log, text=True)
    process.log = log  # type: ignore[attr-defined]
    return process


def log_tail(process: subprocess.Popen, chars: int = 3000) -> str:
    """The end of what a `start_serve` process logged, for the error shown when it exits early."""
    log = process.log  # type: ignore[attr-defined]
    log.flush()
    log.seek(0)
    return log.read()[-chars:]


def first_cycle(process: subprocess.Popen, engine: Engine, *, timeout: float, poll: float = 0.1) -> tuple[float, int]:
    """Watch a `start_serve` process until every connected mailbox has been synced once (its `next_sync_at`
    set), then stop it: (the time.time() that was seen, peak RSS in bytes meanwhile)."""
    watcher = psutil.Process(process.pid)
    peak = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            peak = max(peak, watcher.memory_info().rss)
            with engine.connect() as connection:
                pending = connection.execute(sa.text(
                    "SELECT count(*) FROM gmail_accounts WHERE next_sync_at IS NULL AND status = 'connected'")).scalar()
            if pending == 0:
                return time.time(), max(peak, watcher.memory_info().rss)
            if process.poll() is not None:
                raise RuntimeError(f"serve exited: {log_tail(process)}")
            time.sleep(poll)
        raise RuntimeError("the cycle did not finish in time")
    finally:
        process.terminate()
        process.wait(timeout=60)

"""scale.*: one sync cycle over 1,000 connected mailboxes with nothing new, and the peak RSS of
`mailmagnet serve` meanwhile (SPEC §8). The real `serve` runs as its own process; the emulators
run here. On SQLite (the default) and on PostgreSQL when reachable.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from benchmarks.common import emit, postgres_server_url
from benchmarks.serve_process import first_cycle, start_serve
from crm_store.db import create_db_engine, normalise_url, upgrade_database
from gmail.tokens import TokenCipher
from testsupport.mailboxes import seed_mailboxes
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackEmulator

MAILBOXES = 1000
CLIENT_ID, CLIENT_SECRET = "scale.apps.googleusercontent.com", "scale-secret"


def run_cycle(database_url: str) -> dict:
    gmail = GmailEmulator().start()
    slack = SlackEmulator().start()
    try:
        gmail.register_client(CLIENT_ID, CLIENT_SECRET)
        key = Fernet.generate_key().decode()
        upgrade_database(database_url)
        engine = create_db_engine(database_url)
        seed_mailboxes(engine, TokenCipher([key]), gmail, CLIENT_ID, MAILBOXES)
        gmail.reset_counters()
        serve = start_serve(database_url, gmail, slack, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                            encryption_key=key, SYNC_INTERVAL_SECONDS="3600", LABEL_INTERVAL_SECONDS="3600")
        done_at, peak = first_cycle(serve, engine, timeout=180, poll=0.05)
        calls = [c for c in gmail.calls if c.method == "gmail.users.history.list"]
        if not calls:
            raise RuntimeError("the cycle made no history.list call")
        engine.dispose()
        return {
            "cycle_seconds": round(done_at - min(c.time for c in calls), 2),
            "rss_mb": round(peak / 2**20, 1),
            "history_calls": len(calls),
            "units": sum(c.units for c in gmail.calls),
        }
    finally:
        gmail.stop()
        slack.stop()


def postgres_url() -> str | None:
    server = make_url(normalise_url(postgres_server_url()))
    name = "mm_bench_scale"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        return None
    finally:
        admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = run_cycle(f"sqlite:///{Path(tmp) / 'scale.db'}")
    figures = {
        "mailboxes": MAILBOXES,
        "cycle_seconds_1000_mailboxes": sqlite["cycle_seconds"],
        "rss_mb_1000_mailboxes": sqlite["rss_mb"],
        "history_calls": sqlite["history_calls"],
        "units": sqlite["units"],
        "target_cycle_seconds": 10,
        "target_rss_mb": 250,
    }
    pg = postgres_url()
    if pg:
        postgres = run_cycle(pg)
        figures["postgres_cycle_seconds_1000_mailboxes"] = postgres["cycle_seconds"]
        figures["postgres_rss_mb_1000_mailboxes"] = postgres["rss_mb"]
    emit("scale", figures)


if __name__ == "__main__":
    main()

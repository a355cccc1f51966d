"""scale.*_10000_mailboxes: one sync cycle over 10,000 connected mailboxes with Gmail answering in 100 ms ± 50 ms,
5% of them with new mail and 1% with an expired access token, one `mailmagnet serve` replica (its own process);
then its peak RSS over 20 cycles, and how that RSS moves from cycle to cycle (SPEC §8).

Beside the cycle time: the same Gmail round trips made the simplest way (`baseline_*`): one history.list per
mailbox, one call at a time per thread, with as many threads as the replica has workers — what a cycle costs
without batching.
"""
from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import sqlalchemy as sa
from cryptography.fernet import Fernet

from benchmarks.common import emit
from benchmarks.serve_process import first_cycle, log_tail, start_serve
from crm_store.db import create_db_engine, session_scope, upgrade_database
from crm_store.models import GmailAccount
from gmail.tokens import TokenCipher
from sandbox.fleet import seed_mailboxes
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackEmulator

MAILBOXES = int(os.environ.get("BENCH_SCALE_MAILBOXES", "10000"))
CYCLES = int(os.environ.get("BENCH_SCALE_CYCLES", "20"))
NEW_MAIL_SHARE, EXPIRED_SHARE = 0.05, 0.01
LATENCY_MS, JITTER_MS = 100, 50
CLIENT_ID, CLIENT_SECRET = "scale.apps.googleusercontent.com", "scale-secret"


def expire_tokens(engine, cipher: TokenCipher, gmail: GmailEmulator, addresses: list[str]) -> None:
    """These access tokens ran out: Google refuses them, and the stored expiry says so."""
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).replace(tzinfo=None).isoformat()
    with session_scope(engine) as session:
        for account in session.exec(sa.select(GmailAccount).where(GmailAccount.email_address.in_(addresses))).scalars():
            data = cipher.decrypt(account.encrypted_credentials)
            data["expiry"] = past
            account.encrypted_credentials = cipher.encrypt(data)
            session.add(account)
    for address in addresses:
        gmail.expire_access_tokens(address)


def serve(database_url: str, gmail: GmailEmulator, slack: SlackEmulator, key: str, interval: int):
    return start_serve(database_url, gmail, slack, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                       encryption_key=key, SYNC_INTERVAL_SECONDS=str(interval), LABEL_INTERVAL_SECONDS="86400")


def history_calls(gmail: GmailEmulator) -> list:
    return [c for c in gmail.calls if c.method == "gmail.users.history.list"]


def one_cycle(database_url: str, engine, gmail, slack, key) -> dict:
    done_at, peak = first_cycle(serve(database_url, gmail, slack, key, 3600), engine, timeout=600)
    calls = history_calls(gmail)
    if not calls:
        raise RuntimeError("the cycle made no history.list call")
    return {"cycle_seconds": done_at - min(c.time for c in calls), "rss_mb": peak / 2**20,
            "history_calls": len(calls), "in_batch": sum(1 for c in calls if c.in_batch),
            "units": sum(c.units for c in gmail.calls)}


def many_cycles(database_url: str, engine, gmail, slack, key) -> dict:
    """Back-to-back cycles (a 1-second interval); RSS sampled as the cycles go."""
    with engine.begin() as connection:  # due again now (the first cycle set them an hour out)
        connection.execute(sa.text("UPDATE gmail_accounts SET next_sync_at = NULL"))
    gmail.reset_counters()
    process = serve(database_url, gmail, slack, key, 1)
    watcher = psutil.Process(process.pid)
    samples: list[tuple[float, float]] = []  # (cycles done, RSS MB)
    deadline = time.monotonic() + 60 * CYCLES
    try:
        while time.monotonic() < deadline:
            done = len(history_calls(gmail)) / MAILBOXES
            samples.append((done, watcher.memory_info().rss / 2**20))
            if done >= CYCLES:
                break
            if process.poll() is not None:
                raise RuntimeError(f"serve exited: {log_tail(process, 3000)}")
            time.sleep(1.0)
        started = min(c.time for c in history_calls(gmail))
        elapsed = time.time() - started
    finally:
        process.terminate()
        process.wait(timeout=60)
    cycles = len(history_calls(gmail)) / MAILBOXES
    later = [(c, rss) for c, rss in samples if c >= 2]  # after the first cycles have warmed every cache
    slope = 0.0
    if len(later) >= 3:
        xs, ys = [c for c, _ in later], [r for _, r in later]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(1e-9, sum((x - mx) ** 2 for x in xs))
    return {"cycles": round(cycles, 1), "seconds_per_cycle": round(elapsed / max(cycles, 1e-9), 2),
            "rss_mb_peak": round(max(r for _, r in samples), 1), "rss_mb_slope_per_cycle": round(slope, 2),
            "rss_mb_after_2_cycles": round(later[0][1], 1) if later else None,
            "rss_mb_last": round(samples[-1][1], 1)}


def baseline(gmail: GmailEmulator, count: int, threads: int) -> float:
    """The same history.list round trips, one call at a time per thread (no batching)."""
    from gmail.client import GmailService
    from gmail.config import GoogleConfig

    config = GoogleConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, auth_uri=gmail.auth_uri,
                          token_uri=gmail.token_uri, revoke_uri=gmail.revoke_uri, api_url=gmail.url,
                          redirect_uri="http://127.0.0.1:9/cb")
    service = GmailService(config)
    from google.oauth2.credentials import Credentials

    users = [f"rep{i}@gmail.example" for i in range(count)]
    tokens = {u: gmail.issue_tokens(u, CLIENT_ID)["access_token"] for u in users}

    def poll(user: str) -> None:
        mailbox = service.mailbox(Credentials(token=tokens[user]))
        next(mailbox.history_pages(str(gmail.history_id(user))))

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(poll, users))
    return time.perf_counter() - started


def main() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="mm-bench-scale10k-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'scale.db'}"
        gmail = GmailEmulator().start()
        slack = SlackEmulator().start()
        try:
            gmail.register_client(CLIENT_ID, CLIENT_SECRET)
            key = Fernet.generate_key().decode()
            cipher = TokenCipher([key])
            upgrade_database(database_url)
            engine = create_db_engine(database_url)
            seeded = time.perf_counter()
            seed_mailboxes(engine, cipher, gmail, CLIENT_ID, MAILBOXES)
            seed_seconds = time.perf_counter() - seeded
            addresses = [f"rep{i}@gmail.example" for i in range(MAILBOXES)]
            for address in rng.sample(addresses, int(MAILBOXES * NEW_MAIL_SHARE)):
                gmail.insert_message(address, sender="news@vendor.example", to=address, subject="Hello",
                                     body="new mail")
            expire_tokens(engine, cipher, gmail, rng.sample(addresses, int(MAILBOXES * EXPIRED_SHARE)))
            gmail.set_latency(LATENCY_MS, jitter_ms=JITTER_MS, seed=11)
            gmail.reset_counters()
            cycle = one_cycle(database_url, engine, gmail, slack, key)
            repeated = many_cycles(database_url, engine, gmail, slack, key) if CYCLES > 1 else {}
            baseline_seconds = baseline(gmail, min(MAILBOXES, 2000), 16)
            engine.dispose()
        finally:
            gmail.stop()
            slack.stop()
    per_mailbox_baseline = baseline_seconds / min(MAILBOXES, 2000)
    emit("scale", {
        "mailboxes_10000": MAILBOXES,
        "cycle_seconds_10000_mailboxes": round(cycle["cycle_seconds"], 1),
        "target_cycle_seconds_10000": 60,
        "history_calls_10000": cycle["history_calls"],
        "history_calls_in_batch_10000": cycle["in_batch"],
        "units_cycle_10000": cycle["units"],
        "rss_mb_10000_mailboxes": max(round(cycle["rss_mb"], 1), repeated.get("rss_mb_peak", 0)),
        "target_rss_mb_10000": 300,
        "rss_mb_slope_per_cycle_10000": repeated.get("rss_mb_slope_per_cycle"),
        "cycles_measured_10000": repeated.get("cycles"),
        "seconds_per_cycle_back_to_back_10000": repeated.get("seconds_per_cycle"),
        "gmail_latency_ms_10000": f"{LATENCY_MS}±{JITTER_MS}",
        "baseline_unbatched_seconds_per_10000": round(per_mailbox_baseline * MAILBOXES, 1),
        "cycle_over_unbatched_baseline": round(cycle["cycle_seconds"] / (per_mailbox_baseline * MAILBOXES), 3),
        "seed_seconds_10000": round(seed_seconds, 1),
    })


if __name__ == "__main__":
    main()

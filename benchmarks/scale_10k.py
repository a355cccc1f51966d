"""scale.*_10000_mailboxes: one sync cycle over 10,000 connected mailboxes with Gmail answering in 100 ms ± 50 ms,
5% of them with new mail and 1% with an expired access token, one `mailmagnet serve` replica (its own process);
then its peak RSS over 20 such cycles back to back, and how that RSS moves from cycle to cycle (SPEC §8).

The work is what users cause, in every cycle, not only the first:
- CRM data is loaded (CONTACTS contacts with a deal each: a third open, a third closing this month, a third won);
  the mailboxes have MailMagnet and labels on, their three labels already in Gmail and every CRM change already
  seen (a deployment that has been running), and alerts go to each rep's DM;
- before the first cycle, and again as each cycle is done, 5% of the mailboxes (drawn again each time) get 1-3 new
  messages, FROM_CONTACT_SHARE of them from a CRM contact, so every cycle syncs mail, posts alerts and leaves mail
  to file; and 1% of the mailboxes (drawn again too) have their access token expire (Google refuses it, the stored
  expiry says so);
- label runs come every LABEL_INTERVAL seconds per mailbox, their first ones spread over that interval, as in a
  deployment that has been running: five to ten back-to-back cycles per label run (12-25 s a cycle), where the
  product's default intervals give ten (SYNC_INTERVAL_SECONDS 60, LABEL_INTERVAL_SECONDS 600);
- Slack answers every call in SLACK_LATENCY_MS.
The RSS peak and slope are taken over those 20 cycles, every one with mail, alerts and filing.

Beside the cycle time: the same Gmail round trips made the simplest way (`baseline_*`): one history.list per
mailbox, one call at a time per thread, with as many threads as the replica has workers — what a cycle costs
without batching.
"""
from __future__ import annotations

import io
import json
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
from crm_store import category_changes
from crm_store.categories import Category, LabelNames
from crm_store.csv_import import import_contacts, import_deals
from crm_store.db import create_db_engine, session_scope, upgrade_database
from crm_store.models import Alert, AlertStatus, GmailAccount, MailboxMessage, utcnow
from gmail.tokens import TokenCipher
from testsupport.mailboxes import seed_mailboxes
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackEmulator

MAILBOXES = int(os.environ.get("BENCH_SCALE_MAILBOXES", "10000"))
CYCLES = int(os.environ.get("BENCH_SCALE_CYCLES", "20"))
NEW_MAIL_SHARE, EXPIRED_SHARE = 0.05, 0.01
MESSAGES_PER_BUSY_MAILBOX = (1, 3)
FROM_CONTACT_SHARE = 0.1  # as in SPEC §8's trickle: one new message in ten from a CRM contact
CONTACTS = int(os.environ.get("BENCH_SCALE_CONTACTS", "20000"))
LATENCY_MS, JITTER_MS = 100, 50
SLACK_LATENCY_MS = 100
LABEL_INTERVAL = 120  # seconds: five to ten back-to-back cycles; the default intervals' ratio is ten
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


def crm_files(count: int) -> tuple[str, str]:
    """`count` contacts with a deal each: an open deal closing later (Open Deals), one closing this month, a won one
    (Customers), in turn."""
    this_month = datetime.now(timezone.utc).date().replace(day=15).isoformat()
    contacts = ["email,first_name,company,external_id"]
    deals = ["name,contact_external_id,stage,closing_date,external_id"]
    for i in range(count):
        contacts.append(f"c{i}@customer{i % 500}.example,C{i},Customer {i % 500},C{i}")
        stage, closing = (("Proposal", "2099-06-01"), ("Negotiation", this_month), ("Closed Won", "2025-06-01"))[i % 3]
        deals.append(f"Deal {i},C{i},{stage},{closing},D{i}")
    return "\n".join(contacts) + "\n", "\n".join(deals) + "\n"


def contact_address(i: int) -> str:
    return f"c{i}@customer{i % 500}.example"


def load_crm(engine) -> None:
    """The CRM data, and every mailbox past it: the changes the import recorded were seen by earlier label runs,
    and this month's turn too."""
    contacts, deals = crm_files(CONTACTS)
    import_contacts(engine, io.StringIO(contacts))
    import_deals(engine, io.StringIO(deals))
    with session_scope(engine) as session:
        latest = category_changes.latest_id(session)
    with engine.begin() as connection:
        connection.execute(sa.update(GmailAccount).values(
            last_category_change_id=latest, last_label_month=datetime.now(timezone.utc).strftime("%Y-%m")))


def labels_in_gmail(engine, gmail: GmailEmulator, addresses: list[str]) -> None:
    """The three labels exist in every mailbox and their ids are cached, as after the first label run."""
    names = LabelNames()
    ids = {}
    for address in addresses:
        ids[address] = json.dumps({c.value: gmail.create_label(address, names.name_for(c)) for c in Category})
    checked = utcnow()
    with engine.begin() as connection:
        connection.execute(sa.update(GmailAccount).where(GmailAccount.email_address == sa.bindparam("address"))
                           .values(label_ids=sa.bindparam("ids"), label_ids_checked_at=checked),
                           [{"address": a, "ids": i} for a, i in ids.items()])


def spread_label_runs(engine, rng: random.Random) -> None:
    """Each mailbox's next label run somewhere in the coming LABEL_INTERVAL, as in a running deployment."""
    now = utcnow()
    with engine.connect() as connection:
        ids = [row[0] for row in connection.execute(sa.select(GmailAccount.id))]
    with engine.begin() as connection:
        connection.execute(sa.update(GmailAccount).where(GmailAccount.id == sa.bindparam("account"))
                           .values(next_label_at=sa.bindparam("due")),
                           [{"account": i, "due": now + timedelta(seconds=rng.uniform(0, LABEL_INTERVAL))}
                            for i in ids])


class MailFlow:
    """What arrives before each cycle: new mail in 5% of the mailboxes, 1% of the access tokens expired."""

    def __init__(self, engine, cipher: TokenCipher, gmail: GmailEmulator, addresses: list[str], rng: random.Random):
        self.engine, self.cipher, self.gmail, self.addresses, self.rng = engine, cipher, gmail, addresses, rng
        self.messages = self.from_contacts = self.expired = self.rounds = 0

    def next_cycle(self) -> None:
        for address in self.rng.sample(self.addresses, int(len(self.addresses) * NEW_MAIL_SHARE)):
            specs = []
            for _ in range(self.rng.randint(*MESSAGES_PER_BUSY_MAILBOX)):
                if self.rng.random() < FROM_CONTACT_SHARE:
                    k = self.rng.randrange(CONTACTS)
                    sender = f"C{k} <{contact_address(k)}>"
                    self.from_contacts += 1
                else:
                    sender = f"news{self.rng.randrange(5000)}@vendor.example"
                specs.append({"sender": sender, "to": address, "subject": f"Round {self.rounds}",
                              "body": "new mail"})
            self.gmail.add_messages_bulk(address, specs)
            self.messages += len(specs)
        expiring = self.rng.sample(self.addresses, int(len(self.addresses) * EXPIRED_SHARE))
        expire_tokens(self.engine, self.cipher, self.gmail, expiring)
        self.expired += len(expiring)
        self.rounds += 1


def serve(database_url: str, gmail: GmailEmulator, slack: SlackEmulator, key: str, interval: int):
    return start_serve(database_url, gmail, slack, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                       encryption_key=key, SYNC_INTERVAL_SECONDS=str(interval),
                       LABEL_INTERVAL_SECONDS=str(LABEL_INTERVAL))


def work_done(engine) -> dict:
    """Alerts posted and messages filed so far (read from the database)."""
    with engine.connect() as connection:
        alerts = connection.execute(sa.select(sa.func.count()).select_from(Alert)
                                    .where(Alert.status == AlertStatus.POSTED.value)).scalar()
        filed = connection.execute(sa.select(sa.func.count()).select_from(MailboxMessage)
                                   .where(MailboxMessage.filed_category.is_not(None))).scalar()
    return {"alerts": alerts, "filed": filed}


def history_calls(gmail: GmailEmulator) -> list:
    return [c for c in gmail.calls if c.method == "gmail.users.history.list"]


def one_cycle(database_url: str, engine, gmail, slack, key) -> dict:
    before = work_done(engine)
    done_at, peak = first_cycle(serve(database_url, gmail, slack, key, 3600), engine, timeout=600)
    calls = history_calls(gmail)
    if not calls:
        raise RuntimeError("the cycle made no history.list call")
    after = work_done(engine)
    return {"cycle_seconds": done_at - min(c.time for c in calls), "rss_mb": peak / 2**20,
            "history_calls": len(calls), "in_batch": sum(1 for c in calls if c.in_batch),
            "units": sum(c.units for c in gmail.calls),
            "alerts": after["alerts"] - before["alerts"], "filed": after["filed"] - before["filed"]}


def many_cycles(database_url: str, engine, gmail, slack, key, flow: MailFlow) -> dict:
    """Back-to-back cycles (a 1-second interval), new mail and expired tokens before each; RSS sampled as they go.
    A cycle is counted done when the sweep has polled as many mailboxes in /batch as there are."""
    with engine.begin() as connection:  # due again now (the first cycle set them an hour out)
        connection.execute(sa.text("UPDATE gmail_accounts SET next_sync_at = NULL"))
    flow.next_cycle()
    before = work_done(engine)
    gmail.reset_counters()
    slack.clear_calls()
    process = serve(database_url, gmail, slack, key, 1)
    watcher = psutil.Process(process.pid)
    samples: list[tuple[float, float]] = []  # (cycles done, RSS MB)
    polled, seen = 0, 0
    fed = 1  # cycles whose new mail is in (the first's, above)
    deadline = time.monotonic() + 60 * CYCLES
    try:
        while time.monotonic() < deadline:
            calls = gmail.calls
            polled += sum(1 for c in calls[seen:] if c.method == "gmail.users.history.list" and c.in_batch)
            seen = len(calls)
            done = polled / MAILBOXES
            samples.append((done, watcher.memory_info().rss / 2**20))
            if done >= CYCLES:
                break
            if fed <= int(done) and fed < CYCLES:  # cycle `fed` begins: its new mail and expired tokens
                flow.next_cycle()
                fed += 1
            if process.poll() is not None:
                raise RuntimeError(f"serve exited: {log_tail(process, 3000)}")
            time.sleep(1.0)
        started = min(c.time for c in history_calls(gmail))
        elapsed = time.time() - started
    finally:
        process.terminate()
        process.wait(timeout=60)
    after = work_done(engine)
    units_by_method: dict[str, int] = {}
    for call in gmail.calls:
        units_by_method[call.method] = units_by_method.get(call.method, 0) + call.units
    cycles = polled / MAILBOXES
    later = [(c, rss) for c, rss in samples if c >= 2]  # after the first cycles have warmed every cache
    slope = 0.0
    if len(later) >= 3:
        xs, ys = [c for c, _ in later], [r for _, r in later]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(1e-9, sum((x - mx) ** 2 for x in xs))
    return {"cycles": round(cycles, 1), "seconds_per_cycle": round(elapsed / max(cycles, 1e-9), 2),
            "rss_mb_peak": round(max(r for _, r in samples), 1), "rss_mb_slope_per_cycle": round(slope, 2),
            "rss_mb_after_2_cycles": round(later[0][1], 1) if later else None,
            "rss_mb_last": round(samples[-1][1], 1),
            # The RSS as each cycle was done, to see whether a slope is growth or settling.
            "rss_mb_by_cycle": [round(next(r for c, r in samples if c >= k), 1)
                                for k in range(1, int(samples[-1][0]) + 1)],
            "alerts": after["alerts"] - before["alerts"], "filed": after["filed"] - before["filed"],
            "slack_posts": sum(1 for c in slack.calls_to("chat.postMessage") if c.ok),
            "units_by_method": units_by_method}


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
            team = slack.default_team().id
            seed_mailboxes(engine, cipher, gmail, CLIENT_ID, MAILBOXES, team_id=team, labels=True)
            addresses = [f"rep{i}@gmail.example" for i in range(MAILBOXES)]
            for i in range(MAILBOXES):  # each rep's alerts go to their DM
                slack.add_user(team, f"UREP{i:05d}", email=f"rep{i}@crm.example")
            labels_in_gmail(engine, gmail, addresses)
            load_crm(engine)
            seed_seconds = time.perf_counter() - seeded
            flow = MailFlow(engine, cipher, gmail, addresses, rng)
            flow.next_cycle()
            gmail.set_latency(LATENCY_MS, jitter_ms=JITTER_MS, seed=11)
            slack.set_latency(SLACK_LATENCY_MS)
            spread_label_runs(engine, rng)
            gmail.reset_counters()
            cycle = one_cycle(database_url, engine, gmail, slack, key)
            repeated = {}
            if CYCLES > 1:
                spread_label_runs(engine, rng)
                repeated = many_cycles(database_url, engine, gmail, slack, key, flow)
            slack.set_latency(0)
            baseline_seconds = baseline(gmail, min(MAILBOXES, 2000), 16)
            engine.dispose()
        finally:
            gmail.stop()
            slack.stop()
    per_mailbox_baseline = baseline_seconds / min(MAILBOXES, 2000)
    cycles = repeated.get("cycles") or 0
    emit("scale", {
        "mailboxes_10000": MAILBOXES,
        "cycle_seconds_10000_mailboxes": round(cycle["cycle_seconds"], 1),
        "target_cycle_seconds_10000": 60,
        "history_calls_10000": cycle["history_calls"],
        "history_calls_in_batch_10000": cycle["in_batch"],
        "units_cycle_10000": cycle["units"],
        "alerts_first_cycle_10000": cycle["alerts"],
        "filed_first_cycle_10000": cycle["filed"],
        "rss_mb_10000_mailboxes": max(round(cycle["rss_mb"], 1), repeated.get("rss_mb_peak", 0)),
        "target_rss_mb_10000": 300,
        "rss_mb_slope_per_cycle_10000": repeated.get("rss_mb_slope_per_cycle"),
        "rss_mb_after_2_cycles_10000": repeated.get("rss_mb_after_2_cycles"),
        "rss_mb_last_10000": repeated.get("rss_mb_last"),
        "rss_mb_by_cycle_10000": repeated.get("rss_mb_by_cycle"),
        "cycles_measured_10000": repeated.get("cycles"),
        "seconds_per_cycle_back_to_back_10000": repeated.get("seconds_per_cycle"),
        # The work in those cycles: every one had new mail; alerts posted and messages filed in all of them.
        "new_messages_per_cycle_10000": round(flow.messages / max(flow.rounds, 1), 1),
        "from_contacts_per_cycle_10000": round(flow.from_contacts / max(flow.rounds, 1), 1),
        "expired_tokens_per_cycle_10000": round(flow.expired / max(flow.rounds, 1), 1),
        "alerts_per_cycle_10000": round(repeated.get("alerts", 0) / cycles, 1) if cycles else None,
        "filed_per_cycle_10000": round(repeated.get("filed", 0) / cycles, 1) if cycles else None,
        "slack_posts_10000": repeated.get("slack_posts"),
        "units_by_method_cycles_10000": repeated.get("units_by_method"),
        "crm_contacts_10000": CONTACTS,
        "crm_deals_10000": CONTACTS,
        "label_interval_seconds_10000": LABEL_INTERVAL,
        "gmail_latency_ms_10000": f"{LATENCY_MS}±{JITTER_MS}",
        "slack_latency_ms_10000": SLACK_LATENCY_MS,
        "baseline_unbatched_seconds_per_10000": round(per_mailbox_baseline * MAILBOXES, 1),
        "cycle_over_unbatched_baseline": round(cycle["cycle_seconds"] / (per_mailbox_baseline * MAILBOXES), 3),
        "seed_seconds_10000": round(seed_seconds, 1),
    })


if __name__ == "__main__":
    main()

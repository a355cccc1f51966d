"""A fleet of real `mailmagnet serve` processes on one PostgreSQL, with the emulators, for the SPEC §9 scenarios
(testsupport/scenarios.py drives it; testsupport/fleet_checks.py judges it).

`Fleet` starts 2–3 replicas (subprocesses, each with its own environment, log file and failpoints) on a throwaway
cluster (testsupport/pgcluster.py), with the Gmail, Slack and Zoho emulators in the test's process and latency on
every emulated call. The scenario drives it: mail arrives in the mailboxes, Pub/Sub pushes and signed Slack
commands go to a replica picked at random, deals change stage in Zoho (the CRM sync in `serve` reads them), quiet
hours open and close so digests are posted; replicas are SIGKILLed (at a failpoint or at a random moment) and
restarted; faults are switched on and off; PostgreSQL is restarted.

`Fleet.outcome()` then counts, after the fleet settled:
- `lost`: contact mail with no alert or digest carrying it in the rep's DM (the Slack emulator's own record);
- `duplicated`: alerts beyond one per contact message (an alert and a digest for the same message count twice);
- `misfiled`: messages whose labels break SPEC §4 as the CRM stands at the end (the category label, no other of
  ours, not in INBOX; a stranger's mail untouched, still in INBOX);
- `unhandled`: exceptions that escaped the product's handlers, read from the replicas' logs (JSON log lines:
  anything printed that is not a log record, e.g. a thread's traceback, and Flask's "Exception on …");
- `done_twice`: writes to a mailbox's messages or alerts committed by one replica while another live replica held
  the mailbox's lease (a PostgreSQL trigger records, for each such write, the writer — its `application_name` —
  and the lease holder at that instant);
- `hits`: how many times each failpoint was reached, over every replica process (the failpoint log).
"""
from __future__ import annotations

import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

from crm_store.db import create_db_engine, upgrade_database
from gmail.tokens import TokenCipher
from sandbox.gmail_emulator import Fault as GmailFault
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackEmulator
from sandbox.slack_emulator.driver import SlackDriver
from sandbox.slack_emulator.faults import Fault as SlackFault
from sandbox.zoho_emulator import ZohoEmulator
from sandbox.zoho_emulator.faults import Fault as ZohoFault
from telemetry.failpoints import POINTS
from testsupport.fleet_checks import LABELS, TEAM, FleetChecks, Outcome
from testsupport.mailboxes import seed_mailboxes
from testsupport.pgcluster import PgCluster, free_port

__all__ = ["Fleet", "Outcome", "Replica", "LABELS", "STAGES", "TEAM", "POINTS"]

CLIENT_ID, CLIENT_SECRET = "fleet.apps.googleusercontent.com", "fleet-secret"
ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET = "1000.FLEET", "fleet-zoho-secret"
SIGNING_SECRET = "fleet-signing-secret"
PUSH_TOKEN = "fleet-push-token"
STAGES = {"closing": "Proposal", "open": "Proposal", "won": "Closed Won"}

# Who wrote what while whom held the lease: rows of mailbox_messages and alerts, with the writer's application_name
# and the account's lease holder at that instant (read inside the writing transaction).
WRITE_LOG_SQL = """
CREATE TABLE fleet_writes (id bigserial PRIMARY KEY, kind text, account_id int, writer text, holder text,
                           holder_expires timestamptz, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION fleet_log_write() RETURNS trigger AS $$
BEGIN
  INSERT INTO fleet_writes (kind, account_id, writer, holder, holder_expires)
  SELECT TG_TABLE_NAME, NEW.account_id, current_setting('application_name'), a.lease_owner, a.lease_expires_at
  FROM gmail_accounts a WHERE a.id = NEW.account_id;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER fleet_messages AFTER INSERT OR UPDATE OF filed_category ON mailbox_messages
  FOR EACH ROW EXECUTE FUNCTION fleet_log_write();
CREATE TRIGGER fleet_alerts AFTER INSERT OR UPDATE OF status ON alerts
  FOR EACH ROW EXECUTE FUNCTION fleet_log_write();
"""


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    incarnations: dict[int, str] = field(default_factory=dict)  # pid -> application_name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None



class Fleet(FleetChecks):
    def __init__(self, cluster: PgCluster, *, replicas: int = 3, mailboxes: int = 6, contacts: int = 12,
                 digest_mailboxes: int = 2, latency_ms: float = 5.0, seed: int = 1, lease_seconds: int = 15,
                 database: str = "fleet", extra_env: dict[str, str] | None = None):
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.workdir = Path(tempfile.mkdtemp(prefix="mm-fleet-"))
        self.hit_log = self.workdir / "failpoint-hits"
        self.lease_seconds = lease_seconds
        self.extra_env = dict(extra_env or {})
        self.database_url = cluster.create_database(database)
        upgrade_database(self.database_url)
        self.engine = create_db_engine(self.database_url, pool_size=2, max_overflow=4)
        with self.engine.begin() as connection:
            connection.exec_driver_sql(WRITE_LOG_SQL)

        self.gmail = GmailEmulator().start()
        self.slack = SlackEmulator().start()
        self.zoho = ZohoEmulator().start()
        for emulator in (self.gmail, self.slack):
            emulator.set_latency(latency_ms, jitter_ms=latency_ms / 2, seed=seed)
        self.latency_ms = latency_ms
        self.zoho_latency()
        self.gmail.register_client(CLIENT_ID, CLIENT_SECRET)
        self.zoho.register_client(ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET)
        self.zoho_refresh_token = self.zoho.issue_refresh_token(ZOHO_CLIENT_ID)
        self.key = Fernet.generate_key().decode()
        self.slack.default_team()

        # The CRM lives in Zoho: each contact has one deal whose stage and closing date say its category.
        self.contacts: list[str] = []
        self.deals: dict[str, str] = {}
        self.category: dict[str, str] = {}
        for i in range(contacts):
            address = f"c{i}@customer.example"
            contact_id = self.zoho.add_contact(address, first_name=f"C{i}", company="Customer")
            kind = ("open", "won", "closing")[i % 3]
            self.deals[address] = self.zoho.add_deal(f"Deal {i}", stage=STAGES[kind], contact_id=contact_id,
                                                     closing_date=self._closing(kind))
            self.category[address] = kind
            self.contacts.append(address)

        ids = seed_mailboxes(self.engine, TokenCipher([self.key]), self.gmail, CLIENT_ID, mailboxes, labels=True)
        with self.engine.begin() as connection:
            rows = connection.execute(sa.text("SELECT id, email_address, slack_user_id FROM gmail_accounts "
                                              "ORDER BY id")).all()
        self.mailboxes = {row[1]: (row[0], row[2]) for row in rows}
        self.digest_ids = ids[:digest_mailboxes]
        for address, (_, user_id) in self.mailboxes.items():
            self.slack.add_user(TEAM, user_id, email=address.replace("gmail.example", "crm.example"))
        self.sent: dict[tuple[str, str], str | None] = {}  # (mailbox, gmail id) -> contact address (None: stranger)
        self.filed: dict[tuple[str, str], str | None] = {}  # the same for mail already there: filed, never alerted
        self.crm_lock = threading.Lock()  # held by a CRM change in Zoho, and by a month turn (scenarios.py)
        self.crm_changes: list[tuple[float, str, str]] = []  # (when, contact, category it moved to)
        self.crm_frozen: set[str] = set()  # contacts whose deals no longer change (a month turn must move them alone)
        self.replicas = [Replica(f"r{i + 1}", free_port()) for i in range(replicas)]
        self.kills = 0
        self._generation = 0
        self._traffic: threading.Thread | None = None
        self._traffic_stop = threading.Event()

    @staticmethod
    def _closing(kind: str) -> str:
        today = datetime.now(timezone.utc).date()
        return today.isoformat() if kind == "closing" else date(2099, 1, 15).isoformat()

    # -- replicas ----------------------------------------------------------------------------

    def env(self, replica: Replica, application_name: str, failpoints: str) -> dict[str, str]:
        counting = ",".join(f"{point}=count" for point in POINTS if point + "=" not in failpoints)
        return {
            **os.environ,
            "DATABASE_URL": f"{self.database_url}?application_name={application_name}",
            "SLACK_BOT_TOKEN": self.slack.default_team().bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.api_url, "GOOGLE_CLIENT_ID": CLIENT_ID, "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
            "GOOGLE_AUTH_URI": self.gmail.auth_uri, "GOOGLE_TOKEN_URI": self.gmail.token_uri,
            "GOOGLE_REVOKE_URI": self.gmail.revoke_uri, "GMAIL_API_URL": self.gmail.url,
            "TOKEN_ENCRYPTION_KEYS": self.key, "PUBLIC_URL": replica.url,
            "PUBSUB_VERIFICATION_TOKEN": PUSH_TOKEN,
            "ZOHO_CLIENT_ID": ZOHO_CLIENT_ID, "ZOHO_CLIENT_SECRET": ZOHO_CLIENT_SECRET,
            "ZOHO_REFRESH_TOKEN": self.zoho_refresh_token, "ZOHO_ACCOUNTS_URL": self.zoho.accounts_url,
            "ZOHO_API_URL": self.zoho.api_url, "CRM_SYNC_INTERVAL_SECONDS": "2",
            "SYNC_INTERVAL_SECONDS": "2", "LABEL_INTERVAL_SECONDS": "2", "LEASE_SECONDS": str(self.lease_seconds),
            "DIGEST_INTERVAL_MINUTES": "1", "GMAIL_RETRY_BASE_SECONDS": "0.05", "GMAIL_TIMEOUT_SECONDS": "3",
            "SLACK_TIMEOUT_SECONDS": "3", "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING",
            "MAILMAGNET_FAILPOINTS": ",".join(filter(None, [failpoints, counting])),
            "MAILMAGNET_FAILPOINT_LOG": str(self.hit_log),
            **self.extra_env,
        }

    def start(self, replica: Replica, failpoints: str = "") -> None:
        self._generation += 1
        application_name = f"fleet-{replica.name}-{self._generation}"
        replica.log_path = self.workdir / f"{application_name}.log"
        log = open(replica.log_path, "w")
        replica.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(replica.port)],
            env=self.env(replica, application_name, failpoints), stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        replica.incarnations[replica.process.pid] = application_name

    # Starting is importing the app and answering /readyz: seconds on a quiet machine, but one process among
    # forty runnable ones on two cores was seen needing over a minute (a start, not a result, being timed).
    def start_all(self, timeout: float = 180) -> None:
        for replica in self.replicas:
            self.start(replica)
        for replica in self.replicas:
            self.wait_ready(replica, timeout)

    def wait_ready(self, replica: Replica, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.readyz(replica) == 200:
                return
            if not replica.alive:
                raise RuntimeError(f"{replica.name} exited: {self.log_tail(replica)}")
            time.sleep(0.1)
        raise RuntimeError(f"{replica.name} not ready in {timeout} s: {self.log_tail(replica)}")

    def readyz(self, replica: Replica) -> int | None:
        try:
            with urllib.request.urlopen(f"{replica.url}/readyz", timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def kill(self, replica: Replica) -> None:
        if replica.alive:
            replica.process.send_signal(signal.SIGKILL)
            self.kills += 1
        if replica.process is not None:
            replica.process.wait(timeout=30)

    def died_by_kill(self, replica: Replica) -> bool:
        """The replica is gone, killed by SIGKILL (a failpoint's or ours)."""
        return replica.process is not None and replica.process.poll() == -signal.SIGKILL

    def stop_all(self) -> None:
        for replica in self.replicas:
            if replica.alive:
                replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            if replica.process is not None:
                try:
                    replica.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    replica.process.kill()
                    replica.process.wait(timeout=10)

    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    def log_tail(self, replica: Replica, chars: int = 3000) -> str:
        try:
            return replica.log_path.read_text(errors="replace")[-chars:]
        except (OSError, AttributeError):
            return ""

    # -- what the world does -----------------------------------------------------------------

    def crm_loaded(self) -> bool:
        with self.engine.connect() as connection:
            contacts = connection.execute(sa.text("SELECT count(*) FROM contacts")).scalar()
        return contacts >= len(self.contacts)

    def mail(self, *, stranger: bool = False) -> str:
        mailbox = self.rng.choice(sorted(self.mailboxes))
        contact = None if stranger else self.rng.choice(self.contacts)
        sender = contact or f"someone{self.rng.randrange(10**6)}@elsewhere.example"
        gmail_id = self.gmail.insert_message(mailbox, sender=f"Sender <{sender}>", to=mailbox,
                                             subject=f"Message {len(self.sent)}", body="Hello")
        self.sent[(mailbox, gmail_id)] = contact
        return mailbox

    def push(self, mailbox: str) -> None:
        """A Pub/Sub push for the mailbox, to a live replica picked at random (the query-token fallback)."""
        live = self.live()
        if not live:
            return
        data = base64.b64encode(json.dumps({"emailAddress": mailbox,
                                            "historyId": int(self.gmail.history_id(mailbox))}).encode()).decode()
        body = json.dumps({"message": {"data": data, "messageId": str(self.rng.randrange(10**9))},
                           "subscription": "projects/fleet/subscriptions/gmail"}).encode()
        request = urllib.request.Request(f"{self.rng.choice(live).url}/gmail/push?token={PUSH_TOKEN}", data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError:
            pass  # the replica died meanwhile: Pub/Sub would deliver again; polling picks it up anyway

    def slack_command(self) -> None:
        """`/gmail status` from a rep, signed, to a live replica picked at random."""
        live = self.live()
        if not live:
            return
        _, user_id = self.mailboxes[self.rng.choice(sorted(self.mailboxes))]
        driver = SlackDriver(f"{self.rng.choice(live).url}/slack/events", SIGNING_SECRET, self.slack,
                             deliver_lifecycle_events=False, timeout=10)
        try:
            driver.slash_command(user_id, "/gmail", "status")
        except OSError:
            pass
        finally:
            driver.close()

    def change_crm(self) -> None:
        """A deal changes stage (or closing date) in Zoho: its contact's mail moves to another label."""
        with self.crm_lock:
            changeable = [c for c in self.contacts if c not in self.crm_frozen]
            if not changeable:
                return
            contact = self.rng.choice(changeable)
            kind = self.rng.choice([k for k in STAGES if k != self.category[contact]])
            self.zoho.edit_record("Deals", self.deals[contact], Stage=STAGES[kind], Closing_Date=self._closing(kind))
            self.category[contact] = kind
            self.crm_changes.append((round(time.time(), 2), contact, kind))

    def toggle_quiet_hours(self, quiet: bool) -> None:
        """The digest mailboxes' reps open or close their quiet hours: alerts queue, then go out as a digest."""
        now = datetime.now(timezone.utc)
        minute = now.hour * 60 + now.minute
        start, end = ((minute - 60) % 1440, (minute + 60) % 1440) if quiet else (None, None)
        with self.engine.begin() as connection:
            connection.execute(sa.text("UPDATE gmail_accounts SET quiet_start_minute = :s, quiet_end_minute = :e "
                                       "WHERE id = ANY(:ids)"), {"s": start, "e": end, "ids": self.digest_ids})

    def start_traffic(self, *, mail_per_second: float = 4.0, stranger_share: float = 0.1,
                      crm_every: float = 3.0, commands_every: float = 1.0, quiet_every: float = 2.0) -> None:
        """Mail, pushes, Slack commands, CRM changes and quiet hours, on a thread, until `stop_traffic`."""
        self._traffic_stop.clear()

        def run() -> None:
            next_crm = next_command = next_quiet = time.monotonic()
            quiet = False
            while not self._traffic_stop.is_set():
                now = time.monotonic()
                mailbox = self.mail(stranger=self.rng.random() < stranger_share)
                if self.rng.random() < 0.7:
                    self.push(mailbox)
                if now >= next_crm:
                    self.change_crm()
                    next_crm = now + crm_every
                if now >= next_command:
                    self.slack_command()
                    next_command = now + commands_every
                if now >= next_quiet:
                    try:
                        self.toggle_quiet_hours(not quiet)
                        quiet = not quiet
                    except sa.exc.OperationalError:
                        pass  # PostgreSQL is down (a scenario restarts it): the reps try again later
                    next_quiet = now + quiet_every
                self._traffic_stop.wait(self.rng.expovariate(mail_per_second))

        self._traffic = threading.Thread(target=run, name="fleet-traffic", daemon=True)
        self._traffic.start()

    def stop_traffic(self) -> None:
        self._traffic_stop.set()
        if self._traffic is not None:
            self._traffic.join(timeout=30)
        self.toggle_quiet_hours(False)  # the queued alerts go out as digests

    # -- faults ------------------------------------------------------------------------------

    def gmail_faults(self, rate: float, seed: int) -> None:
        statuses = (429, 403, 500, 503, "drop", "timeout")
        for index, status in enumerate(statuses):
            self.gmail.add_fault(GmailFault(rate=rate / len(statuses), status=status, seed=seed + index,
                                            timeout_seconds=4.0))

    def slack_faults(self, rate: float, seed: int) -> None:
        kinds = ((429, True), (500, True), (500, False), ("reset", True), ("drop", True), ("timeout", True))
        for index, (status, accepted) in enumerate(kinds):
            self.slack.add_fault(SlackFault(method="*", rate=rate / len(kinds), status=status, accepted=accepted,
                                            seed=seed + index, timeout_seconds=4.0))

    def zoho_latency(self) -> None:
        self.zoho.inject(ZohoFault(path="*", status=None, latency_ms=int(self.latency_ms), rate=1.0))

    def clear_faults(self) -> None:
        self.gmail.clear_faults()
        self.slack.clear_faults()

    def close(self) -> None:
        self.stop_traffic()
        self.stop_all()
        self.engine.dispose()
        for emulator in (self.gmail, self.slack, self.zoho):
            emulator.stop()
        if not os.environ.get("MAILMAGNET_KEEP_FLEET_LOGS"):
            shutil.rmtree(self.workdir, ignore_errors=True)

"""capacity.* (SPEC §8): how much contact mail one `mailmagnet serve` replica turns into alerts in time, what its CPU
costs per alert next to a script making the same calls, and how it comes back from twice that load.

The scene is `alerts.e2e_push_p99_ms`'s: 150 ms (± 20) on every Gmail and Slack call, Pub/Sub delivering each push
500 ms late, Slack's per-channel post limit on, alerts and labels on, and 1,000 other mailboxes polled meanwhile at
the default SYNC_INTERVAL_SECONDS (their watch backing off, as after a failed `users.watch`). The Gmail and the
Slack emulator each run in a process of their own (benchmarks/emulator_process.py) and `serve` in another, so the
CPU /proc gives for `serve` is its own.

Contact mail goes to PUSHING reps in turn (Poisson arrivals), each rep's alerts to their DM: 200 reps keep every
DM under Slack's one post a second up to 200 messages a second. The reps' labels exist already and their label
runs (every LABEL_INTERVAL_SECONDS, the default) are spread over the interval, as in a company whose reps did not
all connect in the same second; each label run files what the pushes marked.

- `capacity.messages_per_second`: the rate is stepped (BENCH_CAPACITY_RATES), each step at least 30 s and 500
  messages; a step passes when the p99 from a message landing in Gmail to its alert being in Slack is ≤ 1,500 ms
  and every alert arrived. A step that fails is run once more and counts as its second attempt (the first is kept
  in the step as `first_attempt`): on a shared machine one stall of the host fails a 30-second step, and each step
  reports the machine's iowait and steal beside its load. The figure is the highest rate passed with every lower
  step passed too. Between steps
  the benchmark waits until every alert is in, so each step starts from an empty queue. It stops one step after
  the first that fails (the knee is then visible) and prints every step.
- `capacity.cpu_over_minimal`: `serve`'s CPU seconds per alert at the capacity step (utime + stime from /proc,
  over the step and its drain; the polling of the 1,000 mailboxes included, since `serve` does it) over the CPU
  per alert of benchmarks/minimal_push_path.py run afterwards at the same rate against the same emulators. Also
  shown: `serve`'s figure less its CPU while only polling (`cpu_over_minimal_push_only`), and `serve`'s figure over
  the minimal script keeping the rows a push run keeps in SQLite (`cpu_over_minimal_with_store`,
  benchmarks/minimal_store.py; run third, its own reps): how much of the gap is the database's own work.
- `capacity.overload_recovery_seconds`: twice the capacity for 60 s, then the normal rate for 120 s: the SPEC's
  reference load of 25 a second, or half the capacity when that is lower (at the capacity itself the p99 sits at
  the target and a backlog has no room to drain). Reported: from the end of the overload until the p99 of every
  later 10-second window (by arrival) is ≤ 1,500 ms. Then every alert must arrive, once: `overload_lost`,
  `overload_duplicated` (and the same over the whole run: `lost`, `duplicated`).

The machine is shared in development: each step reports the 1-minute load average beside its figures, and the
emulators' CPU. `python -m benchmarks.capacity --profile SECONDS [--rate R]` runs `serve` through
benchmarks/_serve_instrumented.py at one steady rate instead, and reports SQL statements, transactions and waits
per alert, and a py-spy profile when py-spy is installed (written to benchmarks/.data/).

Settings: BENCH_CAPACITY_RATES (comma-separated), BENCH_CAPACITY_POLLED (1000), BENCH_CAPACITY_PUSHING (200),
BENCH_CAPACITY_STEP_SECONDS (30), BENCH_CAPACITY_DATABASE (sqlite | postgres).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.common import emit, median, percentile, postgres_server_url
from benchmarks.emulator_process import EmulatorProcess, process_cpu_seconds
from benchmarks.serve_process import prepare
from crm_store.categories import Category, LabelNames
from crm_store.models import GmailAccount, utcnow
from gmail.tokens import TokenCipher
from testsupport.mailboxes import seed_mailboxes
from testsupport.stack import free_port

TOPIC = "projects/mailmagnet-bench/topics/capacity"
MINIMAL_TOPIC = "projects/mailmagnet-bench/topics/minimal"
TOKEN = "bench-capacity-push-token"
CLIENT_ID, CLIENT_SECRET = "capacity.apps.googleusercontent.com", "capacity-secret"
CONTACT = "jane@acme.example"

RATES = [float(r) for r in os.environ.get("BENCH_CAPACITY_RATES", "10,20,30,40,50,60,80,100").split(",")]
POLLED = int(os.environ.get("BENCH_CAPACITY_POLLED", "1000"))
PUSHING = int(os.environ.get("BENCH_CAPACITY_PUSHING", "200"))
STEP_SECONDS = float(os.environ.get("BENCH_CAPACITY_STEP_SECONDS", "30"))
STEP_SAMPLES = int(os.environ.get("BENCH_CAPACITY_STEP_SAMPLES", "500"))
DATABASE = os.environ.get("BENCH_CAPACITY_DATABASE", "sqlite")
LATENCY_MS, JITTER_MS, PUSH_DELAY_S = 150, 20, 0.5
TARGET_P99_MS = 1500
OVERLOAD_SECONDS = float(os.environ.get("BENCH_CAPACITY_OVERLOAD_SECONDS", "60"))
NORMAL_SECONDS = float(os.environ.get("BENCH_CAPACITY_NORMAL_SECONDS", "120"))
WINDOW_SECONDS = 10
IDLE_SECONDS = float(os.environ.get("BENCH_CAPACITY_IDLE_SECONDS", "60"))  # a whole polling cycle
REFERENCE_RATE = 25.0  # alerts.e2e_push_p99_ms's load: the "normal rate" after the overload
LABEL_INTERVAL_SECONDS = 600  # the product's default; the reps' label runs are spread over it
DRAIN_SECONDS = 180  # the longest the benchmark waits for a step's alerts
MINIMAL_SECONDS = float(os.environ.get("BENCH_CAPACITY_MINIMAL_SECONDS", "40"))


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def machine_ticks() -> dict[str, int]:
    """The machine's CPU time so far, all cores (/proc/stat, in ticks): iowait (cores idle while the disk is awaited)
    and steal (the hypervisor ran another guest) tell a stall of the machine from one of `serve`."""
    with open("/proc/stat") as stat:
        fields = [int(n) for n in stat.readline().split()[1:9]]
    return {"all": sum(fields), "iowait": fields[4], "steal": fields[7]}


def machine_share(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    total = max(1, after["all"] - before["all"])
    return {f"machine_{key}_percent": round(100 * (after[key] - before[key]) / total, 1) for key in ("iowait", "steal")}


@dataclass
class Alerts:
    """Every contact message sent, when it landed in Gmail, and when (and how often) its alert reached Slack."""

    slack: EmulatorProcess
    sent: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    posts: dict[str, int] = field(default_factory=dict)
    post_called: dict[str, float] = field(default_factory=dict)  # when its chat.postMessage reached Slack
    address: dict[str, str] = field(default_factory=dict)

    def look(self) -> None:
        for gmail_id, at, ok, called in self.slack.helper("new_alert_posts"):
            if ok:
                self.posts[gmail_id] = self.posts.get(gmail_id, 0) + 1
                self.received.setdefault(gmail_id, at)
                self.post_called.setdefault(gmail_id, called)

    def wait_for(self, ids: list[str], timeout: float) -> float:
        """Until every alert of `ids` is in Slack (or `timeout`); returns the time the last one arrived, or now."""
        deadline = time.monotonic() + timeout
        while True:
            self.look()
            missing = [i for i in ids if i not in self.received]
            if not missing or time.monotonic() > deadline:
                return max((self.received[i] for i in ids if i in self.received), default=time.time()) \
                    if not missing else time.time()
            time.sleep(0.25)

    def latencies_ms(self, ids: list[str]) -> list[float]:
        """Per message, ms from landing in Gmail to its alert in Slack; an alert that never came counts as infinite."""
        return [(self.received[i] - self.sent[i]) * 1000 if i in self.received else float("inf") for i in ids]


class Sender:
    """Contact mail to the reps in turn, Poisson arrivals at a given rate."""

    def __init__(self, gmail: EmulatorProcess, alerts: Alerts, addresses: list[str], seed: int = 5):
        self.gmail, self.alerts, self.addresses = gmail, alerts, addresses
        self.rng = random.Random(seed)
        self.count = 0

    def send(self, rate: float, seconds: float) -> list[str]:
        ids = []
        started = time.monotonic()
        due = started
        next_look = started + 1.0
        while True:
            due += self.rng.expovariate(rate)
            if due - started >= seconds:
                break
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            address = self.addresses[self.count % len(self.addresses)]
            gmail_id, landed = self.gmail.helper("insert_contact_mail", address, f"Message {self.count}")
            self.alerts.sent[gmail_id] = landed
            self.alerts.address[gmail_id] = address
            ids.append(gmail_id)
            self.count += 1
            if time.monotonic() >= next_look:  # read Slack's posts as they come: the end of the step reads less
                self.alerts.look()
                next_look = time.monotonic() + 1.0
        pause = started + seconds - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        return ids


@dataclass
class Cpu:
    """CPU seconds of the processes that matter, read together."""

    pids: dict[str, int]

    def read(self) -> dict[str, float]:
        return {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}


STAGES = ("pubsub_delay", "push_answered", "push_to_history_call", "history_answer_to_batch_call",
          "batch_answer_to_post_call", "post")


def stage_times(gmail: EmulatorProcess, alerts: Alerts, ids: list[str]) -> dict[str, list[float]]:
    """Where each alert's time went (ms), from the emulators' recordings: Pub/Sub's delay; `serve` answering the
    push; from the push to the mailbox's `history.list` (HTTP, the claim, a thread, the run's first reads); from
    Gmail's answer to the metadata `/batch`; from that answer to `chat.postMessage` (recording the messages and
    alerts, the reads and the stamp before a post); Slack's answer. What is not Gmail's or Slack's latency is
    `serve`'s work and its queues."""
    done = [i for i in ids if i in alerts.received and i in alerts.post_called]
    times = gmail.helper("push_path_times", [(alerts.address[i], alerts.sent[i]) for i in done])
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for gmail_id, (push, answered, history, history_ms, batch, batch_ms) in zip(done, times):
        if None in (push, answered, history, history_ms, batch, batch_ms) or not \
                alerts.sent[gmail_id] <= push <= history <= batch <= alerts.post_called[gmail_id]:
            continue  # coalesced with another push, or picked up by another run: not one path
        stages["pubsub_delay"].append(1000 * (push - alerts.sent[gmail_id]))
        stages["push_answered"].append(1000 * (answered - push))
        stages["push_to_history_call"].append(1000 * (history - push))
        stages["history_answer_to_batch_call"].append(1000 * (batch - history) - history_ms)
        stages["batch_answer_to_post_call"].append(1000 * (alerts.post_called[gmail_id] - batch) - batch_ms)
        stages["post"].append(1000 * (alerts.received[gmail_id] - alerts.post_called[gmail_id]))
    return stages


def figures_of(latencies: list[float]) -> dict:
    finite = [v for v in latencies if v != float("inf")]
    return {
        "samples": len(latencies),
        "missing": len(latencies) - len(finite),
        "p50_ms": round(median(finite), 1) if finite else None,
        "p99_ms": round(percentile(latencies, 99), 1) if finite and percentile(latencies, 99) != float("inf")
        else None,
        "max_ms": round(max(finite), 1) if finite else None,
    }


# -- the scene -------------------------------------------------------------------------------------------------


def database_url(tmp: Path) -> str:
    if DATABASE == "postgres":
        from sqlalchemy.engine import make_url

        from crm_store.db import normalise_url

        server = make_url(normalise_url(postgres_server_url()))
        name = "mm_bench_capacity"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return server.set(database=name).render_as_string(hide_password=False)
    return f"sqlite:///{tmp / 'capacity.db'}"


def seed(engine, key: str, gmail: EmulatorProcess, slack: EmulatorProcess, team_id: str) -> list[str]:
    """The reps (labels on, their labels made, label runs spread over the interval) and the polled mailboxes."""
    cipher = TokenCipher([key])
    pushing_ids = seed_mailboxes(engine, cipher, gmail, CLIENT_ID, PUSHING, prefix="pushing", labels=True)
    names = LabelNames()
    rng = random.Random(11)
    now = utcnow()
    with engine.begin() as connection:
        for i, account_id in enumerate(pushing_ids):
            address = f"pushing{i}@gmail.example"
            label_ids = {c.value: gmail.create_label(address, names.name_for(c)) for c in Category}
            connection.execute(sa.update(GmailAccount).where(GmailAccount.id == account_id).values(
                label_ids=json.dumps(label_ids), label_ids_checked_at=now,
                next_label_at=now + timedelta(seconds=rng.uniform(0, LABEL_INTERVAL_SECONDS))))
    for i in range(PUSHING):
        slack.add_user(team_id, f"UPUSHING{i:05d}", email=f"pushing{i}@crm.example")
    polled_ids = seed_mailboxes(engine, cipher, gmail, CLIENT_ID, POLLED, prefix="polled")
    with engine.begin() as connection:  # no watch: polled every SYNC_INTERVAL_SECONDS
        connection.execute(sa.update(GmailAccount).where(GmailAccount.id.in_(polled_ids))
                           .values(watch_retry_at=utcnow() + timedelta(days=1)))
    return [f"pushing{i}@gmail.example" for i in range(PUSHING)]


def start_serve(url: str, key: str, gmail: EmulatorProcess, slack: EmulatorProcess, team, port: int, log_path: Path,
                *, instrumented: Path | None = None) -> subprocess.Popen:
    """`serve` with the product's defaults but for where its services are. Its log goes to a file: a pipe nobody
    reads fills up and then blocks every thread that logs."""
    env = {
        **os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": team.bot_token, "SLACK_SIGNING_SECRET": "capacity",
        "SLACK_API_URL": slack.attribute("api_url"), "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET, "GOOGLE_AUTH_URI": gmail.attribute("auth_uri"),
        "GOOGLE_TOKEN_URI": gmail.attribute("token_uri"), "GOOGLE_REVOKE_URI": gmail.attribute("revoke_uri"),
        "GMAIL_API_URL": gmail.attribute("url"), "TOKEN_ENCRYPTION_KEYS": key,
        "PUBLIC_URL": f"http://127.0.0.1:{port}", "GMAIL_PUBSUB_TOPIC": TOPIC, "PUBSUB_VERIFICATION_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    module = "bot.cli"
    if instrumented is not None:
        module = "benchmarks._serve_instrumented"
        env["BENCH_COUNTERS_FILE"] = str(instrumented)
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, "-m", module, "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=log, text=True)
    process.log = log  # type: ignore[attr-defined]
    return process


def stop_serve(process: subprocess.Popen, log_path: Path) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    process.log.close()  # type: ignore[attr-defined]
    lines = log_path.read_text().splitlines()
    if lines:
        print(f"serve logged {len(lines)} lines; the last ones:", *lines[-8:], sep="\n   ", file=sys.stderr)


def wait_until_watched(gmail: EmulatorProcess, process: subprocess.Popen, addresses: list[str], log_path: Path) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if sum(1 for a in addresses if gmail.watch_state(a)) == len(addresses):
            return
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {log_path.read_text()[-3000:]}")
        time.sleep(1)
    raise RuntimeError("the reps' watches were not all made in time")


def set_the_scene(gmail: EmulatorProcess, slack: EmulatorProcess) -> None:
    gmail.set_latency(LATENCY_MS, jitter_ms=JITTER_MS, seed=3)
    slack.set_latency(LATENCY_MS, jitter_ms=JITTER_MS, seed=4)
    gmail.set_push_delay(PUSH_DELAY_S)
    slack.set_channel_post_rate()


# -- the steps -------------------------------------------------------------------------------------------------


def run_step(rate: float, sender: Sender, alerts: Alerts, cpu: Cpu, gmail: EmulatorProcess,
             slack: EmulatorProcess) -> dict:
    seconds = max(STEP_SECONDS, STEP_SAMPLES / rate)
    started_at, before, ticks = time.time(), cpu.read(), machine_ticks()
    ids = sender.send(rate, seconds)
    last = alerts.wait_for(ids, DRAIN_SECONDS)
    after = cpu.read()
    wall = max(last, time.time()) - started_at
    delivered = sum(1 for i in ids if i in alerts.received)
    step = {"rate": rate, "seconds": round(seconds, 1), **figures_of(alerts.latencies_ms(ids)),
            "achieved_rate": round(len(ids) / seconds, 1), "load_avg_1m": load_average(),
            **machine_share(ticks, machine_ticks())}
    step["passed"] = step["missing"] == 0 and step["p99_ms"] is not None and step["p99_ms"] <= TARGET_P99_MS
    serve_cpu = after["serve"] - before["serve"]
    step["serve_cpu_ms_per_alert"] = round(1000 * serve_cpu / max(1, delivered), 2)
    for name in after:
        step[f"{name}_cpu_percent"] = round(100 * (after[name] - before[name]) / wall, 1)
    calls = gmail.helper("gmail_method_counts", started_at, "pushing")
    step["gmail_calls_per_alert"] = {m.removeprefix("gmail.users."): round(n / max(1, delivered), 3)
                                     for m, n in sorted(calls.items())}
    slack_calls = slack.helper("slack_method_counts", started_at)
    step["slack_calls_per_alert"] = {m: round(n / max(1, delivered), 3) for m, n in sorted(slack_calls.items())}
    stages = stage_times(gmail, alerts, ids)
    step["stage_ms_p50_p99"] = {name: [round(median(v), 1), round(percentile(v, 99), 1)] if v else None
                                for name, v in stages.items()}
    step["stage_samples"] = len(stages["post"])
    return step


def print_step(step: dict) -> None:
    print(f"   {step['rate']:5.0f}/s: {step['samples']} alerts, p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms, "
          f"max {step['max_ms']} ms, missing {step['missing']}; serve CPU {step['serve_cpu_percent']}% "
          f"({step['serve_cpu_ms_per_alert']} ms/alert), Gmail emulator {step['gmail_cpu_percent']}%, Slack "
          f"emulator {step['slack_cpu_percent']}%; load {step['load_avg_1m']}, iowait "
          f"{step['machine_iowait_percent']}%, steal {step['machine_steal_percent']}% -> "
          f"{'pass' if step['passed'] else 'FAIL'}", file=sys.stderr, flush=True)
    print("          stages p50/p99 ms: " + ", ".join(f"{name} {v[0]:.0f}/{v[1]:.0f}" for name, v in
                                                    step["stage_ms_p50_p99"].items() if v), file=sys.stderr, flush=True)


def window_p99s(sent: dict[str, float], latencies_ms: dict[str, float], start: float, end: float,
                width: float = WINDOW_SECONDS, step: float = 1.0) -> list[tuple[float, float]]:
    """(offset from `start`, p99) of each `width`-second window of messages by the time they landed, sliding by
    `step` until `end`. An empty window is on target; an alert that never came is infinitely late."""
    windows = []
    offset = 0.0
    while start + offset + width <= end + 1e-9:
        inside = [latencies_ms[i] for i, at in sent.items() if start + offset <= at < start + offset + width]
        windows.append((offset, percentile(inside, 99) if inside else 0.0))
        offset += step
    return windows


def recovered_after(windows: list[tuple[float, float]], target_ms: float = TARGET_P99_MS) -> float | None:
    """The first offset from which every window is on target; None when the last one is not."""
    recovered = None
    for offset, p99 in reversed(windows):
        if p99 > target_ms:
            break
        recovered = offset
    return recovered


def overload(rate: float, normal: float, sender: Sender, alerts: Alerts) -> dict:
    """Twice the capacity for a minute, then the normal rate: when is the p99 back under the target for good?"""
    over_ids = sender.send(rate, OVERLOAD_SECONDS)
    overload_end = time.time()
    normal_ids = sender.send(normal, NORMAL_SECONDS)
    alerts.wait_for(over_ids + normal_ids, DRAIN_SECONDS)
    latencies = dict(zip(normal_ids, alerts.latencies_ms(normal_ids)))
    windows = window_p99s({i: alerts.sent[i] for i in normal_ids}, latencies, overload_end,
                          overload_end + NORMAL_SECONDS)
    recovered = recovered_after(windows)
    over = figures_of(alerts.latencies_ms(over_ids))
    after = figures_of(alerts.latencies_ms(normal_ids))
    return {
        "overload_rate": rate, "overload_seconds": OVERLOAD_SECONDS, "overload_normal_rate": normal,
        "overload_recovered": recovered is not None,
        "overload_recovery_seconds": round(recovered, 1) if recovered is not None else float(NORMAL_SECONDS),
        "overload_p99_ms_during": over["p99_ms"], "overload_max_ms_during": over["max_ms"],
        "overload_p99_ms_after": after["p99_ms"],
        "overload_lost": over["missing"] + after["missing"],
        "overload_duplicated": sum(1 for i in over_ids + normal_ids if alerts.posts.get(i, 0) > 1),
        "overload_window_p99_ms_every_10s": [(round(o), round(p) if p != float("inf") else None)
                                             for o, p in windows[::10]],
        "overload_load_avg_1m": load_average(),
    }


# -- the minimal script ----------------------------------------------------------------------------------------


def watch(gmail_url: str, token: str, topic: str) -> None:
    request = urllib.request.Request(gmail_url + "gmail/v1/users/me/watch", method="POST",
                                     data=json.dumps({"topicName": topic, "labelIds": ["INBOX"]}).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def run_minimal(rate: float, gmail: EmulatorProcess, slack: EmulatorProcess, team, tmp: Path, *,
                store: bool = False) -> dict:
    """benchmarks/minimal_push_path.py, its own process, its own reps, the same emulators, the same rate; `store`:
    its "with store" variant (benchmarks/minimal_store.py), figures named minimal_with_store_*."""
    gmail.set_latency(0)
    slack.set_latency(0)
    port = free_port()
    who, key, topic = ("stored", "minimal_with_store", MINIMAL_TOPIC + "-stored") if store else \
        ("minimal", "minimal", MINIMAL_TOPIC)
    gmail.create_push_subscription(topic, f"http://127.0.0.1:{port}/push")
    names = LabelNames()
    rng = random.Random(11)
    mailboxes = []
    for i in range(PUSHING):
        address, user = f"{who}{i}@gmail.example", f"U{who.upper()}{i:05d}"
        gmail.add_user(address)
        token = gmail.issue_tokens(address, CLIENT_ID)["access_token"]
        watch(gmail.attribute("url"), token, topic)
        label_id = gmail.create_label(address, names.open_deals)
        slack.add_user(team.id, user, email=f"{who}{i}@crm.example")
        mailboxes.append({"account_id": 100_000 + i, "address": address, "token": token,
                          "slack_user": user, "history_id": gmail.history_id(address),
                          "label_id": label_id, "first_label_run_in": rng.uniform(0, LABEL_INTERVAL_SECONDS)})
    config = {"gmail_api_url": gmail.attribute("url"), "slack_api_url": slack.attribute("api_url"),
              "slack_token": team.bot_token, "port": port, "contacts": [CONTACT], "mailboxes": mailboxes,
              "label_interval_seconds": LABEL_INTERVAL_SECONDS}
    if store:
        config["store"] = str(tmp / "minimal-store.db")
    config_path = tmp / f"{who}.json"
    config_path.write_text(json.dumps(config))
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.minimal_push_path", str(config_path)],
                               stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(process.stdout.readline())
        assert ready.get("ready") == port, ready
        set_the_scene(gmail, slack)
        alerts = Alerts(slack)
        alerts.look()  # forget serve's posts
        alerts.posts.clear()
        alerts.received.clear()
        sender = Sender(gmail, alerts, [m["address"] for m in mailboxes], seed=7)
        cpu = Cpu({who: process.pid})
        started_at, before = time.time(), cpu.read()
        ids = sender.send(rate, max(MINIMAL_SECONDS, STEP_SAMPLES / rate))
        alerts.wait_for(ids, DRAIN_SECONDS)
        used = cpu.read()[who] - before[who]
        delivered = sum(1 for i in ids if i in alerts.received)
        calls = gmail.helper("gmail_method_counts", started_at, who)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=60)
    figures = figures_of(alerts.latencies_ms(ids))
    return {f"{key}_rate": rate, f"{key}_cpu_ms_per_alert": round(1000 * used / max(1, delivered), 2),
            f"{key}_p50_ms": figures["p50_ms"], f"{key}_p99_ms": figures["p99_ms"],
            f"{key}_missing": figures["missing"], f"{key}_load_avg_1m": load_average(),
            f"{key}_gmail_calls_per_alert": {m.removeprefix("gmail.users."): round(n / max(1, delivered), 3)
                                             for m, n in sorted(calls.items())},
            f"{key}_counts": json.loads(out.strip().splitlines()[-1]) if out.strip() else None}


# -- the run ---------------------------------------------------------------------------------------------------


def machine_line() -> str:
    from benchmarks.run_all import machine

    info = machine()
    return f"{info['cpu_count']} cores, {info['cpu']}, Python {info['python']}"


def capacity_run() -> dict:
    print(f"capacity on {machine_line()}; database {DATABASE}; load average {load_average()}", file=sys.stderr,
          flush=True)
    gmail, slack = EmulatorProcess("gmail").start(), EmulatorProcess("slack").start()
    process = None
    tmp = Path(tempfile.mkdtemp(prefix="mm-bench-capacity-"))
    log_path = tmp / "serve.log"
    try:
        url = database_url(tmp)
        engine, key = prepare(url, gmail, CLIENT_ID, CLIENT_SECRET)
        team = slack.default_team()
        reps = seed(engine, key, gmail, slack, team.id)
        engine.dispose()
        port = free_port()
        gmail.create_push_subscription(TOPIC, f"http://127.0.0.1:{port}/gmail/push", verification_token=TOKEN)
        process = start_serve(url, key, gmail, slack, team, port, log_path)
        wait_until_watched(gmail, process, reps, log_path)
        set_the_scene(gmail, slack)
        cpu = Cpu({"serve": process.pid, "gmail": gmail.pid, "slack": slack.pid})
        # A whole polling cycle with no mail: what `serve` spends on polling alone.
        before = cpu.read()
        time.sleep(IDLE_SECONDS)
        after = cpu.read()
        idle_percent = 100 * (after["serve"] - before["serve"]) / IDLE_SECONDS
        print(f"   idle (polling {POLLED} mailboxes, no mail): serve CPU {idle_percent:.1f}%, load {load_average()}",
              file=sys.stderr, flush=True)

        alerts = Alerts(slack)
        sender = Sender(gmail, alerts, reps)
        steps: list[dict] = []
        capacity = 0.0
        failed_at = None
        for rate in RATES:
            step = run_step(rate, sender, alerts, cpu, gmail, slack)
            print_step(step)
            if not step["passed"]:
                # Once more before it counts: on a shared machine one stall of the host (see the step's iowait and
                # steal) fails a 30-second step. Both attempts are kept; the step passes only if the second does.
                again = run_step(rate, sender, alerts, cpu, gmail, slack)
                print_step(again)
                step = {**again, "first_attempt": step}
            steps.append(step)
            if step["passed"] and failed_at is None:
                capacity = rate
            elif not step["passed"]:
                if failed_at is not None:
                    break
                failed_at = rate
        at_capacity = next((s for s in steps if s["rate"] == capacity), steps[0])

        over_rate = 2 * (capacity or RATES[0])
        normal = min(REFERENCE_RATE, (capacity or RATES[0]) / 2)  # at most half: room to drain the backlog
        recovery = overload(over_rate, normal, sender, alerts)
        print(f"   overload {over_rate:.0f}/s for {OVERLOAD_SECONDS} s, then {normal:.0f}/s: back under "
              f"{TARGET_P99_MS} ms after {recovery['overload_recovery_seconds']} s "
              f"(recovered: {recovery['overload_recovered']}), lost {recovery['overload_lost']}, duplicated "
              f"{recovery['overload_duplicated']}; load {recovery['overload_load_avg_1m']}", file=sys.stderr,
              flush=True)
        alerts.wait_for(list(alerts.sent), DRAIN_SECONDS)
        lost = sum(1 for i in alerts.sent if i not in alerts.received)
        duplicated = sum(1 for n in alerts.posts.values() if n > 1)
        stop_serve(process, log_path)
        process = None

        minimal = run_minimal(at_capacity["rate"], gmail, slack, team, tmp)
        print(f"   minimal script at {minimal['minimal_rate']:.0f}/s: {minimal['minimal_cpu_ms_per_alert']} ms CPU "
              f"per alert (serve: {at_capacity['serve_cpu_ms_per_alert']}), p99 {minimal['minimal_p99_ms']} ms; "
              f"load {minimal['minimal_load_avg_1m']}", file=sys.stderr, flush=True)
        stored = run_minimal(at_capacity["rate"], gmail, slack, team, tmp, store=True)
        print(f"   minimal script with its rows in SQLite: {stored['minimal_with_store_cpu_ms_per_alert']} ms CPU per "
              f"alert, p99 {stored['minimal_with_store_p99_ms']} ms; load {stored['minimal_with_store_load_avg_1m']}",
              file=sys.stderr, flush=True)
    finally:
        if process is not None:
            stop_serve(process, log_path)
        gmail.stop()
        slack.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    serve_ms = at_capacity["serve_cpu_ms_per_alert"]
    idle_ms_per_alert = 10 * idle_percent / max(at_capacity["achieved_rate"], 0.1)  # polling CPU per alert there
    minimal_ms = minimal["minimal_cpu_ms_per_alert"]
    stored_ms = stored["minimal_with_store_cpu_ms_per_alert"]
    return {
        "messages_per_second": capacity,
        "cpu_over_minimal": round(serve_ms / minimal_ms, 2) if minimal_ms else None,
        "cpu_over_minimal_push_only": round((serve_ms - idle_ms_per_alert) / minimal_ms, 2) if minimal_ms else None,
        "cpu_over_minimal_with_store": round(serve_ms / stored_ms, 2) if stored_ms else None,
        "overload_recovery_seconds": recovery["overload_recovery_seconds"],
        "serve_cpu_ms_per_alert": serve_ms, "cpu_measured_at_rate": at_capacity["rate"],
        "p99_ms_at_capacity": at_capacity["p99_ms"], "load_avg_1m_at_capacity": at_capacity["load_avg_1m"],
        "serve_idle_cpu_percent": round(idle_percent, 1),
        **minimal, **stored, **recovery,
        "lost": lost, "duplicated": duplicated,
        "first_failing_rate": failed_at, "steps": steps,
        "steps_passed_on_second_attempt": [st["rate"] for st in steps if "first_attempt" in st and st["passed"]],
        "polled_mailboxes": POLLED, "pushing_mailboxes": PUSHING, "database": DATABASE,
        "gmail_and_slack_latency_ms": LATENCY_MS, "pubsub_delay_ms": PUSH_DELAY_S * 1000,
        "machine": machine_line(), "load_avg_1m_at_end": load_average(),
        "target_messages_per_second": 50, "target_cpu_over_minimal": 1.5, "target_overload_recovery_seconds": 60,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=float, metavar="SECONDS",
                        help="instead of the benchmark: one steady rate this long, `serve` instrumented")
    parser.add_argument("--rate", type=float, default=25.0, help="the profile's arrival rate (default 25)")
    args = parser.parse_args(argv)
    if args.profile:
        from benchmarks._capacity_profile import profile_run

        emit("capacity_profile", profile_run(args.rate, args.profile))
        return 0
    emit("capacity", capacity_run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

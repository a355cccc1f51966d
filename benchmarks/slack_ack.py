"""slack.*: the ack and the answer of a slash command while Gmail is slow and the replica is polling (SPEC §8).

Targets: `slack.ack_p99_ms` ≤ 50 and `slack.reply_p99_ms` ≤ 500, with 300 ms on every Gmail call, 100 ms on every
Slack Web API call and response_url post, and 20 commands in flight, through the real HTTP server, measured while a
sync cycle runs in the same process.

- Three processes: the server is `mailmagnet serve` itself (waitress + Bolt + the scheduler) on SQLite; the Gmail
  emulator (and the new mail) runs in the benchmark's process; the Slack emulator and the 20 senders run in a
  process of their own, so neither the load generator nor the Gmail emulator's work for the sweep takes the
  server's interpreter, and the senders' clocks are not held up by the Gmail emulator's.
- The mix is `/gmail status` only: the command that needs exactly one Gmail call (users.getProfile, 1 unit) for
  its answer. 20 senders, each typing the command, waiting for the answer and typing it again: 20 in flight.
  Every command comes from a rep the server has not seen yet (WARMUP + COMMANDS reps, each with a connected
  mailbox that MailMagnet does not poll), so the user cache is cold: each reply waits for users.info as well, as
  it does for a rep who types a command less often than the cache keeps a user (5 minutes). COMMANDS (≥ 1,000)
  are measured after WARMUP; every p99 is from all of them.
- The ack is the HTTP response to the signed slash command, timed by the sender. The reply is the answer's
  posting in the Slack emulator's response_url, from the moment the command was sent. Its floor is what the
  reply waits for in turn: users.info (100 ms), the one Gmail call (300 ms) and the response_url post (100 ms);
  `reply_over_floor_p99_ms` is what is left of the p99 above it (`reply_over_gmail_floor_p99_ms` counts the
  Gmail call only, as earlier runs did).
- Meanwhile: POLLED more connected mailboxes (MailMagnet on) are polled every SYNC_INTERVAL seconds by the same
  server's scheduler (`history.list` in `/batch`, 300 ms too) and MAIL_RATE new messages a second arrive in
  them, half from a CRM contact, so the full pipeline runs as well (stores messages, posts alerts). How many
  sweeps happened during the measurement is in `polling_sweeps_meanwhile`.
- `server_ack_p99_ms`: the server's own view from its `/metrics` histogram (the ack as Bolt sends it, without
  the client's side of the HTTP round trip), over the measured commands only: an upper bucket bound.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


from benchmarks.common import emit, median, percentile
from benchmarks.serve_process import log_tail, prepare
from gmail.tokens import TokenCipher
from testsupport.mailboxes import seed_mailboxes
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackDriver, SlackEmulator
from testsupport.stack import METRICS_TOKEN, free_port

COMMANDS = int(os.environ.get("BENCH_SLACK_COMMANDS", "1000"))
WARMUP = 40
IN_FLIGHT = 20
GMAIL_LATENCY_MS = 300
SLACK_LATENCY_MS = 100
# What a reply waits for in turn: users.info (cold cache), users.getProfile, the response_url post.
REPLY_FLOOR_MS = SLACK_LATENCY_MS + GMAIL_LATENCY_MS + SLACK_LATENCY_MS
POLLED = int(os.environ.get("BENCH_SLACK_POLLED", "400"))
SYNC_INTERVAL = 2  # seconds: the polling sweep runs back to back through the measurement
MAIL_RATE = 10.0  # new messages a second into the polled mailboxes
SIGNING_SECRET = "bench-signing-secret"
CLIENT_ID, CLIENT_SECRET = "slack-ack.apps.googleusercontent.com", "slack-ack-secret"


def slack_id(prefix: str, i: int) -> str:
    return f"U{prefix.upper()}{i:05d}"  # as testsupport.mailboxes links them


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {log_tail(process, 2000)}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("serve did not start")


def ack_buckets(url: str) -> list[tuple[float, float]]:
    """The server's ack histogram for slash commands, from /metrics: (upper bound, cumulative count)."""
    request = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    buckets = []
    for line in text.splitlines():
        if line.startswith("mailmagnet_slack_ack_seconds_bucket{") and 'kind="command"' in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    return sorted(buckets)


def server_ack_p99_ms(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float | None:
    """The smallest bucket bound under which 99% of the acks between two scrapes fell."""
    counted = dict(before)
    delta = [(bound, count - counted.get(bound, 0.0)) for bound, count in after]
    if not delta or not delta[-1][1]:
        return None
    return next(round(bound * 1000, 1) for bound, count in delta if count >= 0.99 * delta[-1][1])


class MailTrickle(threading.Thread):
    """New mail into the polled mailboxes, so the sweep hands some to the full pipeline."""

    def __init__(self, gmail: GmailEmulator, addresses: list[str]):
        super().__init__(name="mail-trickle", daemon=True)
        self.gmail, self.addresses = gmail, addresses
        self.stopping = threading.Event()
        self.sent = 0

    def run(self) -> None:
        rng = random.Random(7)
        while not self.stopping.wait(rng.expovariate(MAIL_RATE)):
            address = rng.choice(self.addresses)
            sender = "Jane <jane@acme.example>" if rng.random() < 0.5 else f"someone{rng.randrange(999)}@else.example"
            self.gmail.insert_message(address, sender=sender, to=address, subject="Hello", body="Hi")
            self.sent += 1


def slack_side(connection, users: list[tuple[str, str]]) -> None:
    """The Slack emulator and the senders, in their own process: answers its parent's two requests."""
    slack = SlackEmulator().start()
    try:
        team = slack.default_team()
        for user_id, email in users:
            slack.add_user(team.id, user_id, email=email)
        slack.set_latency(SLACK_LATENCY_MS)  # every Web API call and response_url post
        connection.send((slack.api_url, team.id, team.bot_token))
        server_url = connection.recv()
        driver = SlackDriver(f"{server_url}/slack/events", SIGNING_SECRET, emulator=slack, team_id=team.id)
        connection.send(send_commands(slack, driver, server_url))
        connection.recv()  # the server has stopped
    finally:
        slack.stop()


def send_commands(slack: SlackEmulator, driver: SlackDriver, server_url: str) -> dict:
    """IN_FLIGHT senders, each typing `/gmail status` as the next rep not seen yet and waiting for its answer before
    the next: WARMUP commands, then COMMANDS measured (the server's histogram is scraped between the two)."""
    samples: list[tuple[float, float]] = []  # (ack ms, reply ms)
    failures: list[str] = []
    lock = threading.Lock()

    def sender(commands, measured: bool) -> None:
        for n in commands:  # shared: the senders take the next rep until none is left
            user_id = slack_id("rep", n)
            started = time.time()
            response = driver.slash_command(user_id, "/gmail", "status")
            if response.status != 200:
                failures.append(f"HTTP {response.status}")
                continue
            try:
                post = slack.first_response_post(response.response_url, timeout=30)
            except TimeoutError as error:
                failures.append(str(error))
                continue
            if "working" not in (post.get("text") or "") + str(post.get("blocks")):
                failures.append(f"unexpected answer: {str(post.get('text'))[:200]}")
            if measured:
                with lock:
                    samples.append((response.elapsed_ms, (post["time"] - started) * 1000))

    def phase(reps: range, measured: bool) -> None:
        commands = iter(reps)
        senders = [threading.Thread(target=sender, args=(commands, measured)) for _ in range(IN_FLIGHT)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()

    phase(range(WARMUP), measured=False)
    before = ack_buckets(server_url)
    started = time.monotonic()
    phase(range(WARMUP, WARMUP + COMMANDS), measured=True)
    seconds = time.monotonic() - started
    measured_reps = {slack_id("rep", n) for n in range(WARMUP, WARMUP + COMMANDS)}
    users_info = sum(1 for call in slack.calls_to("users.info") if call.params.get("user") in measured_reps)
    return {"samples": samples, "failures": failures, "seconds": seconds, "users_info_calls": users_info,
            "server_ack_p99_ms": server_ack_p99_ms(before, ack_buckets(server_url))}


def main() -> int:
    users = [(slack_id(prefix, i), f"{prefix}{i}@crm.example") for prefix, count in (("rep", WARMUP + COMMANDS),
                                                                                       ("polled", POLLED))
             for i in range(count)]
    parent_end, child_end = multiprocessing.Pipe()
    slack_process = multiprocessing.get_context("spawn").Process(target=slack_side, args=(child_end, users),
                                                                  name="slack-side", daemon=True)
    slack_process.start()
    with tempfile.TemporaryDirectory(prefix="mm-bench-slack-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'slack.db'}"
        gmail = GmailEmulator().start()
        process = trickle = None
        try:
            slack_api_url, team_id, bot_token = parent_end.recv()
            engine, key = prepare(database_url, gmail, CLIENT_ID, CLIENT_SECRET)
            cipher = TokenCipher([key])
            # The reps' mailboxes are connected but not polled (MailMagnet off): the polled ones are the sweep.
            seed_mailboxes(engine, cipher, gmail, CLIENT_ID, WARMUP + COMMANDS, prefix="rep", team_id=team_id,
                           magnet=False)
            seed_mailboxes(engine, cipher, gmail, CLIENT_ID, POLLED, prefix="polled", team_id=team_id)
            engine.dispose()
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = {
                **os.environ, "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": bot_token, "METRICS_TOKEN": METRICS_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack_api_url, "GOOGLE_CLIENT_ID": CLIENT_ID,
                "GOOGLE_CLIENT_SECRET": CLIENT_SECRET, "GOOGLE_AUTH_URI": gmail.auth_uri,
                "GOOGLE_TOKEN_URI": gmail.token_uri, "GOOGLE_REVOKE_URI": gmail.revoke_uri,
                "GMAIL_API_URL": gmail.url, "TOKEN_ENCRYPTION_KEYS": key, "PUBLIC_URL": url,
                "SYNC_INTERVAL_SECONDS": str(SYNC_INTERVAL), "LABEL_INTERVAL_SECONDS": "86400",
                "LOG_LEVEL": "WARNING",
            }
            log = tempfile.TemporaryFile(mode="w+", prefix="mm-serve-")  # a pipe nobody reads would block its logging
            process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], env=env,
                                       stdout=subprocess.DEVNULL, stderr=log, text=True)
            process.log = log
            wait_until_serving(url, process)
            polled = [f"polled{i}@gmail.example" for i in range(POLLED)]

            def polled_calls() -> int:
                return sum(1 for c in gmail.calls if c.method == "gmail.users.history.list"
                           and (c.user or "").startswith("polled"))

            deadline = time.monotonic() + 120
            while polled_calls() < POLLED:  # the first sweep is done
                if time.monotonic() > deadline:
                    raise RuntimeError("the first polling sweep did not finish")
                time.sleep(0.2)
            gmail.set_latency(GMAIL_LATENCY_MS)
            trickle = MailTrickle(gmail, polled)
            trickle.start()
            before = polled_calls()
            parent_end.send(url)
            run = parent_end.recv()
            sweeps = (polled_calls() - before) / POLLED
            profile_calls = sum(1 for c in gmail.calls if c.method == "gmail.users.getProfile")
        finally:
            if trickle is not None:
                trickle.stopping.set()
            gmail.set_latency(0)
            if process is not None:
                process.terminate()
                process.wait(timeout=60)
            if slack_process.is_alive():
                parent_end.send("stop")  # whatever it was waiting for, it stops
                slack_process.join(timeout=30)
            gmail.stop()
    samples, failures, seconds = run["samples"], run["failures"], run["seconds"]
    if failures:
        print(f"{len(failures)} commands failed, e.g. {failures[:3]}", file=sys.stderr)
        return 1
    acks = [a for a, _ in samples]
    replies = [r for _, r in samples]
    emit("slack", {
        "mix": "/gmail status only (one users.getProfile each)",
        "samples": len(samples),
        "commands": len(samples),  # measured, after WARMUP (the key earlier runs used)
        "concurrency": IN_FLIGHT,  # commands in flight, each until its answer arrived
        "gmail_latency_ms": GMAIL_LATENCY_MS,
        "slack_latency_ms": SLACK_LATENCY_MS,
        "user_cache": "cold (every command from a rep not seen before)",
        "ack_p50_ms": round(median(acks), 1),
        "ack_p99_ms": round(percentile(acks, 99), 1),
        "ack_max_ms": round(max(acks), 1),
        "server_ack_p99_ms": run["server_ack_p99_ms"],
        "reply_p50_ms": round(median(replies), 1),
        "reply_p99_ms": round(percentile(replies, 99), 1),
        "reply_max_ms": round(max(replies), 1),
        "reply_floor_ms": REPLY_FLOOR_MS,
        "reply_over_floor_p99_ms": round(percentile(replies, 99) - REPLY_FLOOR_MS, 1),
        "reply_gmail_floor_ms": GMAIL_LATENCY_MS,
        "reply_over_gmail_floor_p99_ms": round(percentile(replies, 99) - GMAIL_LATENCY_MS, 1),
        "getprofile_calls_per_command": round(profile_calls / (WARMUP + COMMANDS), 2),
        "users_info_calls_per_command": round(run["users_info_calls"] / len(samples), 2),  # 1: the cache was cold
        "commands_per_second": round(len(samples) / seconds, 1),
        "polled_mailboxes": POLLED,
        "polling_sweeps_meanwhile": round(sweeps, 1),
        "new_messages_meanwhile": trickle.sent if trickle else 0,
        "target_ack_p99_ms": 50,
        "target_reply_p99_ms": 500,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""slack.*: how fast the bot acks slash commands while Gmail is slow (SPEC §8, target ack p99 ≤ 300 ms).

200 /gmail commands that make the bot talk to Gmail (status asks Gmail live, magnet/labels on make a sync due,
connect prepares a Google consent), 20 in flight at a time, through the real HTTP server (waitress + Bolt),
with 300 ms added to every Gmail emulator call. The ack is the HTTP response to the signed slash command; the
reply is the ephemeral answer posted later to the response_url. SQLite, scheduler running.
"""
from __future__ import annotations

import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import emit, median, percentile
from sandbox.stack import (  # both emulators and the real server, on loopback
    authorize_url_in,
    start_stack,
)

COMMANDS = 200
CONCURRENCY = 20
GMAIL_LATENCY_MS = 300
REPS = 20
MIX = ["status", "magnet on", "connect", "labels on", "status", "magnet off", "sharing public subject", "status"]


def rep(n: int) -> tuple[str, str, str]:
    return f"U{n:03d}BENCH", f"rep{n}@crm.example", f"rep{n}@gmail.example"


def connect(stack, user_id: str, gmail: str) -> None:
    """/gmail connect, then the rep's browser through Google's consent to our callback."""
    response = stack.driver.slash_command(user_id, "/gmail", "connect")
    post = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url))[-1]
    status, body = stack.follow_consent(authorize_url_in(post), gmail)
    if status != 200:
        raise RuntimeError(f"could not connect {gmail}: {body[:200]}")


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # 20 in flight on 16 threads is the point
    with tempfile.TemporaryDirectory() as workdir:
        stack = start_stack(f"sqlite:///{Path(workdir) / 'bench.db'}", scheduler=True)
        try:
            for n in range(REPS):
                user_id, email, gmail = rep(n)
                stack.add_rep(user_id, email, gmail=gmail)
                connect(stack, user_id, gmail)
            stack.gmail.set_latency(GMAIL_LATENCY_MS)

            def send(i: int):
                user_id = rep(i % REPS)[0]
                started = time.time()
                response = stack.driver.slash_command(user_id, "/gmail", MIX[i % len(MIX)])
                return started, response

            with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                list(pool.map(send, range(CONCURRENCY)))  # warm-up: first requests load code and connections
                results = list(pool.map(send, range(COMMANDS)))
            failed = [r.status for _, r in results if r.status != 200]
            if failed:
                print(f"{len(failed)} commands were not acked with 200: {failed[:5]}", file=sys.stderr)
                return 1
            acks = [r.elapsed_ms for _, r in results]

            def replied():
                return all(stack.slack.response_url_posts(r.response_url) for _, r in results)

            stack.slack.wait_for(replied, timeout=120, interval=0.1)
            replies = [(stack.slack.response_url_posts(r.response_url)[0]["time"] - started) * 1000
                       for started, r in results]
        finally:
            stack.gmail.set_latency(0)
            stack.stop()
    emit("slack", {
        "ack_p99_ms": round(percentile(acks, 99), 1),
        "ack_p50_ms": round(median(acks), 1),
        "ack_max_ms": round(max(acks), 1),
        "reply_p50_ms": round(median(replies), 1),
        "reply_p99_ms": round(percentile(replies, 99), 1),
        "commands": COMMANDS,
        "concurrency": CONCURRENCY,
        "gmail_latency_ms": GMAIL_LATENCY_MS,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where `serve`'s CPU goes on the push path: `python -m benchmarks.capacity --profile SECONDS [--rate R]`.

The capacity benchmark's scene (benchmarks/capacity.py) at one steady rate, with `serve` started through
benchmarks/_serve_instrumented.py. Over the steady part it reports, per alert: SQL statements by kind,
transactions that wrote and that only read (and on PostgreSQL the server's own count of commits), the waits for a
pooled connection and for the SQLite write gate; and, when py-spy is installed, where the CPU goes (an on-CPU
recording: the functions with the most samples, self and inclusive), how often the interpreter lock was held
(a `--gil` recording next to it), and what the threads were doing (periodic `py-spy dump`s: busy, or waiting, and
on what). Raw recordings are kept in benchmarks/.data/capacity-profile/.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from benchmarks import capacity as scene
from benchmarks.common import DATA_DIR
from benchmarks.emulator_process import EmulatorProcess, process_cpu_seconds
from benchmarks.serve_process import prepare
from testsupport.stack import free_port

OUT = DATA_DIR / "capacity-profile"
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<path>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def short(frame: str) -> str:
    """`function (module path)` without the line number and the install prefix."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["path"]
    for marker in ("site-packages/", "/lib/python3.11/", "/wt/capacity/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['name']} ({path})"


LIBRARIES = ("sqlalchemy", "sqlmodel", "googleapiclient", "httplib2", "google_auth_httplib2", "google/auth",
             "google/oauth2", "slack_sdk", "slack_bolt", "waitress", "flask", "werkzeug", "pydantic",
             "prometheus_client", "cryptography", "bot/", "gmail/", "crm_store/", "usecases/", "handlers/",
             "telemetry/", "benchmarks/")


def library_of(frames: list[str]) -> str:
    """Who a sample's CPU is for: the innermost frame in a library or in our code (the standard library's frames
    count for their caller: a lock wait in SQLAlchemy's pool is SQLAlchemy's)."""
    for frame in reversed(frames):
        path = frame.rsplit("(", 1)[-1]
        for library in LIBRARIES:
            if path.startswith(library) or f"/{library}" in path:
                return library.rstrip("/")
    return "standard library alone"


def summarise_raw(path: Path, top: int = 25) -> dict:
    """py-spy's raw format (`frame;frame;… count` per line, outermost first): the functions with the most samples,
    self (on top of the stack) and inclusive (anywhere in it, counted once per sample)."""
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    product_first: Counter = Counter()  # the innermost frame of our own code in each sample
    libraries: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        self_time[frames[-1]] += n
        libraries[library_of(frames)] += n
        for frame in set(frames):
            inclusive[frame] += n
        ours = [f for f in frames if re.search(r"\((bot|gmail|crm_store|usecases|handlers|telemetry)/", f)]
        if ours:
            product_first[ours[-1]] += n
    share = lambda c: [(name, round(100 * n / max(1, total), 1)) for name, n in c.most_common(top)]  # noqa: E731
    return {"samples": total, "by_library_percent": share(libraries), "self_percent": share(self_time),
            "inclusive_percent": share(inclusive), "innermost_product_frame_percent": share(product_first)}


def thread_states(dumps: list[str]) -> dict:
    """From `py-spy dump` outputs: per thread kind (its name without the number), how many threads were, on average
    per dump, holding the interpreter lock, runnable without it (waiting for it, or in C code that let it go), or
    idle; and the innermost frames of what the idle ones waited on."""
    states: Counter = Counter()
    waits: Counter = Counter()
    for dump in dumps:
        for block in re.split(r"\n(?=Thread )", dump):
            header = block.split("\n", 1)[0]
            match = re.match(r'Thread \S+ \((?P<state>[^)]*)\): "(?P<name>[^"]*)"', header)
            if not match:
                continue
            kind = re.sub(r"[_-]?[0-9_-]*$", "", match["name"]) or match["name"]
            state = "holding the lock" if "gil" in match["state"] else \
                "runnable" if "active" in match["state"] else "idle"
            states[(kind, state)] += 1
            frames = [short(line.strip()) for line in block.split("\n")[1:] if line.strip()]
            if state == "idle" and frames:
                ours = [f for f in frames if re.search(r"\((bot|gmail|crm_store|usecases|handlers)/", f)]
                waits[(kind, frames[0], ours[0] if ours else "")] += 1
    kinds = sorted({k for k, _ in states})
    count = max(1, len(dumps))
    return {
        "dumps": len(dumps),
        "threads_per_dump": {k: {state: round(states[(k, state)] / count, 2)
                                 for state in ("holding the lock", "runnable", "idle")} for k in kinds},
        "top_idle_waits": [f"{kind}: {frame} <- {ours} ({n})" for (kind, frame, ours), n in waits.most_common(20)],
    }


def postgres_commits(url: str) -> int | None:
    if not url.startswith("postgresql"):
        return None
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")).scalar()
    finally:
        engine.dispose()


def counters(path: Path) -> dict:
    for _ in range(20):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    return {"counts": {}, "wait_seconds": {}}


def per_alert(before: dict, after: dict, alerts: int) -> dict:
    counts = {k: after["counts"].get(k, 0) - before["counts"].get(k, 0) for k in after["counts"]}
    waits = {k: after["wait_seconds"].get(k, 0) - before["wait_seconds"].get(k, 0) for k in after["wait_seconds"]}
    n = max(1, alerts)
    statements = {k.removeprefix("statement "): round(v / n, 2)
                  for k, v in sorted(counts.items(), key=lambda kv: -kv[1]) if k.startswith("statement ") and v}
    return {
        "statements_per_alert": round(counts.get("statements", 0) / n, 1),
        "statements_by_kind_per_alert": statements,
        "write_transactions_per_alert": round(counts.get("transactions that wrote", 0) / n, 2),
        "read_transactions_per_alert": round(counts.get("transactions that only read", 0) / n, 2),
        "rollbacks_per_alert": {k: round(v / n, 2) for k, v in counts.items() if k.startswith("rollbacks")},
        "connections_opened_per_alert": round(counts.get("connections opened", 0) / n, 2),
        "waits": {k: {"per_alert": round(counts.get(k, 0) / n, 2), "total_seconds": round(v, 2),
                      "mean_ms": round(1000 * v / max(1, counts.get(k, 0)), 3),
                      **{f"share_{b}": round(counts.get(f"{k} {b}", 0) / max(1, counts.get(k, 0)), 3)
                         for b in ("over 1 ms", "over 10 ms", "over 100 ms", "over 1000 ms")}}
                  for k, v in waits.items()},
    }


def profile_run(rate: float, seconds: float) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    gmail, slack = EmulatorProcess("gmail").start(), EmulatorProcess("slack").start()
    tmp = Path(tempfile.mkdtemp(prefix="mm-bench-capacity-profile-"))
    log_path, counters_path = tmp / "serve.log", tmp / "counters.json"
    process = None
    spy = py_spy()
    try:
        url = scene.database_url(tmp)
        engine, key = prepare(url, gmail, scene.CLIENT_ID, scene.CLIENT_SECRET)
        team = slack.default_team()
        reps = scene.seed(engine, key, gmail, slack, team.id)
        engine.dispose()
        port = free_port()
        gmail.create_push_subscription(scene.TOPIC, f"http://127.0.0.1:{port}/gmail/push",
                                       verification_token=scene.TOKEN)
        process = scene.start_serve(url, key, gmail, slack, team, port, log_path, instrumented=counters_path)
        scene.wait_until_watched(gmail, process, reps, log_path)
        scene.set_the_scene(gmail, slack)
        alerts = scene.Alerts(slack)
        sender = scene.Sender(gmail, alerts, reps)
        sender.send(rate, 15)  # warm: threads started, connections open, caches filled
        time.sleep(3)
        alerts.look()
        first_alerts = len(alerts.received)
        before, commits_before = counters(counters_path), postgres_commits(url)
        cpu_before = process_cpu_seconds(process.pid)
        recordings: list[subprocess.Popen] = []
        dumps: list[str] = []
        if spy:
            third = max(5, int(seconds / 3))
            recordings.append(subprocess.Popen(
                [spy, "record", "--pid", str(process.pid), "--duration", str(third), "--rate", "100", "--nonblocking",
                 "--format", "raw", "--output", str(OUT / "on_cpu.txt")], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        started = time.monotonic()
        ids: list[str] = []
        dump_at = started + seconds / 3 + 2
        gil_started = False
        while time.monotonic() - started < seconds:
            ids += sender.send(rate, 1.0)
            if spy and not gil_started and time.monotonic() - started > seconds / 3 + 1:
                gil_started = True
                recordings.append(subprocess.Popen(
                    [spy, "record", "--pid", str(process.pid), "--duration", str(max(5, int(seconds / 3))), "--rate",
                     "100", "--nonblocking", "--gil", "--format", "raw", "--output", str(OUT / "gil.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if spy and time.monotonic() >= dump_at and time.monotonic() - started > 2 * seconds / 3:
                dumps.append(subprocess.run([spy, "dump", "--pid", str(process.pid), "--nonblocking"],
                                            capture_output=True, text=True).stdout)
                dump_at = time.monotonic() + 1.0
        alerts.wait_for(ids, scene.DRAIN_SECONDS)
        cpu_used = process_cpu_seconds(process.pid) - cpu_before
        stages = scene.stage_times(gmail, alerts, ids)
        after, commits_after = counters(counters_path), postgres_commits(url)
        delivered = len(alerts.received) - first_alerts
        for recording in recordings:
            recording.wait(timeout=120)
        (OUT / "dumps.txt").write_text("\n\n".join(dumps))
    finally:
        if process is not None:
            scene.stop_serve(process, log_path)
        gmail.stop()
        slack.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    figures = scene.figures_of(alerts.latencies_ms(ids))
    result = {
        "rate": rate, "seconds": seconds, "database": scene.DATABASE, "alerts": delivered, **figures,
        "serve_cpu_ms_per_alert_instrumented": round(1000 * cpu_used / max(1, delivered), 2),
        "load_avg_1m": scene.load_average(), "machine": scene.machine_line(),
        **per_alert(before, after, delivered),
        # The write gate held over 100 ms during the measured window (thread, first write, commit's share).
        "long_gate_holds": [h for h in after.get("long_gate_holds", []) if h["at"] >= before.get("time", 0)],
        "stage_ms_p50_p99": {name: [round(scene.median(v), 1), round(scene.percentile(v, 99), 1)] if v else None
                             for name, v in stages.items()},
    }
    if commits_before is not None:
        result["postgres_commits_per_alert"] = round((commits_after - commits_before) / max(1, delivered), 2)
    if spy:
        on_cpu = summarise_raw(OUT / "on_cpu.txt") if (OUT / "on_cpu.txt").exists() else None
        gil = summarise_raw(OUT / "gil.txt") if (OUT / "gil.txt").exists() else None
        result["on_cpu"] = on_cpu
        result["gil_held"] = gil
        result["threads"] = thread_states(dumps)
    return result

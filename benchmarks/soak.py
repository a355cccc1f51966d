"""soak.*: SPEC §9's soak — 500 mailboxes on two real `serve` replicas on a PostgreSQL cluster of their own
(testsupport/fleet.py), in compressed time, for 30 minutes (BENCH_SOAK_SECONDS to shorten it), while mail flows
(pushes and polling), deals change stage in Zoho, reps send `/gmail status` and open and close quiet hours (digests).

Compressed time: SYNC_INTERVAL_SECONDS 10 (default 60), LABEL_INTERVAL_SECONDS 30 (600), CRM_SYNC_INTERVAL_SECONDS
10 (300), LEASE_SECONDS 15 (120), DIGEST_INTERVAL_MINUTES 1 (60). BENCH_SOAK_KILLS=N SIGKILLs a replica N times,
evenly spread (0 by default: a kill restarts the process, and its RSS and descriptors start again from nothing).

Every BENCH_SOAK_SAMPLE_SECONDS (30) it samples: each replica's RSS (/proc/PID/status VmRSS) and open file
descriptors (/proc/PID/fd), the replicas' connections to the database (pg_stat_activity, by application_name: in all
and per replica) and the size of each of the product's tables (pg_total_relation_size; the harness's own write log
left out). A replica opens its DB_POOL_SIZE connections when it starts and no more (crm_store/db.py), so its
connections, and the descriptors they take, are constant from the first sample: no warm-up has to cover a pool
filling. (With a pool that grew on demand and closed what it grew, the count read was whatever a label run held at
the instant of the sample, and samples every 30 s against label runs every 30 s can turn the drift between the
two into a slope.)

Each series gets a least-squares slope per hour over the samples after the warm-up (the first sixth of the run),
with its 95% confidence interval (±2 standard errors; consecutive samples are correlated, so the interval is, if
anything, too narrow). The rule: a series is `flat` (within noise) when the interval spans 0 or when the fitted
growth over the measured window is under 5% of the series' mean there. `processes_flat`: RSS, descriptors and
connections all flat. The same over the second half of the run alone (`second_half_*`,
`processes_flat_second_half`) tells a series still growing from one that grew while pools and caches filled. Tables that hold a row per message, alert,
CRM change or Slack request grow with the traffic by design (retention prunes them after days, beyond a soak):
for every table the growth per message arrived is reported too (`bytes_per_message`).

Then traffic stops and the fleet must settle: the counters of SPEC §9 (lost, duplicated, misfiled, unhandled,
done_twice) must be 0, as in benchmarks/reliability.py.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import threading
import time

import sqlalchemy as sa

from benchmarks.common import emit
from testsupport.fleet import Fleet
from testsupport.pgcluster import PgCluster
from testsupport.scenarios import wait_crm_loaded

SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", 1800))
SAMPLE_SECONDS = float(os.environ.get("BENCH_SOAK_SAMPLE_SECONDS", 30))
KILLS = int(os.environ.get("BENCH_SOAK_KILLS", 0))
MAILBOXES, REPLICAS, CONTACTS = 500, 2, 30
MAIL_PER_SECOND = 3.0
SETTLE_SECONDS = 300
COMPRESSED = {"SYNC_INTERVAL_SECONDS": "10", "LABEL_INTERVAL_SECONDS": "30", "CRM_SYNC_INTERVAL_SECONDS": "10",
              "LEASE_SECONDS": "15", "DIGEST_INTERVAL_MINUTES": "1"}
HARNESS_TABLES = ("fleet_writes", "alembic_version")


def proc_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def proc_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def sample(fleet: Fleet, elapsed: float) -> dict[str, float]:
    """One reading of every series at `elapsed` seconds."""
    point: dict[str, float] = {}
    for replica in fleet.live():
        pid = replica.process.pid
        rss, fds = proc_rss_mb(pid), proc_fds(pid)
        if rss is not None:
            point[f"rss_mb.{replica.name}"] = round(rss, 1)
        if fds is not None:
            point[f"open_fds.{replica.name}"] = fds
    with fleet.engine.connect() as connection:
        by_name = dict(connection.execute(sa.text(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'fleet-%' GROUP BY application_name")).all())
        point["db_connections"] = sum(by_name.values())
        for replica in fleet.live():
            point[f"db_connections.{replica.name}"] = by_name.get(replica.incarnations[replica.process.pid], 0)
        for table, size in connection.execute(sa.text(
                "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables "
                "WHERE schemaname = 'public'")).all():
            if table not in HARNESS_TABLES:
                point[f"table_bytes.{table}"] = size
    point["messages"] = len(fleet.sent)
    point["load_avg_1m"] = os.getloadavg()[0]  # the machine's, not a series: the figures depend on it
    point["elapsed"] = round(elapsed, 1)
    return point


def slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and its standard error."""
    n = len(xs)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if n < 3 or sxx == 0:
        return 0.0, math.inf
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    residuals = sum((y - my - b * (x - mx)) ** 2 for x, y in zip(xs, ys))
    return b, math.sqrt(residuals / (n - 2) / sxx)


def judge(samples: list[dict], warmup: float) -> dict[str, dict]:
    """Per series: slope per hour, its 95% interval, first/last/max, and whether it is flat by the rule above."""
    kept = [s for s in samples if s["elapsed"] >= warmup] or samples
    first, last = kept[0], kept[-1]
    hours = max(1e-9, (last["elapsed"] - first["elapsed"]) / 3600)
    messages_per_hour = (last["messages"] - first["messages"]) / hours
    names = sorted({key for s in kept for key in s} - {"elapsed", "messages", "load_avg_1m"})
    series = {}
    for name in names:
        points = [(s["elapsed"] / 3600, s[name]) for s in kept if name in s]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        per_hour, error = slope(xs, ys)
        low, high = per_hour - 2 * error, per_hour + 2 * error
        mean = statistics.fmean(ys)
        growth = per_hour * (xs[-1] - xs[0]) if len(xs) > 1 else 0.0
        flat = (low <= 0 <= high) or (mean > 0 and abs(growth) < 0.05 * mean) or (mean == 0 and growth == 0)
        entry = {"first": ys[0], "last": ys[-1], "max": max(ys), "samples": len(ys),
                 "slope_per_hour": round(per_hour, 2), "slope_ci95": [round(low, 2), round(high, 2)],
                 "growth_over_window_pct": round(100 * growth / mean, 2) if mean else 0.0, "flat": flat}
        if name.startswith("table_bytes.") and messages_per_hour > 0:
            entry["bytes_per_message"] = round(per_hour / messages_per_hour, 1)
        series[name] = entry
    return series


def run(cluster: PgCluster) -> dict:
    fleet = Fleet(cluster, replicas=REPLICAS, mailboxes=MAILBOXES, contacts=CONTACTS, digest_mailboxes=20, seed=42,
                  database="soak", extra_env=COMPRESSED, lease_seconds=int(COMPRESSED["LEASE_SECONDS"]))
    samples: list[dict] = []
    try:
        fleet.start_all(timeout=180)
        wait_crm_loaded(fleet, timeout=120)
        fleet.start_traffic(mail_per_second=MAIL_PER_SECOND, crm_every=3.0, commands_every=2.0, quiet_every=45.0)
        started = time.monotonic()
        kill_at = [SECONDS * (i + 1) / (KILLS + 1) for i in range(KILLS)]
        while (elapsed := time.monotonic() - started) < SECONDS:
            if kill_at and elapsed >= kill_at[0]:
                kill_at.pop(0)
                replica = fleet.replicas[fleet.kills % len(fleet.replicas)]
                fleet.kill(replica)
                fleet.start(replica)
            samples.append(sample(fleet, elapsed))
            print(f"   soak {elapsed:.0f}s: {samples[-1]}", file=sys.stderr, flush=True)
            time.sleep(max(0.0, SAMPLE_SECONDS - (time.monotonic() - started - elapsed)))
        samples.append(sample(fleet, time.monotonic() - started))
        print(f"   soak last: {samples[-1]}", file=sys.stderr, flush=True)
        fleet.stop_traffic()
        for replica in fleet.replicas:
            fleet.wait_ready(replica, timeout=120)
        outcome = fleet.outcome(settle_timeout=SETTLE_SECONDS)
        rate_limited = sum(fleet.gmail.rate_limited_counts().values())
    finally:
        fleet.close()
    print(f"   soak outcome: {outcome.as_dict()} {outcome.notes}", file=sys.stderr, flush=True)
    return {**{k: v for k, v in outcome.as_dict().items() if k != "hits"},
            "incidents": sum(outcome.counters), "seconds": SECONDS, "sample_seconds": SAMPLE_SECONDS,
            "mailboxes": MAILBOXES, "replicas": REPLICAS, "mail_per_second": MAIL_PER_SECOND,
            "gmail_rate_limited": rate_limited, **summary(samples)}


def summary(samples: list[dict]) -> dict:
    """The series judged after the warm-up, and again over the second half alone (settling or still growing?)."""
    series = judge(samples, warmup=SECONDS / 6)
    for name, late in judge(samples, warmup=SECONDS / 2).items():
        series[name].update({"second_half_slope_per_hour": late["slope_per_hour"],
                             "second_half_slope_ci95": late["slope_ci95"], "second_half_flat": late["flat"]})
    process_series = [name for name in series if not name.startswith("table_bytes.")]
    loads = [s["load_avg_1m"] for s in samples if "load_avg_1m" in s]
    return {"series": series, "load_avg_1m_range": [min(loads), max(loads)] if loads else None,
            "processes_flat": all(series[name]["flat"] for name in process_series),
            "processes_flat_second_half": all(series[name]["second_half_flat"] for name in process_series),
            "not_flat": sorted(name for name, entry in series.items() if not entry["flat"]),
            "rss_mb_max": max((series[n]["max"] for n in series if n.startswith("rss_mb.")), default=None),
            "rss_mb_slope_per_hour": max((series[n]["slope_per_hour"] for n in series if n.startswith("rss_mb.")),
                                         default=None),
            "rss_mb_slope_per_hour_second_half": max(
                (series[n]["second_half_slope_per_hour"] for n in series if n.startswith("rss_mb.")), default=None),
            "open_fds_max": max((series[n]["max"] for n in series if n.startswith("open_fds.")), default=None),
            "db_connections_max": series.get("db_connections", {}).get("max")}


def main() -> None:
    threading.current_thread().name = "soak"
    with PgCluster.create() as cluster:
        figures = run(cluster)
    emit("soak", figures)


if __name__ == "__main__":
    main()

"""reliability.*: SPEC §9 at full size — three real `serve` replicas on a PostgreSQL cluster of their own
(testsupport/pgcluster.py, testsupport/fleet.py, testsupport/scenarios.py), mail, pushes and Slack commands spread across them, CRM changes
arriving from Zoho, digests, latency on every emulated call. One fresh fleet (database) per scenario:

- kill_points: every failpoint armed in turn on the replicas (`point=kill@1..2`), twice per point, each point hit
  at least five times in the run (hits are counted over every replica process);
- random_kills: 20 SIGKILLs of alternating replicas at random moments, each restarted at once;
- faults: 20% of Gmail calls (429, 403, 500, 503, dropped, timed out) and 20% of Slack calls (429 with
  Retry-After, 500 accepted or not, reset, dropped, timed out — accepted then cut) failing while alerts are
  posted and labels filed;
- postgres_restart: PostgreSQL stopped for 5 s under the running fleet, then started (/readyz 503 meanwhile);
- zoho_faults: Zoho failing 30% of calls while deals change stage.

Each prints, per scenario: lost, duplicated, misfiled, unhandled, done_twice (all must be 0), messages, kills,
settled_seconds, hits per failpoint, and `<scenario>_incidents`, the sum of its counters; `incidents` is the sum over
every scenario.
Not measured here (yet): Gmail's per-user rate limit during a backfill and a month turn, overload (see
capacity.overload_*), and the 30-minute soak.
"""
from __future__ import annotations

import sys
import time

from benchmarks.common import emit
from testsupport.scenarios import (
    POINTS,
    Fleet,
    faults_in_flight,
    kill_at_points,
    postgres_restart,
    random_kills,
    wait_crm_loaded,
    zoho_failing,
)
from testsupport.pgcluster import PgCluster

REPLICAS, MAILBOXES, CONTACTS = 3, 12, 15
SETTLE_SECONDS = 180


def scenario(cluster: PgCluster, name: str, drive, *, seed: int) -> dict:
    fleet = Fleet(cluster, replicas=REPLICAS, mailboxes=MAILBOXES, contacts=CONTACTS, digest_mailboxes=3, seed=seed,
                  database=name)
    extra: dict = {}
    try:
        fleet.start_all(timeout=120)
        wait_crm_loaded(fleet)
        fleet.start_traffic(mail_per_second=3.0)
        time.sleep(5)
        extra = drive(fleet) or {}
        time.sleep(5)
        fleet.stop_traffic()
        for replica in fleet.replicas:
            fleet.wait_ready(replica, timeout=120)
        outcome = fleet.outcome(settle_timeout=SETTLE_SECONDS)
    finally:
        fleet.close()
    figures = {**outcome.as_dict(), **extra}
    print(f"   {name}: {figures} {outcome.notes}", file=sys.stderr, flush=True)
    return figures


def main() -> None:
    results: dict[str, dict] = {}
    with PgCluster.create() as cluster:
        results["kill_points"] = scenario(cluster, "kill_points", lambda fleet: {
            "killed_at": kill_at_points(fleet, kills_per_point=2, wait_seconds=30.0)}, seed=1)
        results["random_kills"] = scenario(cluster, "random_kills", lambda fleet: random_kills(fleet, kills=20),
                                           seed=2)
        results["faults"] = scenario(cluster, "faults", lambda fleet: faults_in_flight(fleet, seconds=30.0), seed=3)
        results["postgres_restart"] = scenario(cluster, "postgres_restart",
                                               lambda fleet: postgres_restart(fleet, down_seconds=5.0), seed=4)
        results["zoho_faults"] = scenario(cluster, "zoho_faults", lambda fleet: zoho_failing(fleet, seconds=20.0),
                                          seed=5)
    figures: dict = {}
    counters = ("lost", "duplicated", "misfiled", "unhandled", "done_twice")
    for name, outcome in results.items():
        for key, value in outcome.items():
            figures[f"{name}_{key}"] = value
        figures[f"{name}_incidents"] = sum(outcome[c] for c in counters)
    figures["incidents"] = sum(outcome[c] for outcome in results.values() for c in counters)
    figures["kill_points_min_hits"] = min(results["kill_points"]["hits"][point] for point in POINTS)
    figures["replicas"] = REPLICAS
    figures["mailboxes"] = MAILBOXES
    emit("reliability", figures)


if __name__ == "__main__":
    main()

"""SPEC §9 scenarios: each drives a started `Fleet` (testsupport/fleet.py) with traffic on, then returns what it
saw; the fleet's `outcome()` judges them. Used by tests/reliability/ (small) and benchmarks/reliability.py (full)."""
from __future__ import annotations

import time
from collections import Counter

from sandbox.zoho_emulator.faults import Fault as ZohoFault
from telemetry.failpoints import POINTS
from testsupport.fleet import Fleet, Replica

__all__ = ["POINTS", "Fleet", "wait_crm_loaded", "kill_at_points", "random_kills", "faults_in_flight",
           "zoho_failing", "postgres_restart"]


def wait_crm_loaded(fleet: Fleet, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not fleet.crm_loaded():
        time.sleep(0.2)
    if not fleet.crm_loaded():
        raise RuntimeError("the first Zoho sync did not load the CRM")


def kill_at_points(fleet: Fleet, *, kills_per_point: int = 1, wait_seconds: float = 20.0,
                   points: tuple[str, ...] = POINTS) -> dict[str, int]:
    """Every replica armed at once, each with one point (`point=kill@k`, k = 1..2): when the failpoint kills it, it
    is restarted armed with the next point still wanted; one not killed within `wait_seconds` of answering /readyz
    is killed at a random moment instead, and its point goes back in the queue (tried up to three times). Returns
    the kills that happened at each point."""
    killed: Counter = Counter()
    queue = [point for point in points for _ in range(kills_per_point)]
    tries: Counter = Counter()
    armed: dict[str, tuple[str, float | None]] = {}  # replica name -> (point, deadline)

    def arm(replica: Replica) -> None:
        if queue:
            point = queue.pop(0)
            tries[point] += 1
            fleet.start(replica, f"{point}=kill@{fleet.rng.randint(1, 2)}")
            armed[replica.name] = (point, None)
        else:
            fleet.start(replica)

    for replica in fleet.replicas:
        fleet.kill(replica)
        arm(replica)
    while armed:
        for replica in fleet.replicas:
            if replica.name not in armed:
                continue
            point, deadline = armed[replica.name]
            if deadline is None and replica.alive and fleet.readyz(replica) == 200:
                deadline = time.monotonic() + wait_seconds  # counted from when it answers: starting takes a while
                armed[replica.name] = (point, deadline)
            if not replica.alive:
                del armed[replica.name]
                if fleet.died_by_kill(replica):
                    killed[point] += 1
                    fleet.kills += 1
                arm(replica)
            elif deadline is not None and time.monotonic() > deadline:
                del armed[replica.name]
                fleet.kill(replica)
                if tries[point] < 3:
                    queue.append(point)
                arm(replica)
        time.sleep(0.05)
    return dict(killed)


def random_kills(fleet: Fleet, *, kills: int, low: float = 0.5, high: float = 4.0) -> None:
    """SIGKILL alternating replicas at random moments (with pushes and polling on), each restarted at once."""
    for index in range(kills):
        replica = fleet.replicas[index % len(fleet.replicas)]
        time.sleep(fleet.rng.uniform(low, high))
        fleet.kill(replica)
        fleet.start(replica)


def faults_in_flight(fleet: Fleet, *, seconds: float, gmail_rate: float = 0.2, slack_rate: float = 0.2,
                     seed: int = 11) -> None:
    """A fifth of Gmail and of Slack calls failing while alerts are posted and labels filed, then healed."""
    fleet.gmail_faults(gmail_rate, seed)
    fleet.slack_faults(slack_rate, seed + 100)
    time.sleep(seconds)
    fleet.clear_faults()


def zoho_failing(fleet: Fleet, *, seconds: float, rate: float = 0.3, seed: int = 21) -> None:
    """Zoho answering 429, 500, 503 or dropping the connection on a share of calls while deals change."""
    fleet.zoho.clear_faults()  # the emulator applies the first fault that fires: failures before the latency
    for index, status in enumerate((429, 500, 503, "drop")):
        fleet.zoho.inject(ZohoFault(path="/crm/*", status=status, rate=rate / 4, seed=seed + index))
    fleet.zoho_latency()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fleet.change_crm()
        time.sleep(0.5)
    fleet.zoho.clear_faults()
    fleet.zoho_latency()


def postgres_restart(fleet: Fleet, *, down_seconds: float = 3.0, timeout: float = 30.0) -> dict[str, bool]:
    """PostgreSQL stopped under the running replicas, then started: every live replica's /readyz must say 503
    while it is down and 200 once it is back."""
    for replica in fleet.replicas:  # every replica up and answering first: a starting one answers nothing
        fleet.wait_ready(replica)
    fleet.cluster.stop()
    went_503 = {r.name: False for r in fleet.live()}
    deadline = time.monotonic() + max(down_seconds, 1.0)
    while time.monotonic() < deadline:
        for replica in fleet.live():
            if fleet.readyz(replica) == 503:
                went_503[replica.name] = True
        time.sleep(0.2)
    fleet.cluster.start()
    back = {r.name: False for r in fleet.live()}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(back.values()):
        for replica in fleet.live():
            back[replica.name] = back.get(replica.name, False) or fleet.readyz(replica) == 200
        time.sleep(0.2)
    return {"readyz_503_while_down": all(went_503.values()), "readyz_200_after": all(back.values())}

"""SPEC §9 scenarios: each drives a started `Fleet` (testsupport/fleet.py) with traffic on, then returns what it
saw; the fleet's `outcome()` judges them. Used by tests/reliability/ (small) and benchmarks/reliability.py (full)."""
from __future__ import annotations

import json

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from gmail.tokens import TokenCipher
from sandbox.zoho_emulator.faults import Fault as ZohoFault
from telemetry.failpoints import POINTS
from testsupport.fleet import CLIENT_ID, LABELS, TEAM, Fleet, Replica
from testsupport.mailboxes import seed_mailboxes

__all__ = ["POINTS", "Fleet", "wait_crm_loaded", "kill_at_points", "random_kills", "faults_in_flight",
           "zoho_failing", "postgres_restart", "connect_with_full_inbox", "month_turn",
           "rate_limited_backfill_and_month_turn", "overload"]


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


def connect_with_full_inbox(fleet: Fleet, *, messages: int, contact_share: float = 0.7, name: str = "new") -> str:
    """A rep connects a mailbox whose Inbox already holds `messages` messages (labels on, backfill not done): the
    first sync lists the Inbox and files the contacts' mail; none of it is news, so none may be alerted."""
    address = f"{name}0@gmail.example"
    fleet.gmail.add_user(address)
    senders = [fleet.rng.choice(fleet.contacts) if fleet.rng.random() < contact_share else None
               for _ in range(messages)]
    ids = fleet.gmail.add_messages_bulk(address, [
        {"sender": f"Sender <{contact or f'old{i}@elsewhere.example'}>", "to": address, "subject": f"Old {i}",
         "body": "Hello"} for i, contact in enumerate(senders)])
    for gmail_id, contact in zip(ids, senders):
        fleet.filed[(address, gmail_id)] = contact
    [account_id] = seed_mailboxes(fleet.engine, TokenCipher([fleet.key]), fleet.gmail, CLIENT_ID, 1, prefix=name,
                                  labels=True, backfill_done=False)
    user_id = f"U{name.upper()}{0:05d}"
    fleet.slack.add_user(TEAM, user_id, email=address.replace("gmail.example", "crm.example"))
    fleet.mailboxes = {**fleet.mailboxes, address: (account_id, user_id)}  # a new dict: the traffic reads it
    return address


def month_turn(fleet: Fleet, *, opening: int = 2, quiet_seconds: float = 6.0, timeout: float = 120.0) -> dict:
    """The month turns under the running fleet. The clock cannot move, so the calendar moves for the deals
    instead, as the product sees it: in the store (not in Zoho, so no CRM change is recorded), the deals closing
    this month move into the previous month (their mail leaves "Closing This Month" for "Open Deals") and a few
    open deals move into this month (the other way), and every mailbox's last label run is recorded as last
    month's. Only the month turn itself (`last_label_month`) can tell a label run to look again: the traffic
    changes these contacts' deals no more.

    A mailbox's record is changed only while no replica holds its lease, so a run already under way cannot write
    this month over it. Contacts whose deal changed in Zoho within `quiet_seconds` are left out (the CRM sync
    may still write Zoho's date over the store's)."""
    today = datetime.now(timezone.utc).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=15)
    with fleet.crm_lock:
        time.sleep(quiet_seconds)  # Zoho changes already made reach the store first
        recent = {contact for at, contact, _ in fleet.crm_changes if time.time() - at <= quiet_seconds}
        settled = [c for c in fleet.contacts if c not in recent]
        closing = [c for c in settled if fleet.category[c] == "closing"]
        newly = [c for c in settled if fleet.category[c] == "open"][:opening]
        with fleet.engine.begin() as connection:
            for contacts, day in ((closing, last_month), (newly, today)):
                for contact in contacts:
                    moved = connection.execute(sa.text("UPDATE deals SET closing_date = :d WHERE external_id = :x"),
                                               {"d": day, "x": fleet.deals[contact]}).rowcount
                    assert moved == 1, f"no deal {fleet.deals[contact]} in the store for {contact}"
        fleet.crm_frozen.update(closing + newly)  # no CRM change may move their mail: only the month turn
        for contact in closing:
            fleet.category[contact] = "open"
        for contact in newly:
            fleet.category[contact] = "closing"
    # What the turn must move: the turned contacts' mail already filed under last month's label.
    before = {contact: LABELS["closing" if contact in closing else "open"] for contact in closing + newly}
    turning = [(mailbox, gmail_id) for (mailbox, gmail_id), contact in {**fleet.sent, **fleet.filed}.items()
               if contact in before and before[contact] in fleet.gmail.label_names(mailbox, gmail_id)]
    pending = {account_id for account_id, _ in fleet.mailboxes.values()}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        with fleet.engine.begin() as connection:
            done = connection.execute(sa.text(
                "UPDATE gmail_accounts SET last_label_month = :m WHERE id = ANY(:ids) AND "
                "(lease_owner IS NULL OR lease_expires_at < now()) RETURNING id"),
                {"m": last_month.strftime("%Y-%m"), "ids": sorted(pending)}).scalars().all()
        pending -= set(done)
        time.sleep(0.05)
    return {"month_turn_contacts": len(closing) + len(newly), "month_turn_filed": len(turning),
            "month_turn_mailboxes_not_turned": len(pending)}


def rate_limited_backfill_and_month_turn(fleet: Fleet, *, inbox: int, units_per_second: float = 250.0,
                                         turn_after: float = 0.0, answer_after_turn: int = 403,
                                         seconds: float = 20.0, timeout: float = 300.0) -> dict:
    """Gmail's per-user rate limit on (`units_per_second` quota units a second per mailbox; beyond, 429
    rateLimitExceeded, and from the month turn on `answer_after_turn`, by default 403 userRateLimitExceeded:
    Google documents both) while a mailbox with a large Inbox is connected and backfilled and the month turns
    for every mailbox (`turn_after` seconds after the limit first refused a call: more mail filed before the
    turn, more to move). Then the
    traffic pauses and `settled_after_turn_seconds` says how long the fleet took to finish that work. `refused`
    counts the calls the limit refused (`refused_after_turn` those after the turn); they must stop once the work
    is done: `refused_after` counts those in the `seconds` after the fleet settled (polling alone stays far under
    the limit, so a refusal then is a retry that never ends)."""
    fleet.gmail.set_user_rate_limit(units_per_second)
    address = connect_with_full_inbox(fleet, messages=inbox)
    deadline = time.monotonic() + 60
    while not fleet.gmail.rate_limited_counts() and time.monotonic() < deadline:
        time.sleep(0.1)  # until the backfill runs into the limit
    time.sleep(turn_after)
    refused_429 = sum(fleet.gmail.rate_limited_counts().values())
    fleet.gmail.set_user_rate_limit(units_per_second, answer=answer_after_turn)
    figures = month_turn(fleet)
    keys = list({**fleet.sent, **fleet.filed})
    with fleet.crm_lock:  # the traffic paused (CRM changes would keep moving mail): the turn's and backfill's work
        fleet.toggle_quiet_hours(False)  # queued alerts go out as digests (the paused traffic toggles no more)
        figures.update(_settle(fleet, keys, timeout))
        before = sum(fleet.gmail.rate_limited_counts().values())
        time.sleep(seconds)  # what is left is polling, and any retry the product still makes
        counts = fleet.gmail.rate_limited_counts()
    with fleet.engine.connect() as connection:
        figures["backfill_done"] = bool(connection.execute(sa.text(
            "SELECT backfill_done FROM gmail_accounts WHERE email_address = :a"), {"a": address}).scalar())
    refused = sum(counts.values())
    return {**figures, "refused": refused, "refused_after_turn": refused - refused_429,
            "refused_backfill_mailbox": counts.get(address, 0), "refused_after": refused - before,
            "backfill_messages": inbox}


def _settle(fleet: Fleet, keys: list, timeout: float) -> dict:
    """Seconds until every one of `keys` has its alert and labels (None: not within `timeout`), how many were
    left every 10 s, and what was wrong with a few when time ran out."""
    started = time.monotonic()
    figures: dict = {"settled_after_turn_seconds": None, "unsettled_every_10s": []}
    while time.monotonic() - started < timeout:
        left = fleet.unsettled(keys)
        if len(figures["unsettled_every_10s"]) <= (time.monotonic() - started) // 10:
            figures["unsettled_every_10s"].append(left)
        if not left:
            figures["settled_after_turn_seconds"] = round(time.monotonic() - started, 1)
            return figures
        time.sleep(1)
    figures["unsettled_samples"] = [why for _, _, why in fleet.misfiled_details(keys)[:3]]
    figures["unalerted_samples"] = [json.dumps(detail, default=str) for detail in fleet.unalerted_details(keys)]
    return figures


def overload(fleet: Fleet, *, per_second: float, seconds: float, senders: int | None = None,
             timeout: float = 300.0) -> dict:
    """Mail at `per_second` (on top of the traffic) for `seconds`, from `senders` threads (one for every 2 a
    second by default: a sender waits for its push's answer, and a slow fleet must not slow the arrivals down
    with it), each message pushed to a replica at random; then the normal traffic alone. `drain_seconds`: from
    the end of the burst until every message sent until then is alerted and filed (None: not within `timeout`);
    `sent_per_second` what the senders managed."""
    senders = senders or int(per_second // 2) + 1
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            fleet.push(fleet.mail(stranger=fleet.rng.random() < 0.1))
            stop.wait(fleet.rng.expovariate(per_second / senders))

    before = len(fleet.sent)
    threads = [threading.Thread(target=send, name=f"overload-{i}", daemon=True) for i in range(senders)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    burst = time.monotonic() - started
    keys = list(dict(fleet.sent))
    ended = time.monotonic()
    drained = None
    while time.monotonic() - ended < timeout:
        if not fleet.unsettled(keys):
            drained = round(time.monotonic() - ended, 1)
            break
        time.sleep(0.5)
    return {"offered_per_second": per_second, "burst_seconds": round(burst, 1),
            "sent_per_second": round((len(keys) - before) / burst, 1), "drain_seconds": drained}

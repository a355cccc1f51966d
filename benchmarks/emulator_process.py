"""An emulator (Gmail or Slack) in a child process of its own, driven over a pipe.

The capacity benchmark measures `serve`'s CPU from /proc: with the emulators in the benchmark's own process they
would share its interpreter lock and its cores' time slices with the driver, and the Gmail emulator alone answers
hundreds of calls a second. Here each emulator object lives in a spawned child; the parent calls its methods by
name (arguments and results are pickled), and a few helpers below run inside the child, next to the emulator's
recordings, so what crosses the pipe is a summary, never the whole list of recorded calls.

    gmail = EmulatorProcess("gmail").start()
    gmail.set_latency(150, jitter_ms=20)      # any method of the emulator
    gmail.attribute("url")                    # any attribute or property
    gmail.helper("insert_contact_mail", address, "Subject")   # a function below, run in the child
"""
from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

KINDS = ("gmail", "slack")


def _build(kind: str):
    if kind == "gmail":
        from sandbox.gmail_emulator import GmailEmulator

        return GmailEmulator()
    from sandbox.slack_emulator import SlackEmulator

    return SlackEmulator()


# -- helpers run inside the child (first argument: the emulator, second: the child's scratch state) ----------


def insert_contact_mail(gmail, state: dict, address: str, subject: str,
                        sender: str = "Jane <jane@acme.example>") -> tuple[str, float]:
    """New mail in `address`'s Inbox; (its Gmail id, the time it landed): the clock the push path is timed from."""
    gmail_id = gmail.insert_message(address, sender=sender, to=address, subject=subject, body="Hello")
    return gmail_id, time.time()


def gmail_method_counts(gmail, state: dict, since: float, user_prefix: str = "") -> dict[str, int]:
    """Gmail calls (per method id, in /batch or not) made since a moment by the users whose address starts so."""
    counts: dict[str, int] = {}
    for call in gmail.calls:
        if call.time >= since and (call.user or "").startswith(user_prefix):
            counts[call.method] = counts.get(call.method, 0) + 1
    return counts


def push_path_times(gmail, state: dict, entries: list[tuple[str, float]]) -> list[tuple]:
    """For each (address, moment new mail landed there): when the next Pub/Sub push for that mailbox began and was
    answered, and when the mailbox's next `history.list` and next metadata `/batch` arrived, with the latency the
    emulator added to each (None where there was none). Where a push path's time goes, stage by stage."""
    import bisect

    calls: dict[str, list] = {}
    for call in gmail.calls:
        if call.method in ("gmail.users.history.list", "gmail.users.messages.get") and call.user:
            calls.setdefault(f"{call.method}:{call.user}", []).append((call.time, call.latency_ms))
    pushes: dict[str, list] = {}
    for delivery in gmail.push_deliveries:
        pushes.setdefault(delivery["emailAddress"], []).append((delivery["time"], delivery.get("answered")))

    for items in (*calls.values(), *pushes.values()):
        items.sort(key=lambda item: item[0])

    def first_after(items: list, moment: float):
        index = bisect.bisect_left(items, (moment, float("-inf")))
        return items[index] if index < len(items) else (None, None)

    result = []
    for address, landed in entries:
        push, answered = first_after(pushes.get(address, []), landed)
        history, history_ms = first_after(calls.get(f"gmail.users.history.list:{address}", []), push or landed)
        batch, batch_ms = first_after(calls.get(f"gmail.users.messages.get:{address}", []), history or landed)
        result.append((push, answered, history, history_ms, batch, batch_ms))
    return result


def new_alert_posts(slack, state: dict) -> list[tuple[str, float, bool, float]]:
    """chat.postMessage calls recorded since the previous look that carry an alert's Gmail id: (gmail id, when the
    post was in the channel, whether Slack took it, when the call arrived). The emulator records a call when it
    arrives and answers after its latency: the alert is in the channel then, the time the benchmarks count to."""
    with slack._lock:
        calls = slack._calls[state.get("seen", 0):]
        state["seen"] = state.get("seen", 0) + len(calls)
    found = []
    for call in calls:
        if call.method != "chat.postMessage":
            continue
        metadata = call.params.get("metadata") or {}
        if isinstance(metadata, str):
            import json

            try:
                metadata = json.loads(metadata)
            except ValueError:
                continue
        payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
        gmail_id = payload.get("gmail_id") if isinstance(payload, dict) else None
        if isinstance(gmail_id, str):
            found.append((gmail_id, call.time + call.latency_ms / 1000, call.ok, call.time))
    return found


def slack_method_counts(slack, state: dict, since: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    with slack._lock:
        calls = list(slack._calls)
    for call in calls:
        if call.time >= since:
            counts[call.method] = counts.get(call.method, 0) + 1
    return counts


HELPERS = {f.__name__: f for f in (insert_contact_mail, gmail_method_counts, push_path_times, new_alert_posts,
                                   slack_method_counts)}


def _child(kind: str, connection) -> None:
    emulator = _build(kind)
    state: dict = {}
    try:
        emulator.start()
        connection.send(("ok", None))
        while True:
            try:
                op, name, args, kwargs = connection.recv()
            except EOFError:
                return
            if op == "stop":
                connection.send(("ok", None))
                return
            try:
                if op == "helper":
                    result = HELPERS[name](emulator, state, *args, **kwargs)
                elif op == "attribute":
                    result = getattr(emulator, name)
                else:
                    result = getattr(emulator, name)(*args, **kwargs)
                connection.send(("ok", result))
            except Exception as error:  # noqa: BLE001 - handed to the caller, who raises it
                connection.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        emulator.stop()


class EmulatorError(RuntimeError):
    """The emulator raised in its process."""


class EmulatorProcess:
    """A Gmail or Slack emulator in its own process. Unknown attributes are methods of the emulator, called there;
    calls from several threads are serialised (one pipe)."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind = kind
        self._lock = threading.Lock()
        self._connection = None
        self._process = None

    def start(self) -> "EmulatorProcess":
        # spawn, not fork: the parent may already run threads (a forked child would inherit their locks).
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(target=_child, args=(self.kind, theirs), name=f"{self.kind}-emulator",
                                        daemon=True)
        self._process.start()
        theirs.close()
        self._connection = ours
        if not ours.poll(120):
            raise EmulatorError(f"the {self.kind} emulator did not start")
        ours.recv()
        return self

    @property
    def pid(self) -> int:
        return self._process.pid

    def _ask(self, op: str, name: str, args=(), kwargs=None) -> Any:
        with self._lock:
            self._connection.send((op, name, args, kwargs or {}))
            status, result = self._connection.recv()
        if status != "ok":
            raise EmulatorError(f"{self.kind} emulator, {name}: {result}")
        return result

    def attribute(self, name: str) -> Any:
        return self._ask("attribute", name)

    def helper(self, name: str, *args, **kwargs) -> Any:
        return self._ask("helper", name, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._ask("call", name, args, kwargs)

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            self._ask("stop", "")
        except (EmulatorError, OSError, EOFError):
            pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._process = None


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, fields 14 and 15), its threads included."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: field 3 is index 0, so utime (14) and stime (15) are indexes 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

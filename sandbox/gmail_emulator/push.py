"""Cloud Pub/Sub push delivery of Gmail watch notifications.

Gmail publishes ``{"emailAddress", "historyId"}`` to the watched topic; each
push subscription of that topic POSTs the Pub/Sub envelope to its endpoint.
Notifications for one mailbox and subscription that are still waiting are
coalesced (the newest historyId wins), which Gmail also does.  Delivery runs
on background threads and never blocks the API call that caused it; failures
are recorded, not retried.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

# Endpoints are local: never route deliveries through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"


@dataclass(frozen=True)
class Subscription:
    name: str  # projects/<project>/subscriptions/<id>
    topic: str  # projects/<project>/topics/<id>
    endpoint: str  # with ?token=... when a verification token was given


def publish_time() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def envelope(subscription: str, message_id: str, email_address: str, history_id: int) -> dict:
    # Gmail's notification carries historyId as a JSON number (the push guide's
    # example shows a string; bots should accept both).
    data = json.dumps({"emailAddress": email_address, "historyId": history_id}).encode()
    when = publish_time()
    return {
        "message": {
            "data": base64.b64encode(data).decode("ascii"),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": when,
            "publish_time": when,
        },
        "subscription": subscription,
    }


class PushDispatcher:
    def __init__(self, delay_seconds: float = 0.0, timeout_seconds: float = 10.0):
        self.delay_seconds = delay_seconds
        self.timeout_seconds = timeout_seconds
        self.subscriptions: dict[str, list[Subscription]] = {}
        self.topics: set[str] = set()
        self.deliveries: list[dict] = []
        self._pending: dict[tuple[str, str], list] = {}  # (subscription, email) -> [due, historyId]
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)
        self._thread: threading.Thread | None = None

    # -- set-up ---------------------------------------------------------

    def create_topic(self, topic: str) -> None:
        with self._cond:
            self.topics.add(topic)

    def has_topic(self, topic: str) -> bool:
        with self._cond:
            return topic in self.topics

    def add_subscription(self, topic: str, endpoint: str, token: str | None, name: str | None) -> Subscription:
        if token:
            parts = urlsplit(endpoint)
            query = parts.query + ("&" if parts.query else "") + urlencode({"token": token})
            endpoint = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        with self._cond:
            project = topic.split("/")[1] if topic.startswith("projects/") else "emulator"
            count = sum(len(subs) for subs in self.subscriptions.values()) + 1
            sub = Subscription(name or f"projects/{project}/subscriptions/gmail-push-{count}", topic, endpoint)
            self.subscriptions.setdefault(topic, []).append(sub)
            self.topics.add(topic)
            return sub

    def start(self) -> None:
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="gmail-emulator-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # -- publishing -----------------------------------------------------

    def publish(self, topic: str, email_address: str, history_id: int) -> None:
        with self._cond:
            subs = self.subscriptions.get(topic, [])
            if not subs:
                self.deliveries.append(
                    {"subscription": None, "topic": topic, "emailAddress": email_address,
                     "historyId": history_id, "status": None, "error": "no subscription", "time": time.time()}
                )
                return
            due = time.monotonic() + self.delay_seconds
            for sub in subs:
                key = (sub.name, email_address)
                if key in self._pending:
                    self._pending[key][1] = max(self._pending[key][1], history_id)
                else:
                    self._pending[key] = [due, history_id, sub]
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until nothing is waiting or being delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                due = [(key, entry) for key, entry in self._pending.items() if entry[0] <= now]
                if not due:
                    next_due = min((entry[0] for entry in self._pending.values()), default=None)
                    self._cond.wait(None if next_due is None else max(0.0, next_due - now))
                    continue
                for key, _ in due:
                    del self._pending[key]
                self._in_flight += len(due)
            for (sub_name, email_address), (_, history_id, sub) in due:
                threading.Thread(
                    target=self._deliver, args=(sub, email_address, history_id), daemon=True,
                    name="gmail-emulator-push-delivery",
                ).start()

    def _deliver(self, sub: Subscription, email_address: str, history_id: int) -> None:
        message_id = str(next(self._ids))
        body = json.dumps(envelope(sub.name, message_id, email_address, history_id)).encode()
        request = urllib.request.Request(
            sub.endpoint, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        record = {
            "subscription": sub.name, "topic": sub.topic, "endpoint": sub.endpoint,
            "emailAddress": email_address, "historyId": history_id, "messageId": message_id,
            "status": None, "error": None, "time": time.time(),
        }
        try:
            with _OPENER.open(request, timeout=self.timeout_seconds) as response:
                response.read()
                record["status"] = response.status
        except urllib.error.HTTPError as exc:
            record["status"] = exc.code
            record["error"] = f"HTTP {exc.code}"
        except Exception as exc:  # unreachable endpoint, timeout: recorded, not retried
            record["error"] = f"{type(exc).__name__}: {exc}"
        with self._cond:
            self.deliveries.append(record)
            self._in_flight -= 1
            self._cond.notify_all()

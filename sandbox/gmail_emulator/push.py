"""Cloud Pub/Sub push delivery of Gmail watch notifications.

Gmail publishes ``{"emailAddress", "historyId"}`` to the watched topic; each
push subscription of that topic POSTs the Pub/Sub envelope to its endpoint.
Delivery runs on background threads and never blocks the API call that
caused it.  Three knobs bring it closer to the real thing, each off by
default so that tests stay fast and simple:

- **delay** (with jitter): a notification is due ``delay ± jitter`` seconds
  after the change (Pub/Sub in production adds a few hundred milliseconds).
- **coalescing** (on by default): a notification still waiting for its turn
  absorbs later ones of the same mailbox and subscription (the newest
  historyId wins).  Real Pub/Sub does not do this; turn it off to get one
  push per change, each with the historyId of that change.
- **retries** (off by default): Pub/Sub is at-least-once.  An answer other
  than 102/200/201/202/204, a timeout or an unreachable endpoint is a nack,
  and the same message (same messageId and data) is sent again after an
  exponential backoff, as a subscription with a retry policy does.  Without
  retries a failure is recorded and the notification is lost.

Every attempt is recorded in ``deliveries``; ``counts`` sums them up.

An *authenticated* subscription (a service account, and an audience that
defaults to the endpoint URL, as in Pub/Sub) sends each push with
``Authorization: Bearer <OIDC token>`` signed by the emulator's Google key
(``oidc.py``); a subscription with a verification token puts it in the
endpoint's query instead, the older way.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

from .oidc import OidcSigner, push_claims

# Endpoints are local: never route deliveries through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"

# The push endpoint answers Pub/Sub takes as an acknowledgement; anything else is a nack.
ACK_STATUSES = frozenset({102, 200, 201, 202, 204})


@dataclass(frozen=True)
class Subscription:
    name: str  # projects/<project>/subscriptions/<id>
    topic: str  # projects/<project>/topics/<id>
    endpoint: str  # with ?token=... when a verification token was given
    service_account: str | None = None  # authenticated push: each POST carries an OIDC token for this account
    audience: str | None = None  # the token's `aud` (Pub/Sub's default: the endpoint URL)


@dataclass
class RetryPolicy:
    """Pub/Sub's exponential backoff between redeliveries (its defaults are 10 s and 600 s)."""

    min_backoff: float = 0.1
    max_backoff: float = 10.0
    max_attempts: int | None = 5  # None: until the emulator stops (Pub/Sub keeps trying for 7 days)

    def backoff(self, failed_attempts: int) -> float:
        return min(self.max_backoff, self.min_backoff * 2 ** (failed_attempts - 1))


@dataclass(order=True)
class _Notification:
    due: float
    seq: int
    sub: Subscription = field(compare=False)
    email_address: str = field(compare=False)
    history_id: int = field(compare=False)
    message_id: str = field(compare=False)
    attempts: int = field(default=0, compare=False)


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
    def __init__(self, delay_seconds: float = 0.0, timeout_seconds: float = 10.0, signer: OidcSigner | None = None):
        self.signer = signer or OidcSigner()
        self.delay_seconds = delay_seconds
        self.jitter_seconds = 0.0
        self.coalesce = True
        self.retry: RetryPolicy | None = None
        self.timeout_seconds = timeout_seconds
        self.subscriptions: dict[str, list[Subscription]] = {}
        self.topics: set[str] = set()
        self.deliveries: list[dict] = []
        self.counts = self._zero_counts()
        self._queue: list[_Notification] = []  # a heap ordered by due time
        self._waiting: dict[tuple[str, str], _Notification] = {}  # coalescing: not yet sent, by (subscription, email)
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._rng = random.Random()
        self._seq = itertools.count()
        self._ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)
        self._thread: threading.Thread | None = None

    @staticmethod
    def _zero_counts() -> dict[str, int]:
        return {
            "published": 0,  # notifications queued (after coalescing), one per subscription
            "coalesced": 0,  # changes absorbed by a notification still waiting
            "attempts": 0,  # POSTs made
            "delivered": 0,  # notifications acknowledged by the endpoint
            "retried": 0,  # POSTs that were redeliveries
            "failed": 0,  # notifications given up on (no retries, or out of attempts)
            "no_subscription": 0,  # changes published to a topic nobody subscribes to
        }

    # -- set-up ---------------------------------------------------------

    def create_topic(self, topic: str) -> None:
        with self._cond:
            self.topics.add(topic)

    def has_topic(self, topic: str) -> bool:
        with self._cond:
            return topic in self.topics

    def add_subscription(self, topic: str, endpoint: str, token: str | None, name: str | None,
                         service_account: str | None = None, audience: str | None = None) -> Subscription:
        if service_account:
            audience = audience or endpoint
        if token:
            parts = urlsplit(endpoint)
            query = parts.query + ("&" if parts.query else "") + urlencode({"token": token})
            endpoint = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        with self._cond:
            project = topic.split("/")[1] if topic.startswith("projects/") else "emulator"
            count = sum(len(subs) for subs in self.subscriptions.values()) + 1
            sub = Subscription(name or f"projects/{project}/subscriptions/gmail-push-{count}", topic, endpoint,
                               service_account, audience)
            self.subscriptions.setdefault(topic, []).append(sub)
            self.topics.add(topic)
            return sub

    def set_delay(self, delay_seconds: float, jitter_seconds: float = 0.0, seed: int | None = None) -> None:
        if delay_seconds < 0 or jitter_seconds < 0:
            raise ValueError("a push delay and its jitter cannot be negative")
        with self._cond:
            self.delay_seconds = delay_seconds
            self.jitter_seconds = jitter_seconds
            if seed is not None:
                self._rng = random.Random(seed)

    def set_coalescing(self, enabled: bool) -> None:
        with self._cond:
            self.coalesce = enabled
            if not enabled:
                self._waiting.clear()  # what waits stays queued; new changes no longer merge into it

    def set_retry(self, policy: RetryPolicy | None) -> None:
        with self._cond:
            self.retry = policy

    def reset_counts(self) -> None:
        with self._cond:
            self.counts = self._zero_counts()

    def start(self) -> None:
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="gmail-emulator-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # -- publishing -----------------------------------------------------

    def _delay(self) -> float:
        if not self.jitter_seconds:
            return self.delay_seconds
        return max(0.0, self.delay_seconds + self._rng.uniform(-self.jitter_seconds, self.jitter_seconds))

    def publish(self, topic: str, email_address: str, history_id: int) -> None:
        with self._cond:
            subs = self.subscriptions.get(topic, [])
            if not subs:
                self.counts["no_subscription"] += 1
                self.deliveries.append(
                    {"subscription": None, "topic": topic, "emailAddress": email_address,
                     "historyId": history_id, "status": None, "error": "no subscription", "time": time.time(),
                     "attempt": 0, "acked": False}
                )
                return
            now = time.monotonic()
            for sub in subs:
                key = (sub.name, email_address)
                waiting = self._waiting.get(key) if self.coalesce else None
                if waiting is not None:
                    waiting.history_id = max(waiting.history_id, history_id)
                    self.counts["coalesced"] += 1
                    continue
                notification = _Notification(
                    now + self._delay(), next(self._seq), sub, email_address, history_id, str(next(self._ids))
                )
                heapq.heappush(self._queue, notification)
                self.counts["published"] += 1
                if self.coalesce:
                    self._waiting[key] = notification
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until nothing is waiting, being delivered or due for a retry; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
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
                due: list[_Notification] = []
                while self._queue and self._queue[0].due <= now:
                    notification = heapq.heappop(self._queue)
                    key = (notification.sub.name, notification.email_address)
                    if self._waiting.get(key) is notification:
                        del self._waiting[key]  # once sent, later changes need a new notification
                    due.append(notification)
                if not due:
                    next_due = self._queue[0].due if self._queue else None
                    self._cond.wait(None if next_due is None else max(0.0, next_due - now))
                    continue
                self._in_flight += len(due)
            for notification in due:
                threading.Thread(
                    target=self._deliver, args=(notification,), daemon=True, name="gmail-emulator-push-delivery",
                ).start()

    def _deliver(self, notification: _Notification) -> None:
        sub = notification.sub
        notification.attempts += 1
        body = json.dumps(
            envelope(sub.name, notification.message_id, notification.email_address, notification.history_id)
        ).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if sub.service_account:
            # A fresh token per attempt, as Pub/Sub sends (it caches them for a while; either verifies the same).
            token = self.signer.sign(push_claims(sub.service_account, sub.audience or sub.endpoint))
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(sub.endpoint, data=body, method="POST", headers=headers)
        record = {
            "subscription": sub.name, "topic": sub.topic, "endpoint": sub.endpoint,
            "authenticated": bool(sub.service_account),
            "emailAddress": notification.email_address, "historyId": notification.history_id,
            "messageId": notification.message_id, "attempt": notification.attempts,
            "status": None, "error": None, "acked": False, "time": time.time(),
        }
        try:
            with _OPENER.open(request, timeout=self.timeout_seconds) as response:
                response.read()
                record["status"] = response.status
        except urllib.error.HTTPError as exc:
            record["status"] = exc.code
            record["error"] = f"HTTP {exc.code}"
        except Exception as exc:  # unreachable endpoint, timeout: a nack like any other
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["answered"] = time.time()  # how long the endpoint took to answer (`time` is when the POST began)
        record["acked"] = record["status"] in ACK_STATUSES
        if not record["acked"] and record["error"] is None:
            record["error"] = f"HTTP {record['status']} is not an acknowledgement"
        with self._cond:
            self.deliveries.append(record)
            self.counts["attempts"] += 1
            if notification.attempts > 1:
                self.counts["retried"] += 1
            if record["acked"]:
                self.counts["delivered"] += 1
            elif self.retry is not None and self._should_retry(notification):
                notification.due = time.monotonic() + self.retry.backoff(notification.attempts)
                notification.seq = next(self._seq)
                heapq.heappush(self._queue, notification)
            else:
                self.counts["failed"] += 1
            self._in_flight -= 1
            self._cond.notify_all()

    def _should_retry(self, notification: _Notification) -> bool:
        if self.retry is None or self._stopped:
            return False
        return self.retry.max_attempts is None or notification.attempts < self.retry.max_attempts

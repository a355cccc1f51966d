"""Polling many mailboxes at once: one `history.list` per mailbox, sent as the parts of `/batch` requests.

Google's batch protocol lets each part carry its own headers, an `Authorization` header included, which
then applies to that part only (developers.google.com/gmail/api/guides/batch, "Batch details"), and
googleapiclient's `BatchHttpRequest` sends each request with the credentials of the http it was built
for. So fifty mailboxes are polled in one HTTP round trip instead of fifty, and a replica's polling
cycle is no longer bound by Gmail's latency times the number of mailboxes. Each part is still one
call of its own mailbox (2 quota units, charged to that user), exactly what the pipeline would make.

What comes back is sorted, not acted on:
- quiet: no history record since the cursor — the new cursor is Gmail's `historyId`; the caller moves
  the cursors in bulk;
- busy: anything else (new mail, an Inbox change, another page, an error of any kind, a token Google
  would not refresh) — the caller runs the full pipeline for it, with the first page when there is one,
  so nothing is asked twice.

Access tokens known to be expired are refreshed before the batch, several at a time; a part answered
401 is not refreshed inside the batch (googleapiclient would, and one revoked grant would then fail
the whole batch): that mailbox is busy, and the pipeline refreshes it or finds it revoked.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from googleapiclient.http import HttpError

from gmail.client import GmailService
from gmail.history import history_params
from gmail.errors import translate
from gmail.metering import MeteredBatch

log = logging.getLogger(__name__)

# Google advises at most 50 calls per batch ("larger batch sizes are likely to trigger rate limiting");
# here every part is a different user's, so no user's rate is at stake, but 50 keeps batches small.
BATCH_SIZE = 50


@dataclass
class PollTarget:
    account_id: int
    history_id: str
    credentials: Credentials


@dataclass
class PollOutcome:
    quiet: dict[int, str] = field(default_factory=dict)  # account id -> the cursor to store
    busy: dict[int, dict | None] = field(default_factory=dict)  # account id -> first history page, if answered
    refreshed: dict[int, Credentials] = field(default_factory=dict)  # tokens refreshed on the way, to store
    batches: int = 0


class OneShotBatch(MeteredBatch):
    """A batch whose parts run once: a part answered 401 goes to its callback like any other error.

    googleapiclient's `execute` refreshes the credentials of 401 parts and sends them again; with the parts
    belonging to different mailboxes, a refresh Google refuses (a revoked grant) would raise out of the
    batch and lose every other mailbox's answer. Refreshing is the pipeline's job."""

    def execute(self, http=None):
        if not self._order:
            return None
        self._execute(http, self._order, self._requests)
        for request_id in self._order:
            resp, content = self._responses[request_id]
            request = self._requests[request_id]
            response = exception = None
            try:
                if resp.status >= 300:
                    raise HttpError(resp, content, uri=request.uri)
                response = request.postproc(resp, content)
            except HttpError as error:
                exception = error
            if self._callback is not None:
                self._callback(request_id, response, exception)
        return None


class TurnTakingHttp:
    """An Http that hands the sweep's CPU turn to another batch while it waits for Google, and takes it back
    before the answer is parsed."""

    def __init__(self, http: httplib2.Http, turn: threading.Lock):
        self._http, self._turn = http, turn

    def request(self, *args, **kwargs):
        self._turn.release()
        try:
            return self._http.request(*args, **kwargs)
        finally:
            self._turn.acquire()


class HistorySweep:
    """Polls mailboxes in `/batch` requests, `concurrency` of them in flight.

    The batches wait for Google together but take turns for their Python work (building the request, parsing
    the answer; ~10 ms for 50 parts): the interpreter runs one thread at a time anyway, so turns cost the sweep
    nothing, while eight batches answered at once and parsed at once would make every other thread of the
    process, the one that accepts Slack's requests included, queue behind eight for the interpreter lock
    (benchmarks/slack_ack.py: ack p99 35-43 ms with eight parsing at once, 25-31 ms taking turns; 13-14 ms with
    only two batches in flight and no new mail, but a 10,000-mailbox cycle needs eight)."""

    def __init__(self, service: GmailService, *, concurrency: int = 8, batch_size: int = BATCH_SIZE,
                 page_size: int = 500):
        self.service = service
        self.batch_size = batch_size
        self.page_size = page_size
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="gmail-sweep")
        self._local = threading.local()
        self._turn = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _http(self) -> httplib2.Http:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = httplib2.Http(timeout=self.service.config.timeout_seconds)
        return http

    # -- the sweep -------------------------------------------------------------------------------

    def poll(self, targets: list[PollTarget],
             on_batch: Callable[[PollOutcome], None] | None = None) -> PollOutcome:
        """Poll every target; `on_batch(partial)` is called (from a sweep thread) as each batch's answers come
        in, so the caller can hand back and pass on mailboxes while the rest are still being polled."""
        outcome = PollOutcome()
        stale = [t for t in targets if not t.credentials.valid]
        refused: dict[int, dict | None] = {}
        if stale:
            for target, ok in zip(stale, self._pool.map(self._refresh, stale)):
                if ok:
                    outcome.refreshed[target.account_id] = target.credentials
                else:
                    refused[target.account_id] = None  # the pipeline refreshes it, or finds it revoked
        if refused:
            outcome.busy.update(refused)
            if on_batch is not None:
                on_batch(PollOutcome(busy=dict(refused)))
        ready = [t for t in targets if t.account_id not in refused]
        chunks = [ready[i:i + self.batch_size] for i in range(0, len(ready), self.batch_size)]

        def sort(answers: dict[int, dict | None]) -> PollOutcome:
            part = PollOutcome(batches=1)
            for account_id, response in answers.items():
                if isinstance(response, dict) and not response.get("history") \
                        and not response.get("nextPageToken") and response.get("historyId"):
                    part.quiet[account_id] = str(response["historyId"])
                else:
                    part.busy[account_id] = response if isinstance(response, dict) else None
                if account_id in outcome.refreshed:
                    part.refreshed[account_id] = outcome.refreshed[account_id]
            if on_batch is not None:
                on_batch(part)
            return part

        for part in self._pool.map(lambda chunk: sort(self._poll_batch(chunk)), chunks):
            outcome.batches += 1
            outcome.quiet.update(part.quiet)
            outcome.busy.update(part.busy)
        return outcome

    def _refresh(self, target: PollTarget) -> bool:
        try:
            target.credentials.refresh(google_auth_httplib2.Request(self._http()))
            return True
        except (RefreshError, TransportError, OSError, httplib2.HttpLib2Error) as error:
            log.info("mailbox %s: token refresh before polling failed (%s)", target.account_id, translate(error))
            return False

    def _poll_batch(self, chunk: list[PollTarget]) -> dict[int, dict | None]:
        """One /batch of history.list calls; every target gets an answer (None: that part failed)."""
        answers: dict[int, dict | None] = {t.account_id: None for t in chunk}
        if not chunk:
            return answers
        resources, http = self.service.thread_parts()

        def collect(request_id: str, response: Any, exception: Exception | None) -> None:
            answers[int(request_id)] = response if exception is None else None

        with self._turn:  # given away for the round trip only (TurnTakingHttp)
            batch = OneShotBatch(callback=collect, batch_uri=self.service.config.batch_url)
            for target in chunk:
                request = resources.history.list(**history_params(target.history_id, page_size=self.page_size))
                # The part's own Authorization header: its mailbox's token (googleapiclient applies the
                # credentials of the request's http when it serializes the part).
                request.http = google_auth_httplib2.AuthorizedHttp(target.credentials, http=http)
                batch.add(request, request_id=str(target.account_id))
            try:
                batch.execute(http=TurnTakingHttp(http, self._turn))
            except Exception as error:  # noqa: BLE001 - the whole batch failed: every mailbox goes the long way
                log.info("a polling batch of %d mailboxes failed (%s): each is synced on its own", len(chunk),
                         type(error).__name__)
        return answers


# -- which leased mailboxes a sweep can poll --------------------------------------------------------

@dataclass
class PollPlan:
    targets: list[PollTarget] = field(default_factory=list)
    full: list[int] = field(default_factory=list)  # the pipeline's: a first sync, a backfill, alerts waiting, …
    watched: set[int] = field(default_factory=set)  # Gmail pushes their news (an active users.watch)


def plan_poll(engine, cipher, google, account_ids: list[int], *, now, watch_topic: str | None) -> PollPlan:
    """Sort leased mailboxes into those a sweep can poll and those that need the full pipeline this time."""
    from sqlmodel import select

    from crm_store.db import session_scope
    from crm_store.models import AccountStatus, Alert, AlertStatus, GmailAccount
    from gmail.accounts import load_credentials
    from gmail.tokens import TokenKeyError
    from gmail.watch import is_watched, watch_due

    plan = PollPlan()
    if not account_ids:
        return plan
    waiting_states = [AlertStatus.PENDING.value, AlertStatus.QUEUED_DIGEST.value]
    with session_scope(engine) as session:
        rows = session.exec(select(GmailAccount).where(GmailAccount.id.in_(account_ids))).all()
        waiting = set(session.exec(select(Alert.account_id).where(
            Alert.account_id.in_(account_ids), Alert.status.in_(waiting_states)).distinct()).all())
        for account in rows:
            session.expunge(account)
    for account in rows:
        if is_watched(account, now):
            plan.watched.add(account.id)
        if (account.history_id is None or account.status != AccountStatus.CONNECTED.value
                or not account.magnet_enabled or not account.encrypted_credentials
                or (account.labels_enabled and not account.backfill_done)
                or account.id in waiting or watch_due(account, now, watch_topic)):
            plan.full.append(account.id)
            continue
        try:
            credentials = load_credentials(cipher, account, google)
        except (TokenKeyError, KeyError, ValueError):
            plan.full.append(account.id)
            continue
        plan.targets.append(PollTarget(account.id, account.history_id, credentials))
    known = {account.id for account in rows}
    plan.full.extend(i for i in account_ids if i not in known)  # gone meanwhile: the pipeline says so
    return plan

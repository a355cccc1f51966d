"""The Gmail API client: built once per thread from the static discovery document, one mailbox per call.

httplib2 is not thread-safe, so each thread has its own `Http` and its own
discovery-built service; a mailbox is an `AuthorizedHttp` over that thread's
`Http` (cheap), so a worker thread serving a thousand mailboxes keeps one
connection and builds the service once.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from gmail.config import METADATA_HEADERS, GoogleConfig, RetryPolicy
from gmail.errors import DeadlinePassed, GmailError, GmailTemporaryError, NotFound, SendingLimitExceeded, \
    SendThrottled, translate, translate_send
from gmail.history import SYNC_HISTORY_TYPES, HistoryPage, history_params, parse_history_page
from gmail.metering import MeteredBatch, MeteredRequest

log = logging.getLogger(__name__)

BATCH_MODIFY_LIMIT = 1000


@dataclass(frozen=True)
class GmailResources:
    """One thread's discovery-built Gmail resources.

    googleapiclient builds a resource object anew on every `users()`, `messages()`, `history()` call, and with it
    every method of that resource, docstring included (the response schema rendered to text): 0.1 ms for
    `history()`, 0.5 ms for `messages()`, more than the call's own Python work. A polling sweep asked for one per
    mailbox; built once per thread, they cost nothing per call (the methods only build requests; the `http` a
    request runs on is given at execute time)."""

    users: Any
    messages: Any
    history: Any
    labels: Any

    @classmethod
    def of(cls, service) -> "GmailResources":
        users = service.users()
        return cls(users, users.messages(), users.history(), users.labels())


class GmailService:
    """Per-thread discovery-built services for one Gmail API root."""

    def __init__(self, config: GoogleConfig, *, rand: Callable[[], float] = random.random,
                 sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self._local = threading.local()
        self._rand = rand
        self._sleep = sleep

    def thread_parts(self) -> tuple[GmailResources, httplib2.Http]:
        """This thread's resources and connection, built on its first call."""
        parts = getattr(self._local, "parts", None)
        if parts is None:
            http = httplib2.Http(timeout=self.config.timeout_seconds)
            service = build(
                "gmail", "v1", http=http, static_discovery=True, cache_discovery=False,
                client_options={"api_endpoint": self.config.api_root},
                requestBuilder=MeteredRequest,  # every call counted for /metrics, however it is executed
            )
            parts = self._local.parts = (GmailResources.of(service), http)
        return parts

    def mailbox(self, credentials: Credentials) -> "MailboxClient":
        resources, http = self.thread_parts()
        authed = google_auth_httplib2.AuthorizedHttp(credentials, http=http)
        return MailboxClient(resources, authed, self.config.batch_url, self.config.retry, self._rand, self._sleep,
                             time_left=self._time_left, timeout=self.config.timeout_seconds)

    @contextmanager
    def deadline(self, at: float) -> Iterator[None]:
        """Until the block ends, Gmail calls on this thread give up at `at` (a `time.monotonic()` instant): no
        request or retry starts after it, and each request waits on its socket (token refresh included) at
        most the time left. For someone waiting in Slack: past the deadline the answer is no longer wanted,
        and a thread still waiting on Gmail would be a thread, and quota, taken from everyone else."""
        self._local.deadline = at
        try:
            yield
        finally:
            self._local.deadline = None
            parts = getattr(self._local, "parts", None)
            if parts is not None:
                socket_timeout(parts[1], self.config.timeout_seconds)

    def _time_left(self) -> float | None:
        at = getattr(self._local, "deadline", None)
        return None if at is None else at - time.monotonic()


def socket_timeout(http: httplib2.Http, seconds: float) -> None:
    """httplib2 reads `timeout` only when it opens a connection: an open one gets it on its socket."""
    http.timeout = seconds
    for connection in list(http.connections.values()):
        connection.timeout = seconds
        if getattr(connection, "sock", None) is not None:
            connection.sock.settimeout(seconds)


class MailboxClient:
    """Gmail calls for one mailbox, with retries and errors mapped to gmail.errors."""

    def __init__(self, resources: GmailResources, http, batch_url: str, retry: RetryPolicy, rand, sleep, *,
                 time_left: Callable[[], float | None] = lambda: None, timeout: float | None = None):
        self._time_left = time_left
        self._timeout = timeout
        self._users = resources.users
        self._messages = resources.messages
        self._history = resources.history
        self._labels = resources.labels
        self._http = http
        self._batch_url = batch_url
        self._retry = retry
        self._rand = rand
        self._sleep = sleep

    @property
    def credentials(self) -> Credentials:
        return self._http.credentials

    # -- plumbing ---------------------------------------------------------------------------

    def _within_deadline(self) -> None:
        """Under `GmailService.deadline`: refuse to start past it, else wait on the socket no longer than what is
        left."""
        left = self._time_left()
        if left is None:
            return
        if left <= 0:
            raise DeadlinePassed("the caller's deadline passed")
        socket_timeout(self._http.http, min(left, self._timeout) if self._timeout else left)

    def _no_time_for(self, delay: float) -> bool:
        left = self._time_left()
        return left is not None and delay >= left

    def _execute(self, request, *, during_history: bool = False):
        attempt = 0
        while True:
            try:
                self._within_deadline()
                return request.execute(http=self._http, num_retries=0)
            except DeadlinePassed:
                raise
            except Exception as raw:  # noqa: BLE001 - translate() re-raises what it does not know
                error = translate(raw, during_history=during_history)
                if not isinstance(error, GmailTemporaryError) or attempt + 1 >= self._retry.attempts:
                    raise error from raw
                delay = self._retry.delay(attempt, self._rand(), error.retry_after)
                if self._no_time_for(delay):
                    raise error from raw
                log.info("Gmail temporary failure (%s), retrying in %.2fs", error, delay)
                self._sleep(delay)
                attempt += 1

    def _batch(self, requests: dict[str, Any]) -> dict[str, Any]:
        """Run requests through /batch; retry inner temporary failures; NotFound answers map to None.

        A batch that fails as a whole (a dropped connection, a 5xx on the batch itself) is retried in
        halves, so one bad inner call cannot sink its 49 neighbours forever.
        """
        results: dict[str, Any] = {}
        pending = list(requests)
        size = len(pending)
        attempt = 0
        while pending:
            failures: dict[str, GmailError] = {}
            whole_batch_failed = False
            for start in range(0, len(pending), size):
                chunk = pending[start:start + size]
                error = self._run_batch({rid: requests[rid] for rid in chunk}, results, failures)
                if error is not None:
                    whole_batch_failed = True
                    failures.update({rid: error for rid in chunk if rid not in results})
            permanent = [e for e in failures.values() if not isinstance(e, GmailTemporaryError)]
            if permanent:
                raise permanent[0]
            pending = [rid for rid in pending if rid in failures]
            if not pending:
                break
            if attempt + 1 >= self._retry.attempts:
                raise next(iter(failures.values()))
            if whole_batch_failed:
                size = max(1, size // 2)
            hint = max((e.retry_after or 0 for e in failures.values()), default=0)
            delay = self._retry.delay(attempt, self._rand(), hint)
            if self._no_time_for(delay):
                raise next(iter(failures.values()))
            self._sleep(delay)
            attempt += 1
        return results

    def _run_batch(self, requests: dict[str, Any], results: dict[str, Any],
                   failures: dict[str, GmailError]) -> GmailError | None:
        """One /batch call; returns the error when the batch itself failed."""

        def collect(request_id, response, exception):
            if exception is None:
                results[request_id] = response
                return
            error = translate(exception)
            if isinstance(error, NotFound):
                results[request_id] = None
            else:
                failures[request_id] = error

        batch = MeteredBatch(callback=collect, batch_uri=self._batch_url)
        for request_id, request in requests.items():
            batch.add(request, request_id=request_id)
        self._within_deadline()
        try:
            batch.execute(http=self._http)
        except Exception as raw:  # noqa: BLE001 - translate() re-raises what it does not know
            error = translate(raw)
            if not isinstance(error, GmailTemporaryError):
                raise error from raw
            return error
        return None

    # -- API ---------------------------------------------------------------------------------

    def get_profile(self) -> dict[str, Any]:
        return self._execute(self._users.getProfile(userId="me"))

    def history_pages(self, start_history_id: str, *, label_id: str | None = "INBOX",
                      history_types: Iterable[str] = SYNC_HISTORY_TYPES,
                      page_size: int = 500, first: dict[str, Any] | None = None) -> Iterator[HistoryPage]:
        """History since `start_history_id`, all of it (one call per page, whatever it holds), sorted by
        `parse_history_page`: new mail with `label_id` (INBOX), that label's arrivals and departures, and the
        owner's sent messages. `first`: the answer to the first page, already fetched (by the polling sweep)."""
        page_token = None
        while True:
            if first is not None:
                response, first = first, None
            else:
                params = history_params(start_history_id, history_types=history_types,
                                        page_size=page_size, page_token=page_token)
                response = self._execute(self._history.list(**params), during_history=True)
            page = parse_history_page(response, label_id)
            page_token = page.next_page_token
            yield page
            if not page_token:
                return

    def list_message_ids(self, *, label_ids: Iterable[str] = (), query: str | None = None,
                         limit: int | None = None, page_size: int = 500) -> list[str]:
        ids: list[str] = []
        page_token = None
        while True:
            params: dict[str, Any] = dict(userId="me", maxResults=min(page_size, limit or page_size))
            if label_ids:
                params["labelIds"] = list(label_ids)
            if query:
                params["q"] = query
            if page_token:
                params["pageToken"] = page_token
            response = self._execute(self._messages.list(**params))
            ids.extend(m["id"] for m in response.get("messages", []))
            page_token = response.get("nextPageToken")
            if not page_token or (limit is not None and len(ids) >= limit):
                return ids[:limit] if limit is not None else ids

    def get_metadata(self, message_ids: Iterable[str], *, batch_size: int = 50,
                     headers: Iterable[str] = METADATA_HEADERS) -> dict[str, dict[str, Any] | None]:
        """messages.get format=metadata for each id, through /batch; a vanished message maps to None."""
        ids = list(dict.fromkeys(message_ids))
        results: dict[str, dict[str, Any] | None] = {}
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            requests = {
                mid: self._messages.get(userId="me", id=mid, format="metadata", metadataHeaders=list(headers))
                for mid in chunk
            }
            results.update(self._batch(requests))
        return results

    def get_message(self, message_id: str, *, format: str = "metadata",
                    headers: Iterable[str] = METADATA_HEADERS) -> dict[str, Any]:
        params: dict[str, Any] = dict(userId="me", id=message_id, format=format)
        if format == "metadata":
            params["metadataHeaders"] = list(headers)
        return self._execute(self._messages.get(**params))

    def get_label_ids(self, message_ids: Iterable[str], *, batch_size: int = 50) -> dict[str, list[str] | None]:
        """The labels of each message (messages.get format=minimal, 5 units each, through /batch); None for a
        message that no longer exists."""
        ids = list(dict.fromkeys(message_ids))
        results: dict[str, list[str] | None] = {}
        for start in range(0, len(ids), batch_size):
            requests = {mid: self._messages.get(userId="me", id=mid, format="minimal", fields="id,labelIds")
                        for mid in ids[start:start + batch_size]}
            for mid, response in self._batch(requests).items():
                results[mid] = None if response is None else list(response.get("labelIds", []))
        return results

    def modify(self, message_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> dict[str, Any]:
        body = {"addLabelIds": list(add), "removeLabelIds": list(remove)}
        return self._execute(self._messages.modify(userId="me", id=message_id, body=body))

    def batch_modify(self, message_ids: Iterable[str], *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        ids = list(message_ids)
        for start in range(0, len(ids), BATCH_MODIFY_LIMIT):
            body = {"ids": ids[start:start + BATCH_MODIFY_LIMIT], "addLabelIds": list(add),
                    "removeLabelIds": list(remove)}
            self._execute(self._messages.batchModify(userId="me", body=body))

    def list_labels(self) -> list[dict[str, Any]]:
        return self._execute(self._labels.list(userId="me")).get("labels", [])

    def create_label(self, name: str) -> dict[str, Any]:
        body = {"name": name, "labelListVisibility": "labelShow", "messageListVisibility": "show"}
        return self._execute(self._labels.create(userId="me", body=body))

    def send(self, raw: str, *, thread_id: str | None = None) -> dict[str, Any]:
        """messages.send. Retried only when Gmail says it did not take the message (a per-user rate limit):
        after a 5xx or a timeout the email may have gone out, and a customer must never get it twice."""
        body: dict[str, Any] = {"raw": raw}
        if thread_id:
            body["threadId"] = thread_id
        attempt = 0
        while True:
            try:
                return self._messages.send(userId="me", body=body).execute(http=self._http, num_retries=0)
            except Exception as raw_error:  # noqa: BLE001 - translate_send() re-raises what it does not know
                error = translate_send(raw_error)
                if not isinstance(error, SendThrottled):
                    raise error from raw_error
                if attempt + 1 >= self._retry.attempts:
                    raise SendingLimitExceeded(str(error)) from raw_error
                self._sleep(self._retry.delay(attempt, self._rand(), error.retry_after))
                attempt += 1

    def list_page(self, *, query: str | None = None, page_token: str | None = None, max_results: int = 100,
                  label_ids: Iterable[str] = ()) -> tuple[list[str], str | None]:
        """One page of messages.list: (ids newest first, the next page's token or None)."""
        params: dict[str, Any] = dict(userId="me", maxResults=max(1, min(500, max_results)))
        if query:
            params["q"] = query
        if page_token:
            params["pageToken"] = page_token
        if label_ids:
            params["labelIds"] = list(label_ids)
        response = self._execute(self._messages.list(**params))
        return [m["id"] for m in response.get("messages", [])], response.get("nextPageToken")

    def watch(self, topic_name: str, *, label_ids: Iterable[str] = ("INBOX",)) -> dict[str, Any]:
        body = {"topicName": topic_name, "labelIds": list(label_ids), "labelFilterBehavior": "include"}
        return self._execute(self._users.watch(userId="me", body=body))

    def stop(self) -> None:
        self._execute(self._users.stop(userId="me"))

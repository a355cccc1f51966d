"""What a log line is about — the Slack request or job, the mailbox, the workspace — carried in a context
variable, so every layer's log lines name it without passing it down (bot/logs.py adds it to each record).

Identifiers only, never content: a subject, snippet, body or token must never be put here.
"""
from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
log = logging.getLogger("mailmagnet.jobs")

FIELDS = ("request_id", "job_id", "job", "mailbox_id", "workspace", "slack_user")

_CURRENT: ContextVar[dict[str, str | int]] = ContextVar("mailmagnet_log_context", default={})


def current() -> dict[str, str | int]:
    return _CURRENT.get()


def new_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def log_context(**fields: str | int | None) -> Iterator[None]:
    """Within this block (and the threads given a copy of its context), log lines carry these fields."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {sorted(unknown)}")
    token = _CURRENT.set({**_CURRENT.get(), **{key: value for key, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _CURRENT.reset(token)


def bind(**fields: str | int | None) -> None:
    """Sets the context for the rest of this request on this thread (Bolt's middleware cannot wrap the listener
    in a block: it runs after the middleware returned). The HTTP layer resets it when the request ends."""
    _CURRENT.set({key: value for key, value in fields.items() if value is not None and key in FIELDS})


def in_job(job: str, mailbox_id: int | None, work: Callable[..., T]) -> Callable[..., T]:
    """`work` run with a job id of its own, for a pool: `pool.submit(in_job("sync", 42, run), …)`."""

    def run(*args, **kwargs) -> T:
        with log_context(job_id=new_id(), job=job, mailbox_id=mailbox_id):
            started = time.monotonic()
            log.debug("%s run started", job)
            try:
                return work(*args, **kwargs)
            finally:
                log.debug("%s run ended after %.3f s", job, time.monotonic() - started)

    return run


class ContextCopyingExecutor(ThreadPoolExecutor):
    """A pool whose tasks see the submitter's context variables (the request's log context), as asyncio's
    tasks do; a plain ThreadPoolExecutor runs them in the worker thread's own."""

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(copy_context().run, fn, *args, **kwargs)

"""Per-request plumbing for listeners: who is asking, one database session per listener call."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from slack_sdk import WebClient
from sqlmodel import Session

from bot.services import Services
from crm_store.db import session_scope
from crm_store.identity import Actor, SlackIdentity, resolve_actor
from handlers.identity import slack_identity

log = logging.getLogger(__name__)


@dataclass
class SlackRequest:
    services: Services
    client: WebClient
    team_id: str
    user_id: str
    channel_id: str | None = None

    @classmethod
    def of(cls, services: Services, body: dict, client: WebClient) -> SlackRequest:
        team_id = body.get("team_id") or (body.get("team") or {}).get("id") or ""
        user_id = body.get("user_id") or (body.get("user") or {}).get("id") or ""
        channel_id = body.get("channel_id") or (body.get("channel") or {}).get("id")
        return cls(services, client, team_id, user_id, channel_id)

    def identity(self) -> SlackIdentity:
        return slack_identity(self.client, self.team_id, self.user_id)

    @contextmanager
    def scope(self) -> Iterator[tuple[Session, Actor]]:
        """A session (committed at the end) and the resolved actor."""
        identity = self.identity()
        with session_scope(self.services.engine) as session:
            yield session, resolve_actor(session, identity)

    # The scheduler is optional (tests, `serve` without jobs): these calls are no-ops without it.

    def request_sync(self, account_id: int) -> None:
        if self.services.jobs is not None:
            self.services.jobs.request_sync(account_id)

    def mailbox_disconnected(self, account_id: int) -> None:
        if self.services.jobs is not None:
            self.services.jobs.mailbox_disconnected(account_id)

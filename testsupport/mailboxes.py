"""Many connected mailboxes at once, straight into the store: reps with a linked Slack user and a Gmail mailbox
whose tokens the Gmail emulator issued (replica tests, scale benchmarks, the fleet)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy.engine import Engine

from crm_store.db import session_scope
from crm_store.models import GmailAccount
from crm_store.users import get_or_create_user, link_slack_user, set_permissions


def seed_mailboxes(engine: Engine, cipher, emulator, client_id: str, count: int, *, team_id: str = "T0001",
                   prefix: str = "rep", magnet: bool = True, labels: bool = False,
                   synced: bool = True, backfill_done: bool | None = None) -> list[int]:
    """`count` reps with a connected mailbox each (tokens issued by the emulator, stored encrypted). With labels on,
    the Inbox counts as already filed unless `backfill_done` is False (a mailbox just connected: the first sync
    lists the Inbox and files it)."""
    ids = []
    now = datetime.now(timezone.utc)
    with session_scope(engine) as session:
        for i in range(count):
            address = f"{prefix}{i}@gmail.example"
            emulator.add_user(address)
            tokens = emulator.issue_tokens(address, client_id)
            user = get_or_create_user(session, f"{prefix}{i}@crm.example")
            set_permissions(session, user, mail_integration=True)
            link_slack_user(session, user, team_id=team_id, slack_user_id=f"U{prefix.upper()}{i:05d}")
            credentials = {"token": tokens["access_token"], "refresh_token": tokens.get("refresh_token"),
                           "expiry": (now + timedelta(seconds=int(tokens.get("expires_in", 3599))))
                           .replace(tzinfo=None).isoformat(),
                           "scopes": tokens.get("scope", "").split()}
            account = GmailAccount(
                crm_user_id=user.id, slack_team_id=team_id, slack_user_id=user.slack_user_id,
                email_address=address, encrypted_credentials=cipher.encrypt(credentials),
                magnet_enabled=magnet, magnet_enabled_at=now if magnet else None,
                labels_enabled=labels, labels_enabled_at=now if labels else None,
                backfill_done=labels if backfill_done is None else backfill_done,
                history_id=str(emulator.history_id(address)) if synced else None, setup_done=True)
            session.add(account)
            session.flush()
            ids.append(account.id)
    return ids



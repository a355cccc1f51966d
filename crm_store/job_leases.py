"""Named job leases (the Zoho CRM sync): one row per job in `job_leases`, claimed with one
`INSERT … ON CONFLICT (name) DO UPDATE … WHERE the lease expired or is ours RETURNING owner`.
On PostgreSQL a concurrent claim waits for the first one's row and then finds it held; SQLite
serialises writers. A job renews its lease as it goes (`renew_job_in` inside the transaction
that commits its work, so a replica that lost its lease cannot commit), and releases it at the end.
Owners are named as mailbox leases' are (crm_store/leases.py: `replica_owner`, `release_dead`).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from crm_store.db import session_scope
from crm_store.models import JobLease, utcnow


def claim_job(engine: Engine, name: str, owner: str, *, lease_seconds: int, now: datetime | None = None) -> bool:
    """Take the job's lease if it is free, expired, or already ours (then it is extended)."""
    from sqlalchemy.dialects import postgresql, sqlite

    now = now or utcnow()
    table = JobLease.__table__
    with session_scope(engine) as session:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(name=name, owner=owner,
                                                 expires_at=now + timedelta(seconds=lease_seconds))
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={"owner": statement.excluded.owner, "expires_at": statement.excluded.expires_at},
            where=sa.or_(table.c.expires_at < now, table.c.owner == owner),
        ).returning(table.c.owner)
        return session.execute(statement).first() is not None


def renew_job_in(connection: Connection, name: str, owner: str, *, lease_seconds: int,
                 now: datetime | None = None) -> bool:
    """Extend our lease in the caller's transaction; False when it is no longer ours (commit nothing then)."""
    now = now or utcnow()
    table = JobLease.__table__
    return connection.execute(
        sa.update(table).where(table.c.name == name, table.c.owner == owner)
        .values(expires_at=now + timedelta(seconds=lease_seconds))
    ).rowcount == 1


def renew_job(engine: Engine, name: str, owner: str, *, lease_seconds: int) -> bool:
    with session_scope(engine) as session:
        return renew_job_in(session.connection(), name, owner, lease_seconds=lease_seconds)


def release_job(engine: Engine, name: str, owner: str) -> bool:
    """Hand the job back at once instead of letting the lease expire."""
    table = JobLease.__table__
    with session_scope(engine) as session:
        return session.execute(sa.delete(table).where(table.c.name == name, table.c.owner == owner)).rowcount == 1


def job_holder(engine: Engine, name: str, now: datetime | None = None) -> str | None:
    """Who holds the job's lease now, if anyone."""
    now = now or utcnow()
    table = JobLease.__table__
    with session_scope(engine) as session:
        return session.execute(sa.select(table.c.owner).where(table.c.name == name, table.c.expires_at >= now)
                               ).scalar_one_or_none()

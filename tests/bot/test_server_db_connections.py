"""A server on PostgreSQL holds DB_POOL_SIZE connections from its start, and the same ones after a burst of requests
busier than that: a long-running replica's connections and descriptors stay constant (benchmarks/soak.py), instead
of a burst opening connections that are closed again once it is over."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests.support.slack import ask, shown_text
from testsupport.stack import start_stack

POOL_SIZE = 3
REPS = 12  # /gmail status at once, four times the pool


def backends(admin: sa.Engine, application_name: str) -> set[tuple[int, str]]:
    """The server's connections as PostgreSQL sees them: each backend's pid and when it started."""
    with admin.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application_name}).all()
    return {(pid, str(started)) for pid, started in rows}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_server_holds_the_same_connections_from_its_start_through_a_burst(database_url):
    application_name = f"mm-pool-{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_url, poolclass=sa.NullPool)
    stack = start_stack(f"{database_url}?application_name={application_name}", db_pool_size=POOL_SIZE)
    try:
        at_start = backends(admin, application_name)
        assert len(at_start) == POOL_SIZE  # all opened before the first request

        reps = [stack.add_rep(f"U{n:03d}REP", f"rep{n}@crm.example", gmail=None) for n in range(REPS)]
        with ThreadPoolExecutor(REPS) as senders:
            answers = list(senders.map(lambda rep: shown_text(ask(stack, "status", user=rep)), reps))
        assert all("no Gmail connected" in text for text in answers)

        assert backends(admin, application_name) == at_start  # none opened, none closed
    finally:
        stack.stop()
        stack.engine.dispose()
        admin.dispose()

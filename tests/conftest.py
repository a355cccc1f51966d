"""Shared fixtures: a migrated database on SQLite and on PostgreSQL for each test.

PostgreSQL comes from TEST_POSTGRES_URL (default: this machine's server). Locally
an unreachable server skips the PostgreSQL half; under CI=true it fails the run.
"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from crm_store.db import create_db_engine, normalise_url, upgrade_database
from testsupport import stack as test_stacks

# Every test stack's stop fails its test when a thread held two pooled connections at once (testsupport/pool_holds.py).
test_stacks.WATCH_POOL_HOLDS = True

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_server_url() -> str:
    return normalise_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def postgres_database_url():
    """A database of its own for this test session, migrated once, dropped at the end."""
    server_url = make_url(_postgres_server_url())
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        admin.dispose()
        message = f"PostgreSQL unreachable at {server_url.render_as_string(hide_password=True)}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"mm_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server_url.set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    with admin.connect() as connection:
        connection.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        )
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            tables = [
                row[0]
                for row in connection.execute(
                    sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
                )
            ]
            if tables:
                quoted = ", ".join(f'"{t}"' for t in tables)
                connection.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A freshly migrated, empty database; the suite runs every user of it on both backends."""
    if request.param == "sqlite":
        path = tmp_path / "mailmagnet.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def engine(database_url):
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def stack(database_url):
    """Both emulators and the real bot server (no scheduler) on loopback, on a fresh database."""
    from testsupport.stack import start_stack

    running = start_stack(database_url)
    yield running
    running.stop()


@pytest.fixture
def live(database_url):
    """The stack with MailMagnet's jobs built but not scheduled: tests run cycles themselves."""
    from testsupport.stack import start_stack

    running = start_stack(database_url, scheduler=True, start_scheduler=False)
    yield running
    running.stop()

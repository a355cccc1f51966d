"""Engine and sessions: SQLite by default (WAL, foreign keys on), PostgreSQL through DATABASE_URL."""
from __future__ import annotations

import dataclasses
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from crm_store import sqlite_checkpoints, sqlite_gate

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Connections a process keeps to PostgreSQL (DB_POOL_SIZE for `serve`).
POSTGRES_POOL_SIZE = 20


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`) and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(normalise_url(engine_or_url))
    return url.get_backend_name() == "sqlite"


def _enable_sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Several threads and processes share the file: wait for a lock rather than fail.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_db_engine(url: str, **kwargs) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        gated = bool(database) and database != ":memory:"
        connect_args = {"check_same_thread": False, "timeout": 30}
        if gated:
            connect_args["factory"] = sqlite_gate.GatedConnection
        engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
        sa.event.listen(engine, "connect", _enable_sqlite_pragmas)
        if gated:
            path = str(Path(database).resolve())
            sqlite_gate.install(engine, path)
            # Checkpoints on a thread of their own, not inside a commit that holds the gate (sqlite_checkpoints).
            sa.event.listen(engine, "connect", sqlite_checkpoints.off_the_commit)
            sqlite_checkpoints.checkpointer.watch(path)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # A fixed number of connections, no overflow: a thread past them waits for one (transactions last
    # milliseconds) rather than opening a connection that is closed again when returned. With 10 and an overflow
    # of 20, every label run (16 mailboxes at once) opened ~10 connections and closed them after: a `serve`
    # replica of the soak opened ~500 connections in 3½ minutes, and its connection count was whatever the run
    # held at the instant it was read (README, "Several replicas on PostgreSQL").
    kwargs.setdefault("pool_size", POSTGRES_POOL_SIZE)
    kwargs.setdefault("max_overflow", 0)
    return sa.create_engine(url, **kwargs)


def fill_pool(engine: Engine) -> int:
    """Open every connection of a PostgreSQL engine's pool now, so a long-running process holds the same
    connections (and descriptors) from its start on; returns how many are open. SQLite's are left alone."""
    if engine.dialect.name != "postgresql":
        return 0
    with ExitStack() as held:
        # Held at once: one after another, the pool would hand out the same connection every time.
        for _ in range(engine.pool.size() - engine.pool.checkedout()):
            held.enter_context(engine.connect())
    return engine.pool.checkedin() + engine.pool.checkedout()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One session per unit of work: committed on success, rolled back on error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def among(session: Session, column, values: list[str]):
    """`column IN values` with the whole list as ONE bound parameter (a PostgreSQL array, a SQLite JSON array),
    not one parameter per value: with 500 values, SQLAlchemy renders, and the driver sends, one parameter
    instead of 500 (on PostgreSQL 2.6 instead of 6.3 ms per look-up; the plan is the same)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.String), unique=True))
    import json

    wanted = sa.func.json_each(sa.bindparam(None, json.dumps(list(values)), type_=sa.String, unique=True))
    return column.in_(sa.select(wanted.table_valued("value").c.value))


def insert_once(session: Session, model, **values) -> bool:
    """INSERT unless a row with the same unique key exists; True when this call inserted it.
    Safe when two requests race (the loser's insert does nothing)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    columns = model.__table__.c
    statement = (dialect.insert(model.__table__).values(**values).on_conflict_do_nothing()
                 .returning(*[columns[name] for name in values]))  # psycopg reports no rowcount here
    return session.execute(statement).first() is not None


def row_class(table: sa.Table, name: str, module: str) -> type:
    """A slotted dataclass with one attribute per column of `table`, named as the model's: a row that a hot path
    reads as it would read the model's entity, without the ORM's identity map and instrumentation (issue 17: loading
    and expunging an entity cost more CPU than the statement). Made from the table, so a new column is there too."""
    made = dataclasses.make_dataclass(name, [(column.key, Any) for column in table.columns], slots=True)
    made.__module__ = module
    return made


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is alembic's interpolation character; URLs may contain it.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


@lru_cache(maxsize=1)
def schema_heads() -> frozenset[str]:
    """The migration revisions this code expects the database at (read once: they change only with the code)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def migrations_current(connection: sa.Connection) -> bool:
    """Whether the database's schema is at this code's migration heads (False: behind, ahead, or never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return frozenset(MigrationContext.configure(connection).get_current_heads()) == schema_heads()

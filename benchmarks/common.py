"""Shared helpers for the benchmark scripts: each prints one JSON object {area: {key: value}}."""
from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path
from typing import Callable

DATA_DIR = Path(__file__).parent / ".data"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_server_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values)


def emit(area: str, figures: dict) -> None:
    print(json.dumps({area: figures}, sort_keys=True))
    sys.stdout.flush()


def postgres_dataset(name: str, ready: Callable[[str], bool], build: Callable[[str], None],
                     reuse: Callable[[str], None] = lambda url: None) -> str | None:
    """The URL of a PostgreSQL database kept between runs for a large benchmark dataset: reused (after
    `reuse`) when `ready` says it is complete, otherwise dropped, created and filled by `build`. None when
    PostgreSQL cannot be reached, so a benchmark reports SQLite alone instead of failing."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from crm_store.db import create_db_engine

    server = make_url(create_db_engine(postgres_server_url()).url)
    url = server.set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists and ready(url):
                reuse(url)
                return url
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        print(f"PostgreSQL unavailable: {error}", file=sys.stderr)
        return None
    finally:
        admin.dispose()
    build(url)
    return url

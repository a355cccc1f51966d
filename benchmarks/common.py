"""Shared helpers for the benchmark scripts: each prints one JSON object {area: {key: value}}."""
from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

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

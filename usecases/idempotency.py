"""Requests with side effects run once (the surfaces derive the keys; the store keeps them)."""
from __future__ import annotations

from datetime import timedelta

from crm_store import processed_requests
from usecases.context import Services


def claim(services: Services, key: str, *, window: timedelta | None = None) -> bool:
    return processed_requests.claim(services.engine, key, window=window)


def seen(services: Services, key: str) -> bool:
    return processed_requests.seen(services.engine, key)


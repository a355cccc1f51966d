"""Zoho-side fixtures: the Zoho CRM emulator over real HTTP, a config aimed at it, clients that never sleep
(tests/support/zoho_sync.py)."""
from __future__ import annotations

from tests.support.zoho_sync import client_for, config, sleeps, zoho  # noqa: F401 - fixtures

"""The HTTP routes of `mailmagnet serve` (SPEC §6), one module per concern; `bot/web.py` lists them in one table.

Routes are plain module-level Flask views. What they share (the services, the push verifier, Bolt's request handler,
the metrics registry) is built once per app by `bot/web.py` and read here through `served()`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from bot.services import BotServices

EXTENSION = "mailmagnet"


@dataclass(frozen=True)
class Served:
    """What one web app's routes use, built once when the app is created."""

    services: BotServices
    slack_handler: Any  # slack_bolt's SlackRequestHandler, None when Slack talks over Socket Mode
    push_verifier: Any  # gmail.push_auth: OidcPushVerifier or QueryTokenVerifier
    metrics_registry: Any  # the prometheus registry /metrics renders
    push_intake: Any = None  # bot/push_intake.PushIntake: takes pushes off the web threads


def served() -> Served:
    return current_app.extensions[EXTENSION]

"""Logging for `serve` and the CLI.

The Google and Slack client libraries log whole requests and responses at DEBUG: tokens, message
subjects, alert blocks. MailMagnet promises none of that reaches a log, so those loggers are
capped at INFO whatever LOG_LEVEL says; MailMagnet's own DEBUG logs carry no content.
"""
from __future__ import annotations

import logging

CHATTY_LIBRARIES = (
    "slack_sdk", "slack_bolt", "googleapiclient", "google_auth_httplib2", "google.auth", "google_auth_oauthlib",
    "requests_oauthlib", "oauthlib", "urllib3", "httplib2", "waitress",
)


def configure_logging(level: str = "INFO") -> None:
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(numeric)
    cap_library_logs(numeric)


def cap_library_logs(level: int = logging.DEBUG) -> None:
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    # Migrations run at every start; their step-by-step INFO lines are noise.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))

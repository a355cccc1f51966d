"""Logging for `serve` and the CLI: text for a terminal (the default), or one JSON object per line
(LOG_FORMAT=json, python-json-logger) for a log pipeline.

Each record carries what it is about from `telemetry.log_context` (request or job id, mailbox id, workspace),
set where a Slack request or a job starts. Never content: the Google and Slack client libraries log whole
requests and responses at DEBUG (tokens, message subjects, alert blocks), so those loggers are capped at INFO
whatever LOG_LEVEL says; MailMagnet's own log lines carry identifiers, never a subject, snippet or body.
"""
from __future__ import annotations

import logging
import sys
import threading

from pythonjsonlogger.json import JsonFormatter

from telemetry import log_context

CHATTY_LIBRARIES = (
    "slack_sdk", "slack_bolt", "googleapiclient", "google_auth_httplib2", "google.auth", "google_auth_oauthlib",
    "requests_oauthlib", "oauthlib", "urllib3", "httplib2", "waitress",
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ContextFilter(logging.Filter):
    """Copies the current log context onto the record (as attributes the formatters read), and drops the client
    libraries' DEBUG records: Bolt copies the root logger's level onto the loggers it makes (past the caps below),
    and its DEBUG lines hold whole response bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO and record.name.startswith(CHATTY_LIBRARIES):
            return False
        for key, value in log_context.current().items():
            setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """The classic line, with the context appended as `key=value` (a terminal reads it as it is)."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{key}={getattr(record, key)}" for key in log_context.FIELDS if hasattr(record, key))
        if not context:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{context}]{newline}{rest}"


def json_formatter() -> JsonFormatter:
    # time (ISO 8601, UTC), level, logger, message; extra attributes — the context fields — follow as keys of
    # their own.
    return JsonFormatter("{levelname}{name}{message}", style="{", timestamp="time",
                         rename_fields={"levelname": "level", "name": "logger"}, json_ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(json_formatter() if fmt == "json" else TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    cap_library_logs(numeric)
    if fmt == "json":
        # Everything that reaches stderr is then a JSON line: warnings and uncaught thread errors go through
        # logging instead of being printed as they are.
        logging.captureWarnings(True)
        threading.excepthook = _log_thread_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    logging.getLogger("mailmagnet.threads").error(
        "uncaught exception in thread %s", args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def cap_library_logs(level: int = logging.DEBUG) -> None:
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    # Migrations run at every start; their step-by-step INFO lines are noise.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))

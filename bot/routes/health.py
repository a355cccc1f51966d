"""/livez, /readyz and its older name /healthz: what a load balancer and an orchestrator ask."""
from __future__ import annotations

import logging

from flask import jsonify

from bot.routes import served
from bot.services import BotServices
from crm_store.db import migrations_current

log = logging.getLogger(__name__)


def readiness(services: BotServices) -> tuple[dict, int]:
    """/readyz: the database answers, its schema is this code's, the scheduler thread lives. 503 names the part
    that fails; the details go to the log, never to whoever asks."""
    try:
        with services.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            current = migrations_current(connection)
    except Exception:  # noqa: BLE001 - the details go to the log, not to whoever asks
        log.exception("readiness: the database does not answer")
        return {"status": "unhealthy", "database": "unavailable", "failing": ["database"]}, 503
    failing = [] if current else ["migrations"]
    jobs = services.jobs
    scheduler = jobs.health() if jobs is not None else {}
    # Anyone may ask: the replica's name (host:pid, the lease owner in the database and the logs) is not
    # theirs to learn, nor anything else that identifies the machine.
    scheduler.pop("replica", None)
    scheduler["scheduler"] = jobs.scheduler_state if jobs is not None else "off"
    if scheduler["scheduler"] == "stopped":  # started, and no longer running (died, or stopping)
        failing.append("scheduler")
    body = {"status": "unhealthy" if failing else "ok", "database": "ok",
            "migrations": "current" if current else "not current", **scheduler}
    if failing:
        body["failing"] = failing
    return body, 503 if failing else 200


def livez():
    # The process answers HTTP: nothing else is looked at (a database outage must not get replicas restarted).
    return jsonify(status="ok")


def readyz():
    body, status = readiness(served().services)
    return jsonify(body), status

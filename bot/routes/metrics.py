"""/metrics: on the METRICS_PORT listener, or on the public port behind METRICS_TOKEN."""
from __future__ import annotations

import hmac

from flask import Response, request

from bot.routes import served
from bot.services import BotServices
from crm_store import work_state
from telemetry import metrics


def work_gauges(services: BotServices) -> metrics.WorkGauges:
    """The gauges /metrics reads from the database when scraped."""
    jobs = services.jobs
    owner = jobs.owner if jobs is not None else None
    return metrics.WorkGauges(lambda: work_state.pending_pushes(services.engine),
                              lambda: work_state.leased_mailboxes(services.engine, owner),
                              jobs.requested_in_flight if jobs is not None else lambda: 0)


def ops_gauges(services: BotServices) -> metrics.OpsGauges:
    """Mailboxes by state and how stale their syncs are, the CRM sync's age: read when /metrics is scraped."""
    return metrics.OpsGauges(lambda: work_state.mailbox_states(services.engine),
                             lambda: work_state.crm_sync_states(services.engine))


def metrics_registry(services: BotServices):
    return metrics.server_registry(work_gauges(services), ops_gauges(services))


def metrics_answer(registry, token: str | None, authorization: str | None) -> Response:
    """/metrics, behind `Authorization: Bearer METRICS_TOKEN` when a token is set."""
    if token is not None:
        given = (authorization or "").removeprefix("Bearer ").strip().encode()
        if not authorization or not authorization.startswith("Bearer ") \
                or not hmac.compare_digest(given, token.encode()):
            return Response("metrics need Authorization: Bearer METRICS_TOKEN\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, content_type = metrics.render(registry)
    return Response(body, mimetype=None, content_type=content_type)


def metrics_on_their_port():
    """The METRICS_PORT listener's /metrics (behind METRICS_TOKEN too, when both are set)."""
    here = served()
    return metrics_answer(here.metrics_registry, here.services.settings.metrics_token,
                          request.headers.get("Authorization"))


def metrics_on_the_public_port():
    settings = served().services.settings
    if settings.metrics_port is not None:
        return Response("not found\n", status=404, mimetype="text/plain")  # served on METRICS_PORT
    if not settings.metrics_token:
        return Response("/metrics is not served on the public port: set METRICS_PORT (a listener of its own) "
                        "or METRICS_TOKEN (a bearer token)\n", status=403, mimetype="text/plain")
    return metrics_on_their_port()

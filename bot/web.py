"""The HTTP routes of `mailmagnet serve` (SPEC §6), as a WSGI app served by waitress."""
from __future__ import annotations

import hmac
import html
import json
import logging
import re
import time
from urllib.parse import quote, urlencode

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from sqlalchemy.exc import DBAPIError
from slack_bolt.adapter.flask import SlackRequestHandler

from crm_store import work_state
from crm_store.db import migrations_current
from crm_store.records.results import MAX_RECORDS_PER_REQUEST, MAX_REQUEST_BYTES
from crm_sync.ingest_api import IngestRefused, Refusal
from gmail.push_auth import OidcPushVerifier, PushRefused, PushUnverifiable, QueryTokenVerifier
from handlers.blocks.refusals import connect_refused_text
from telemetry import metrics
from telemetry.log_context import log_context, new_id
from usecases import crm as crm_use_cases
from usecases import mailbox as mailbox_use_cases
from usecases.push import PushOutcome
from bot.services import BotServices
from usecases.values import ConsentError, ConsentFailure, InvalidState

log = logging.getLogger(__name__)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>MailMagnet</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d1c1d;
line-height:1.5}}a.back{{display:inline-block;margin-top:1rem;padding:.6rem 1.2rem;border-radius:4px;
background:#1f3b57;color:#fff;text-decoration:none}}</style>
</head><body><h1>{title}</h1><p>{message}</p><p><a class="back" href="{back}">Back to Slack</a></p>
<p><small>No Slack app on this device? <a href="{web}">Open Slack in the browser</a></small></p></body></html>"""

# What Slack sends (api.slack.com/authentication/verifying-requests-from-slack). slack_sdk's verifier raises
# on other shapes instead of answering "no", so a request is checked here before Bolt sees it.
SLACK_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
SLACK_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")
PUSH_BODY_LIMIT = 64 * 1024  # a Pub/Sub push envelope is a few hundred bytes


def ingest_refusal(refused: IngestRefused) -> Response:
    """The CRM ingest API's answer to a request refused before its records were looked at (SPEC §6)."""
    status, message, headers = {
        Refusal.UNKNOWN_KIND: (404, "PUT /crm/v1/contacts, /crm/v1/deals or /crm/v1/users", {}),
        Refusal.UNAUTHORIZED: (401, "send Authorization: Bearer <key> with a key from "
                                    "`mailmagnet crm keys create NAME`",
                               {"WWW-Authenticate": 'Bearer realm="mailmagnet-crm"'}),
        Refusal.TOO_LARGE: (413, f"at most {MAX_REQUEST_BYTES} bytes and {MAX_RECORDS_PER_REQUEST} records "
                                 "per request", {}),
        Refusal.NOT_JSON: (400, f"the body is not JSON: {refused.detail}"[:300], {}),
    }[refused.refusal]
    response = jsonify(error=refused.refusal.value, message=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def back_to_slack(team_id: str | None) -> str:
    """Slack's deep link: opens the Slack app (phone or desktop) on the rep's workspace, or on the last one used
    when the page does not know which."""
    return "slack://open" + (f"?{urlencode({'team': team_id})}" if team_id else "")


def slack_in_the_browser(team_id: str | None) -> str:
    """The same workspace in Slack's web client, for a browser on a device without the Slack app."""
    return "https://app.slack.com/client" + (f"/{quote(team_id, safe='')}" if team_id else "")


def page(title: str, message: str, status: int, team_id: str | None = None) -> Response:
    body = PAGE.format(title=html.escape(title), message=html.escape(message),
                       back=html.escape(back_to_slack(team_id), quote=True),
                       web=html.escape(slack_in_the_browser(team_id), quote=True))
    return Response(body, status=status, mimetype="text/html")


CONSENT_FAILED = {
    ConsentFailure.NO_STATE: "The sign-in response has no state. Run /gmail connect again.",
    ConsentFailure.UNKNOWN_STATE: "This sign-in link is not one MailMagnet issued. Run /gmail connect again.",
    ConsentFailure.STATE_USED: "This sign-in link was already used. Run /gmail connect again.",
    ConsentFailure.STATE_EXPIRED: "This sign-in link expired (links last 10 minutes). Run /gmail connect again.",
    ConsentFailure.NO_CODE: "Google sent no authorization code. Run /gmail connect again.",
    ConsentFailure.EXCHANGE_REFUSED: "Google refused the sign-in. Run /gmail connect again.",
}


def consent_failed(error: ConsentError) -> str:
    """The consent page's sentence (plain text: `page` escapes it for HTML)."""
    if isinstance(error, mailbox_use_cases.ConnectRefused):
        return connect_refused_text(error)
    if error.failure is ConsentFailure.NOT_GRANTED:
        why = "you declined" if error.google_error == "access_denied" else error.google_error
        return f"Google access was not granted ({why}). Run /gmail connect to try again."
    return CONSENT_FAILED.get(error.failure) or str(error) or "Run /gmail connect again."


def slack_headers_well_formed(headers) -> bool:
    return bool(SLACK_TIMESTAMP.match(headers.get("X-Slack-Request-Timestamp", ""))
                and SLACK_SIGNATURE.match(headers.get("X-Slack-Signature", "")))


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


def create_metrics_app(services: BotServices) -> Flask:
    """The METRICS_PORT listener: /metrics only (behind METRICS_TOKEN too, when both are set)."""
    web = Flask("mailmagnet-metrics")
    registry = metrics_registry(services)
    token = services.settings.metrics_token

    @web.get("/metrics")
    def prometheus_metrics():
        return metrics_answer(registry, token, request.headers.get("Authorization"))

    return web


def push_verifier(settings) -> OidcPushVerifier | QueryTokenVerifier:
    """The OIDC token of an authenticated push subscription; the query token only when OIDC is not set up."""
    if settings.push_oidc:
        return OidcPushVerifier(audience=settings.pubsub_push_audience,
                                service_account=settings.pubsub_push_service_account,
                                certs_url=settings.google_certs_url)
    return QueryTokenVerifier(settings.pubsub_verification_token)


def with_request_id(wsgi_app):
    """Every HTTP request's log lines carry an id of its own (telemetry/log_context.py)."""

    def app(environ, start_response):
        with log_context(request_id=new_id()):
            return wsgi_app(environ, start_response)

    return app


def slack_request_kind(content_type: str | None, body: bytes) -> str:
    """`command`, `interactive` or `event`, from what Slack posts (for the ack histogram): events are JSON,
    commands and interactions form-encoded, commands with a `command` field."""
    if (content_type or "").startswith("application/json"):
        return "event"
    return "command" if any(field.startswith(b"command=") for field in body.split(b"&")) else "interactive"


def create_web_app(services: BotServices, slack_app: App | None) -> Flask:
    web = Flask("mailmagnet")
    web.wsgi_app = with_request_id(web.wsgi_app)
    registry = metrics_registry(services)
    settings = services.settings
    verifier = push_verifier(settings)
    slack_handler = SlackRequestHandler(slack_app) if slack_app is not None else None

    def slack() -> Response:
        if slack_handler is None:
            return Response("Slack requests arrive over Socket Mode on this server", status=404)
        return slack_handler.handle(request)

    def slack_events() -> Response:
        started = time.perf_counter()
        if slack_handler is not None and not slack_headers_well_formed(request.headers):
            metrics.SLACK_REQUESTS.labels(kind="rejected", name="malformed_signature").inc()
            return Response("invalid request", status=401)
        response = slack()
        # Bolt answers once the listener acked (process_before_response=False): this is the ack's latency.
        kind = slack_request_kind(request.content_type, request.get_data())  # cached by Bolt's adapter
        metrics.SLACK_ACK_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
        return response

    web.add_url_rule("/slack/events", "slack_events", slack_events, methods=["POST"])
    web.add_url_rule("/slack/install", "slack_install", slack, methods=["GET"])
    web.add_url_rule("/slack/oauth_redirect", "slack_oauth_redirect", slack, methods=["GET"])

    @web.get("/gmail/oauth/callback")
    def gmail_oauth_callback():
        try:
            outcome = mailbox_use_cases.finish_connect(services, state=request.args.get("state"),
                                                       code=request.args.get("code"), error=request.args.get("error"))
        except ConsentError as error:
            metrics.GMAIL_CONNECTS.labels(result="refused").inc()
            refused = isinstance(error, (InvalidState, mailbox_use_cases.ConnectRefused))
            return page("Gmail was not connected", consent_failed(error), 403 if refused else 400)
        except Exception as error:  # noqa: BLE001 - the rep sees a page, never a traceback
            log.exception("Gmail connection failed")
            metrics.GMAIL_CONNECTS.labels(result="error").inc()
            return page("Gmail was not connected", f"Something went wrong ({type(error).__name__}). "
                        "Run /gmail connect again.", 500)
        metrics.GMAIL_CONNECTS.labels(result="connected").inc()
        return page("Gmail connected", f"MailMagnet is connected to {outcome.account.email_address}. "
                    "You can close this tab and return to Slack.", 200, outcome.account.slack_team_id)

    @web.post("/gmail/push")
    def gmail_push():
        try:
            verifier.verify(request.headers.get("Authorization"), request.args.get("token"))
        except PushRefused as refused:
            # Nothing of the body is read: a refused push has no effect at all.
            log.warning("refused a Pub/Sub push: %s", refused.reason)
            metrics.PUSH_NOTIFICATIONS.labels(result=PushOutcome.REJECTED.value).inc()
            return Response("unauthorized" if refused.status == 401 else "forbidden", status=refused.status)
        except PushUnverifiable as error:
            log.warning("could not verify a Pub/Sub push (it will be delivered again): %s", error)
            metrics.PUSH_NOTIFICATIONS.labels(result=PushOutcome.UNVERIFIED.value).inc()
            return Response("try again later", status=503)
        if (request.content_length or 0) > PUSH_BODY_LIMIT:
            metrics.PUSH_NOTIFICATIONS.labels(result=PushOutcome.IGNORED.value).inc()
            return Response(status=204)
        try:
            envelope = json.loads(request.get_data(cache=False)[:PUSH_BODY_LIMIT] or b"null")
        except (ValueError, RecursionError, UnicodeDecodeError):
            envelope = None
        if services.jobs is None:
            return Response(status=204)
        try:
            outcome = services.jobs.push_received(envelope)
        except DBAPIError as error:
            # The database is away (restarting, failing over): Pub/Sub delivers a push again after a non-2xx.
            log.warning("Pub/Sub push not taken, the database is unavailable (it will be delivered again): %s",
                        type(error).__name__)
            metrics.PUSH_NOTIFICATIONS.labels(result=PushOutcome.UNAVAILABLE.value).inc()
            return Response("try again later", status=503)
        metrics.PUSH_NOTIFICATIONS.labels(result=PushOutcome(outcome).value).inc()
        # 2xx even for an envelope we ignore: a non-2xx makes Pub/Sub redeliver it forever.
        return Response(status=204)

    @web.put("/crm/v1/<kind>")
    def crm_ingest(kind: str):
        # A declared length over the limit is refused unread; otherwise one byte past the limit is enough to tell.
        too_large = (request.content_length or 0) > MAX_REQUEST_BYTES
        body = b"x" * (MAX_REQUEST_BYTES + 1) if too_large else request.get_data(cache=False)[:MAX_REQUEST_BYTES + 1]
        try:
            result = crm_use_cases.ingest(services, kind, authorization=request.headers.get("Authorization"),
                                          body=body)
        except IngestRefused as refused:
            return ingest_refusal(refused)
        return jsonify(result.as_json()), 422 if result.rejected else 200

    def readiness() -> tuple[dict, int]:
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

    @web.get("/livez")
    def livez():
        # The process answers HTTP: nothing else is looked at (a database outage must not get replicas restarted).
        return jsonify(status="ok")

    @web.get("/readyz")
    def readyz():
        body, status = readiness()
        return jsonify(body), status

    @web.get("/healthz")
    def healthz():  # the older name of /readyz, same answer
        body, status = readiness()
        return jsonify(body), status

    @web.get("/metrics")
    def prometheus_metrics():
        if settings.metrics_port is not None:
            return Response("not found\n", status=404, mimetype="text/plain")  # served on METRICS_PORT
        if not settings.metrics_token:
            return Response("/metrics is not served on the public port: set METRICS_PORT (a listener of its own) "
                            "or METRICS_TOKEN (a bearer token)\n", status=403, mimetype="text/plain")
        return metrics_answer(registry, settings.metrics_token, request.headers.get("Authorization"))

    return web

"""The HTTP routes of `mailmagnet serve` (SPEC §6), as a WSGI app served by waitress."""
from __future__ import annotations

import html
import logging

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler

from bot import metrics
from bot.services import Services
from gmail.connect import finish_connect
from gmail.oauth import ConsentError, InvalidState

log = logging.getLogger(__name__)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MailMagnet</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d1c1d}}</style>
</head><body><h1>{title}</h1><p>{message}</p></body></html>"""


def page(title: str, message: str, status: int) -> Response:
    body = PAGE.format(title=html.escape(title), message=html.escape(message))
    return Response(body, status=status, mimetype="text/html")


def create_web_app(services: Services, slack_app: App | None) -> Flask:
    web = Flask("mailmagnet")
    slack_handler = SlackRequestHandler(slack_app) if slack_app is not None else None

    def slack() -> Response:
        if slack_handler is None:
            return Response("Slack requests arrive over Socket Mode on this server", status=404)
        return slack_handler.handle(request)

    web.add_url_rule("/slack/events", "slack_events", slack, methods=["POST"])
    web.add_url_rule("/slack/install", "slack_install", slack, methods=["GET"])
    web.add_url_rule("/slack/oauth_redirect", "slack_oauth_redirect", slack, methods=["GET"])

    @web.get("/gmail/oauth/callback")
    def gmail_oauth_callback():
        try:
            google, cipher, gmail, consent = services.require_gmail()
            outcome = finish_connect(services.engine, consent, gmail, cipher, state=request.args.get("state"),
                                     code=request.args.get("code"), error=request.args.get("error"))
        except ConsentError as error:
            metrics.GMAIL_CONNECTS.labels(result="refused").inc()
            return page("Gmail was not connected", str(error), 403 if isinstance(error, InvalidState) else 400)
        except Exception as error:  # noqa: BLE001 - the rep sees a page, never a traceback
            log.exception("Gmail connection failed")
            metrics.GMAIL_CONNECTS.labels(result="error").inc()
            return page("Gmail was not connected", f"Something went wrong ({type(error).__name__}). "
                        "Run /gmail connect again.", 500)
        metrics.GMAIL_CONNECTS.labels(result="connected").inc()
        services.notifier.mailbox_connected(outcome.account, replaced_address=outcome.replaced_address)
        if services.jobs is not None:
            services.jobs.mailbox_connected(outcome.account)
        return page("Gmail connected", f"MailMagnet is connected to {outcome.account.email_address}. "
                    "You can close this tab and return to Slack.", 200)

    @web.post("/gmail/push")
    def gmail_push():
        expected = services.settings.pubsub_verification_token
        if not expected or request.args.get("token") != expected:
            metrics.PUSH_NOTIFICATIONS.labels(result="rejected").inc()
            return Response("forbidden", status=403)
        envelope = request.get_json(silent=True)
        if services.jobs is None:
            return Response(status=204)
        accepted = services.jobs.push_received(envelope)
        metrics.PUSH_NOTIFICATIONS.labels(result="accepted" if accepted else "ignored").inc()
        # 2xx even for an envelope we ignore: a non-2xx makes Pub/Sub redeliver it forever.
        return Response(status=204)

    @web.get("/healthz")
    def healthz():
        try:
            with services.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Exception as error:  # noqa: BLE001
            return jsonify(status="unhealthy", database=str(error).splitlines()[0]), 503
        scheduler = services.jobs.health() if services.jobs is not None else {"scheduler": "off"}
        return jsonify(status="ok", database="ok", **scheduler)

    @web.get("/metrics")
    def prometheus_metrics():
        body, content_type = metrics.render()
        return Response(body, mimetype=None, content_type=content_type)

    return web

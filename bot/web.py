"""The HTTP routes of `mailmagnet serve` (SPEC §6), as a WSGI app served by waitress: one table, one row a route;
the views live in `bot/routes/`, one module per concern."""
from __future__ import annotations

from typing import Callable, NamedTuple

from flask import Flask
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler

from bot.routes import EXTENSION, Served, crm, gmail, health, metrics, slack
from bot.push_intake import PushIntake
from bot.services import BotServices
from telemetry.log_context import log_context, new_id


class WebRoute(NamedTuple):
    rule: str
    view: Callable
    method: str = "GET"
    endpoint: str | None = None  # the view's name unless two rules share a view


ROUTES = (
    WebRoute("/slack/events", slack.slack_events, "POST"),
    WebRoute("/slack/install", slack.to_bolt, endpoint="slack_install"),
    WebRoute("/slack/oauth_redirect", slack.to_bolt, endpoint="slack_oauth_redirect"),
    WebRoute("/gmail/oauth/callback", gmail.gmail_oauth_callback),
    WebRoute("/gmail/push", gmail.gmail_push, "POST"),
    WebRoute("/crm/v1/<kind>", crm.crm_ingest, "PUT"),
    WebRoute("/livez", health.livez),
    WebRoute("/readyz", health.readyz),
    WebRoute("/healthz", health.readyz, endpoint="healthz"),  # the older name of /readyz, same answer
    WebRoute("/metrics", metrics.metrics_on_the_public_port),
)
METRICS_ROUTES = (WebRoute("/metrics", metrics.metrics_on_their_port),)


def with_request_id(wsgi_app):
    """Every HTTP request's log lines carry an id of its own (telemetry/log_context.py)."""

    def app(environ, start_response):
        with log_context(request_id=new_id()):
            return wsgi_app(environ, start_response)

    return app


def flask_app(name: str, routes: tuple[WebRoute, ...], shared: Served) -> Flask:
    web = Flask(name)
    web.extensions[EXTENSION] = shared
    for route in routes:
        web.add_url_rule(route.rule, route.endpoint or route.view.__name__, route.view, methods=[route.method])
    return web


def create_web_app(services: BotServices, slack_app: App | None) -> Flask:
    intake = PushIntake(lambda envelope: services.jobs.push_received(envelope),
                        threads=services.settings.http_threads, max_held=max(1, services.settings.http_threads // 2))
    shared = Served(services, SlackRequestHandler(slack_app) if slack_app is not None else None,
                    gmail.push_verifier(services.settings), metrics.metrics_registry(services), intake)
    web = flask_app("mailmagnet", ROUTES, shared)
    web.wsgi_app = with_request_id(web.wsgi_app)
    return web


def create_metrics_app(services: BotServices) -> Flask:
    """The METRICS_PORT listener: /metrics only (behind METRICS_TOKEN too, when both are set)."""
    return flask_app("mailmagnet-metrics", METRICS_ROUTES,
                     Served(services, None, None, metrics.metrics_registry(services)))

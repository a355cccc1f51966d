"""/gmail/oauth/callback (the consent page a rep lands on) and /gmail/push (Gmail's Pub/Sub notifications)."""
from __future__ import annotations

import html
import json
import logging
from urllib.parse import quote, urlencode

from flask import Response, request
from sqlalchemy.exc import DBAPIError

from bot.routes import served
from gmail.push_auth import OidcPushVerifier, PushRefused, PushUnverifiable, QueryTokenVerifier
from telemetry import metrics
from usecases import mailbox as mailbox_use_cases
from usecases.push import PushOutcome
from usecases.values import ConsentError, ConsentFailure, InvalidState

log = logging.getLogger(__name__)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>MailMagnet</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d1c1d;
line-height:1.5}}a.back{{display:inline-block;margin-top:1rem;padding:.6rem 1.2rem;border-radius:4px;
background:#1f3b57;color:#fff;text-decoration:none}}</style>
</head><body><h1>{title}</h1><p>{message}</p><p><a class="back" href="{back}">Back to Slack</a></p>
<p><small>No Slack app on this device? <a href="{web}">Open Slack in the browser</a></small></p></body></html>"""

PUSH_BODY_LIMIT = 64 * 1024  # a Pub/Sub push envelope is a few hundred bytes

CONSENT_FAILED = {
    ConsentFailure.NO_STATE: "The sign-in response has no state. Run /gmail connect again.",
    ConsentFailure.UNKNOWN_STATE: "This sign-in link is not one MailMagnet issued. Run /gmail connect again.",
    ConsentFailure.STATE_USED: "This sign-in link was already used. Run /gmail connect again.",
    ConsentFailure.STATE_EXPIRED: "This sign-in link expired (links last 10 minutes). Run /gmail connect again.",
    ConsentFailure.NO_CODE: "Google sent no authorization code. Run /gmail connect again.",
    ConsentFailure.EXCHANGE_REFUSED: "Google refused the sign-in. Run /gmail connect again.",
}


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


def consent_failed(error: ConsentError) -> str:
    """The consent page's sentence (plain text: `page` escapes it for HTML)."""
    if error.failure is ConsentFailure.NOT_GRANTED:
        why = "you declined" if error.google_error == "access_denied" else error.google_error
        return f"Google access was not granted ({why}). Run /gmail connect to try again."
    return CONSENT_FAILED.get(error.failure) or str(error) or "Run /gmail connect again."


def push_verifier(settings) -> OidcPushVerifier | QueryTokenVerifier:
    """The OIDC token of an authenticated push subscription; the query token only when OIDC is not set up."""
    if settings.push_oidc:
        return OidcPushVerifier(audience=settings.pubsub_push_audience,
                                service_account=settings.pubsub_push_service_account,
                                certs_url=settings.google_certs_url)
    return QueryTokenVerifier(settings.pubsub_verification_token)


def gmail_oauth_callback() -> Response:
    try:
        outcome = mailbox_use_cases.finish_connect(served().services, state=request.args.get("state"),
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


def gmail_push() -> Response:
    try:
        served().push_verifier.verify(request.headers.get("Authorization"), request.args.get("token"))
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
    if served().services.jobs is None:
        return Response(status=204)
    try:
        outcome = served().push_intake.submit(envelope)  # None: answered before it was taken (overload)
    except DBAPIError as error:
        # The database is away (restarting, failing over): Pub/Sub delivers a push again after a non-2xx.
        log.warning("Pub/Sub push not taken, the database is unavailable (it will be delivered again): %s",
                    type(error).__name__)
        metrics.PUSH_NOTIFICATIONS.labels(result=PushOutcome.UNAVAILABLE.value).inc()
        return Response("try again later", status=503)
    metrics.PUSH_NOTIFICATIONS.labels(result=PushOutcome(outcome or PushOutcome.QUEUED).value).inc()
    # 2xx even for an envelope we ignore: a non-2xx makes Pub/Sub redeliver it forever.
    return Response(status=204)

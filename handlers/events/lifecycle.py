"""tokens_revoked and app_uninstalled: forget the workspace's tokens (multi-workspace), never fail."""
from __future__ import annotations

import logging

from slack_bolt import App, BoltContext
from slack_bolt.listener.builtins import TokenRevocationListeners

from bot.services import Services
from handlers.identity import clear_cache
from handlers.middleware import once

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    store = services.slack.installation_store
    revocation = TokenRevocationListeners(store) if store is not None else None

    @app.event("tokens_revoked")
    @once(services)
    def tokens_revoked(event: dict, context: BoltContext):
        tokens = event.get("tokens") or {}
        log.info("Slack revoked tokens in %s: %d bot, %d user", context.team_id,
                 len(tokens.get("bot") or []), len(tokens.get("oauth") or []))
        if revocation is None:
            return  # one workspace, one configured token: nothing stored to forget
        try:
            revocation.handle_tokens_revoked_events(event, context)
        except Exception:
            log.exception("could not delete revoked tokens of %s", context.team_id)
        clear_cache()

    @app.event("app_uninstalled")
    @once(services)
    def app_uninstalled(context: BoltContext):
        log.info("MailMagnet was uninstalled from %s", context.team_id)
        if revocation is None:
            return
        try:
            revocation.handle_app_uninstalled_events(context)
        except Exception:
            log.exception("could not delete the installation of %s", context.team_id)
        clear_cache()

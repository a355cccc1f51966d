"""tokens_revoked and app_uninstalled: forget the workspace's tokens (multi-workspace), never fail."""
from __future__ import annotations

import logging

from slack_bolt import App, BoltContext
from slack_bolt.listener.builtins import TokenRevocationListeners

from handlers.middleware import once
from usecases.values import Services

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    store = getattr(services.slack, "installation_store", None)
    revocation = TokenRevocationListeners(store) if store is not None else None

    def forget_who_is_who() -> None:
        if services.directory is not None and hasattr(services.directory, "clear"):
            services.directory.clear()

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
        forget_who_is_who()

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
        forget_who_is_who()

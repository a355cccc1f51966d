"""tokens_revoked and app_uninstalled: forget the workspace's tokens (multi-workspace), never fail."""
from __future__ import annotations

import logging

from slack_bolt import BoltContext
from slack_bolt.listener.builtins import TokenRevocationListeners

from usecases.values import Services

log = logging.getLogger(__name__)


def _revocation(services: Services) -> TokenRevocationListeners | None:
    """Bolt's own listeners on our installation store; None with one workspace and its configured token."""
    store = services.slack.installation_store if services.slack is not None else None
    return TokenRevocationListeners(store) if store is not None else None


def _forget_who_is_who(services: Services) -> None:
    if services.directory is not None:
        services.directory.clear()


def tokens_revoked(event: dict, context: BoltContext, services: Services):
    tokens = event.get("tokens") or {}
    log.info("Slack revoked tokens in %s: %d bot, %d user", context.team_id,
             len(tokens.get("bot") or []), len(tokens.get("oauth") or []))
    revocation = _revocation(services)
    if revocation is None:
        return  # one workspace, one configured token: nothing stored to forget
    try:
        revocation.handle_tokens_revoked_events(event, context)
    except Exception:
        log.exception("could not delete revoked tokens of %s", context.team_id)
    _forget_who_is_who(services)


def app_uninstalled(context: BoltContext, services: Services):
    log.info("MailMagnet was uninstalled from %s", context.team_id)
    revocation = _revocation(services)
    if revocation is None:
        return
    try:
        revocation.handle_app_uninstalled_events(context)
    except Exception:
        log.exception("could not delete the installation of %s", context.team_id)
    _forget_who_is_who(services)

"""tokens_revoked and app_uninstalled: forget the workspace's tokens (multi-workspace), never fail."""
from __future__ import annotations

import logging

from slack_bolt import BoltContext

from usecases.values import Services

log = logging.getLogger(__name__)


def _forget_who_is_who(services: Services) -> None:
    if services.directory is not None:
        services.directory.clear()


def tokens_revoked(event: dict, context: BoltContext, services: Services):
    tokens = event.get("tokens") or {}
    log.info("Slack revoked tokens in %s: %d bot, %d user", context.team_id,
             len(tokens.get("bot") or []), len(tokens.get("oauth") or []))
    if services.slack is None:
        return
    try:
        forgotten = services.slack.forget_revoked_tokens(context.enterprise_id, context.team_id,
                                                         bot=bool(tokens.get("bot")),
                                                         user_ids=list(tokens.get("oauth") or []))
    except Exception:
        log.exception("could not delete revoked tokens of %s", context.team_id)
        forgotten = True
    if forgotten:  # one workspace, one configured token: nothing stored to forget
        _forget_who_is_who(services)


def app_uninstalled(context: BoltContext, services: Services):
    log.info("MailMagnet was uninstalled from %s", context.team_id)
    if services.slack is None:
        return
    try:
        forgotten = services.slack.forget_workspace(context.enterprise_id, context.team_id)
    except Exception:
        log.exception("could not delete the installation of %s", context.team_id)
        forgotten = True
    if forgotten:
        _forget_who_is_who(services)

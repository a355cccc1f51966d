"""The audit answer's "Older" button: the next page, with the same filters (the admin check is done again)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from slack_bolt import Respond

from handlers.blocks.audit import audit_blocks
from usecases import audit as audit_use_cases
from usecases.values import InvalidInput, Services, SlackActorRef

STALE = "That button is from an older MailMagnet message; run `/gmail admin audit` again."


def _filters(body: dict) -> tuple[str | None, datetime | None, int]:
    try:
        value = json.loads((body.get("actions") or [{}])[0].get("value") or "")
        user, since, before = value.get("u"), value.get("s"), value.get("b")
        if user is not None and not (isinstance(user, str) and user.isalnum() and len(user) <= 32):
            raise ValueError
        if not isinstance(before, int):
            raise ValueError
        moment = datetime.fromisoformat(since) if since else None
        if moment is not None and moment.tzinfo is None:  # the button writes UTC; an edited value may drop the zone
            moment = moment.replace(tzinfo=timezone.utc)
        return user, moment, before
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(STALE) from None


def older(body: dict, respond: Respond, actor: SlackActorRef, services: Services):
    user, since, before = _filters(body)
    page = audit_use_cases.audit_for_slack(services, actor, user, since, before)
    text, blocks = audit_blocks(page, user=user, since=since, own_team=page.workspace)
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

"""`/gmail why <sender email or Gmail link>` (SPEC F9)."""
from __future__ import annotations

from handlers.blocks.commands import Reply
from handlers.blocks.why import why_blocks
from usecases import why as why_use_cases
from usecases.values import Services, SlackActorRef

USAGE = ("Tell me which email: `/gmail why jane@acme.com`, `/gmail why \"Jane Doe\" <jane@acme.com>` "
         "or `/gmail why <Gmail link or message id>`.")


def why(services: Services, who: SlackActorRef, args: list[str]) -> Reply:
    query = " ".join(args).strip()
    if not query:
        return USAGE, []
    answer = why_use_cases.why(services, who, query)
    return why_blocks(answer.explanation, answer.message_status)

"""Events API listeners (Bolt acks events itself). EVENTS is their one table."""
from __future__ import annotations

from handlers.events import lifecycle, messages
from handlers.home import tab
from handlers.routes import Acking, Route

EVENTS: tuple[Route, ...] = (
    Route("app_home_opened", tab.home_opened, Acking.BY_LISTENER),
    Route("tokens_revoked", lifecycle.tokens_revoked, Acking.BY_LISTENER),
    Route("app_uninstalled", lifecycle.app_uninstalled, Acking.BY_LISTENER),
    Route("message", messages.message_in_the_dm, Acking.BY_LISTENER, matchers=(messages.typed_by_a_person_in_the_dm,)),
    # Edits, deletions and the bot's own posts in the DM: acknowledged, nothing to do.
    Route("message", messages.other_messages, Acking.LINK),
)

"""Events API listeners (Bolt acks events itself). EVENTS is their one table."""
from __future__ import annotations

from handlers.events import lifecycle
from handlers.home import tab
from handlers.routes import Acking, Route

EVENTS: tuple[Route, ...] = (
    Route("app_home_opened", tab.home_opened, Acking.BY_LISTENER),
    Route("tokens_revoked", lifecycle.tokens_revoked, Acking.BY_LISTENER),
    Route("app_uninstalled", lifecycle.app_uninstalled, Acking.BY_LISTENER),
)

"""View submissions (modals). VIEWS is their one table; each listener acks itself (field errors stay in the modal)."""
from __future__ import annotations

import re

from handlers.blocks.compose import COMPOSE_CALLBACK, LEGACY_REPLY_CALLBACK
from handlers.blocks.ids import CallbackId
from handlers.routes import Acking, Route
from handlers.views import compose, setup

VIEWS: tuple[Route, ...] = (
    Route(CallbackId.SETUP_MODAL.value, setup.setup_submitted, Acking.BY_LISTENER),
    # Claimed once like every listener: a retried or repeated submission must not send the email twice.
    Route(re.compile(f"^({re.escape(COMPOSE_CALLBACK)}|{re.escape(LEGACY_REPLY_CALLBACK)})$"), compose.send_email,
          Acking.BY_LISTENER),
)

"""SIGTERM: `serve` finishes what it is doing and hands its mailboxes back at once (no lease left to expire)."""
from __future__ import annotations

import signal
import time

from crm_store.db import session_scope
from crm_store.models import GmailAccount
from testsupport.chaos import World


def test_sigterm_finishes_cleanly_and_hands_the_mailboxes_back(database_url):
    world = World(database_url)
    serve = world.start_serve()
    try:
        world.mail(0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not world.settled():
            time.sleep(0.1)
        assert world.settled()
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
        with session_scope(world.engine) as session:
            assert session.get(GmailAccount, world.account_id).lease_owner is None
    finally:
        if serve.poll() is None:
            serve.kill()
        world.close()

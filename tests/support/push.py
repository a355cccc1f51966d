"""Push mode as Google runs it, for the tests that need it: a stack with a Pub/Sub topic and an authenticated push
subscription (OIDC token)."""
from __future__ import annotations

import pytest

from testsupport.stack import start_stack

TOPIC = "projects/mailmagnet-test/topics/gmail"


@pytest.fixture
def pushing(database_url):
    """Push mode as Google runs it: an authenticated push subscription (OIDC token)."""
    stack = start_stack(database_url, scheduler=True, gmail_pubsub_topic=TOPIC,
                        sync_interval_seconds=3600, label_interval_seconds=3600)
    stack.subscribe_push(TOPIC)
    yield stack
    stack.stop()

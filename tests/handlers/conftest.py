"""Helpers for driving /gmail through the real server and reading what the rep sees in the Slack emulator."""
from __future__ import annotations

import pytest

from testsupport.stack import REP, TEAM
from tests.support.slack import JobsRecorder
from tests.support.slack import connected, rep  # noqa: F401 - fixtures


@pytest.fixture
def sales_channel(stack):
    """#sales with the rep and the bot in it."""
    bot = stack.slack.team(TEAM).bot_user_id
    stack.slack.add_channel(TEAM, "C0SALES01", "sales", members=[REP, bot])
    return "C0SALES01"


@pytest.fixture
def jobs(stack):
    recorder = JobsRecorder()
    stack.services.jobs = recorder
    yield recorder
    stack.services.jobs = None

"""The listeners, dispatched in-process (`App.dispatch`, no HTTP server between): the same middleware and tables
the server registers, on the stack's services; answers still go to the Slack emulator over real HTTP."""
from __future__ import annotations

import inspect
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from slack_bolt import BoltRequest

from bot.slack_app import create_slack_app
from handlers.actions import ACTIONS
from handlers.blocks.ids import ActionId
from handlers.commands import COMMANDS
from handlers.events import EVENTS
from handlers.shortcuts import SHORTCUTS
from handlers.views import VIEWS
from sandbox.slack_emulator.driver import DriverResponse, SlackDriver
from tests.support.slack import shown_text
from testsupport.stack import REP, SIGNING_SECRET
from tests.signals import REPEAT_DROPPED, capture_request_logs, wait_for_log


class InProcessDriver(SlackDriver):
    """The signed-request driver, handing its requests to a Bolt App in this process instead of a socket."""

    def __init__(self, app, emulator):
        super().__init__("in-process://", SIGNING_SECRET, emulator=emulator, deliver_lifecycle_events=False)
        self.app = app

    def _post(self, body: bytes, headers: dict[str, str]) -> DriverResponse:
        answer = self.app.dispatch(BoltRequest(body=body.decode("utf-8"), headers=headers))
        return DriverResponse(answer.status, answer.body, answer.headers, 0.0)


@pytest.fixture
def in_process(stack):
    pool = ThreadPoolExecutor(max_workers=2)
    app = create_slack_app(stack.services, stack.settings, listener_executor=pool)
    yield InProcessDriver(app, stack.slack)
    pool.shutdown(wait=True)


def _answers(stack, response) -> list[dict]:
    return stack.slack.response_url_posts(response.response_url)


def test_every_listener_is_a_module_level_function():
    routes = [*COMMANDS, *ACTIONS, *VIEWS, *EVENTS, *SHORTCUTS]
    for route in routes:
        assert inspect.isfunction(route.listener)
        assert "<locals>" not in route.listener.__qualname__, route.listener.__qualname__
    handled = {route.match for route in ACTIONS}
    assert {action.value for action in ActionId} <= handled


def test_a_slash_command_dispatched_in_process_is_answered(stack, in_process):
    stack.add_rep()
    response = in_process.slash_command(REP, "/gmail", "help")
    assert response.status == 200
    post = stack.slack.wait_for(lambda: _answers(stack, response))[-1]
    assert post["response_type"] == "ephemeral"
    assert "/gmail connect" in shown_text(post)


def test_the_same_request_dispatched_twice_runs_once(stack, in_process, caplog):
    capture_request_logs(caplog)
    stack.add_rep()
    first = in_process.slash_command(REP, "/contact", "")
    stack.slack.wait_for(lambda: _answers(stack, first))
    body = urlencode(first.payload).encode("utf-8")
    again = in_process.post_raw(body, {"Content-Type": "application/x-www-form-urlencoded", **in_process.sign(body)})
    assert again.status == 200
    wait_for_log(caplog, REPEAT_DROPPED)
    assert len(_answers(stack, first)) == 1


def test_a_refusal_from_an_action_is_told_and_the_click_still_acked(stack, in_process):
    stack.add_rep()
    click = in_process.block_action(REP, ActionId.CONTACT_MORE.value, value="not-a-view-id",
                                    channel_id=in_process.dm_channel(REP))
    assert click.status == 200
    post = stack.slack.wait_for(lambda: stack.slack.response_url_posts(click.payload["response_url"]), timeout=15)[-1]
    assert shown_text(post).strip()

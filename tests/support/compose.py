"""Replying from Slack as a rep does it: the reply modal from an email's detail, its submission, the DMs that follow."""
from __future__ import annotations

import json

from handlers.blocks.compose import BODY_BLOCK, SUBJECT_BLOCK, TO_ACTION, TO_BLOCK
from handlers.blocks.ids import ActionId
from tests.support.slack import shown_text
from testsupport.stack import REP


def values(*, to: str | None = None, subject: str = "", body: str = "") -> dict:
    state = {SUBJECT_BLOCK: {"subject": {"type": "plain_text_input", "value": subject}},
             BODY_BLOCK: {"body": {"type": "plain_text_input", "value": body}}}
    if to is not None:
        state[TO_BLOCK] = {TO_ACTION: {"type": "static_select", "selected_option": {"value": to}}}
    return state


def submit(stack, view: dict, user: str = REP, **fields):
    response = stack.driver.view_submission(user, view, values=values(**fields))
    assert response.status == 200
    return response.json


def dm_texts(stack, user: str = REP) -> list[str]:
    return [shown_text(m) for m in stack.slack.dms(user)]


def reply_from_detail(stack, user: str, value: dict, detail: dict) -> dict:
    """Click Reply inside the detail modal; returns the compose modal pushed on top of it."""
    before = len(stack.slack.view_calls)
    response = stack.driver.block_action(user, ActionId.EMAIL_REPLY.value, value=json.dumps(value), view=detail)
    assert response.status == 200
    return stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:]
                                         if c["method"] == "views.update"], timeout=15)[-1]["view"]

"""Slash commands as a rep types them through the running stack, what Slack shows of an answer, a rep and their
connected mailbox."""
from __future__ import annotations

import pytest
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import GmailAccount
from testsupport.stack import REP


def answer(stack, response) -> dict:
    """The one message the bot posted to this request's response_url."""
    posts = stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.response_url))
    return posts[-1]


def ask(stack, text: str, user: str = REP, **options) -> dict:
    """`/gmail <text>` typed by `user`; returns the ephemeral answer (a response_url post)."""
    response = stack.driver.slash_command(user, "/gmail", text, **options)
    assert response.status == 200, response.body
    post = answer(stack, response)
    assert post["response_type"] == "ephemeral"
    return post


def shown_text(post: dict) -> str:
    """Everything a user reads in a message: its text and every text in its blocks."""
    parts = [post.get("text") or ""]

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(post.get("blocks") or [])
    return "\n".join(parts)


def account_of(stack, user_id: str = REP) -> GmailAccount | None:
    with session_scope(stack.engine) as session:
        account = session.exec(select(GmailAccount).where(GmailAccount.slack_user_id == user_id)).first()
        if account is not None:
            session.expunge(account)
        return account


@pytest.fixture
def rep(stack):
    return stack.add_rep()


@pytest.fixture
def connected(stack, rep):
    """A rep whose Gmail is connected (through the real consent flow)."""
    stack.connect()
    stack.slack.wait_for(lambda: stack.slack.dms(REP))
    return rep


class JobsRecorder:
    """Stands in for the scheduler (off in these tests): records what the handlers asked of it."""

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, args))
            return True

        return record

    def asked(self, name: str) -> list[tuple]:
        return [args for called, args in self.calls if called == name]

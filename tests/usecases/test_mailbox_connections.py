"""Connecting a mailbox never holds two database connections at once: with a fixed pool (crm_store/db.py), threads
that did would wait on each other. A server with a pool of one connection shows it: a second checkout by the
thread holding the first waits out the pool's timeout instead of answering."""
from __future__ import annotations

import pytest

from crm_store.db import session_scope
from crm_store.users import find_user_by_slack, set_permissions
from testsupport.stack import REP, authorize_url_in, start_stack


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_consent_refused_for_lost_mail_integration_on_a_pool_of_one(database_url):
    stack = start_stack(database_url, db_pool_size=1)
    try:
        stack.add_rep()
        response = stack.driver.slash_command(REP, "/gmail", "connect")
        post = stack.slack.wait_for(lambda: next((p for p in stack.slack.response_url_posts(response.response_url)
                                                  if p.get("blocks")), None))
        with session_scope(stack.engine) as session:  # Mail Integration taken away before the rep consents
            set_permissions(session, find_user_by_slack(session, "T0001", REP), mail_integration=False)
        status, body = stack.follow_consent(authorize_url_in(post))
        assert "Mail Integration" in body, (status, body)
    finally:
        stack.stop()
        stack.engine.dispose()

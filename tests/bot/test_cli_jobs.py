"""`mailmagnet run-once` and `explain --account` as a user runs them, against the emulators."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.alerts import CONTACTS, DEALS
from testsupport.stack import REP_GMAIL


def cli(stack, *args):
    env = {**os.environ, **{k.upper(): str(v) for k, v in stack.settings.model_dump().items() if v is not None}}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_run_once_files_and_explain_says_when(live):
    live.add_rep()
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet(labels=True)
    gmail_id = live.mail("Jane <jane@acme.example>", "File me")
    result = cli(live, "run-once", "labels", "--account", REP_GMAIL)
    assert result.returncode == 0, result.stderr
    assert "1 new" in result.stdout and "1 → Open Deals" in result.stdout
    assert "Open Deals" in live.gmail.label_names(REP_GMAIL, gmail_id)
    explained = cli(live, "explain", "jane@acme.example", "--account", REP_GMAIL, "--json")
    data = json.loads(explained.stdout)
    assert data["category"] == "Open Deals"
    assert data["messages"] and "was filed under Open Deals on" in data["messages"][0]
    missing = cli(live, "run-once", "sync", "--account", "nobody@gmail.example")
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1


def test_users_revoke_disconnects_the_mailbox(live):
    import pytest
    from sqlmodel import select

    from crm_store.db import session_scope
    from crm_store.models import GmailAccount
    from gmail.accounts import load_credentials
    from gmail.errors import AccessRevoked
    from testsupport.stack import REP_EMAIL

    live.add_rep()
    live.connect_with_magnet()
    with session_scope(live.engine) as session:
        account = session.get(GmailAccount, live.account_id())
        credentials = load_credentials(live.services.cipher, account, live.services.google)
    result = cli(live, "users", "revoke", REP_EMAIL)
    assert result.returncode == 0, result.stderr
    assert "Mail Integration: no" in result.stdout and f"Gmail {REP_GMAIL} disconnected" in result.stdout
    with session_scope(live.engine) as session:
        assert session.exec(select(GmailAccount)).all() == []
    with pytest.raises(AccessRevoked):  # the Google grant itself is gone
        live.services.gmail.mailbox(credentials).get_profile()

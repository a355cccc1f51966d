"""The polling sweep as `serve` runs it: quiet mailboxes polled fifty per Gmail round trip, each with its own
token; busy ones (new mail, an expired token, a revoked grant) handed to the pipeline without asking Gmail
twice; pushes making polling a safety net; a scheduled label run with nothing to do costing nothing."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from bot.jobs import Jobs
from bot.services import build_services
from crm_store.db import session_scope
from crm_store.models import AccountStatus, GmailAccount
from testsupport.mailboxes import seed_mailboxes
from testsupport.stack import GOOGLE_CLIENT_ID, REP, REP_GMAIL, TEAM

CONTACTS = "email,first_name,last_name,company,external_id\njane@acme.example,Jane,Doe,Acme,C1\n"
QUIET = 120


def history_calls(stack) -> list:
    return [c for c in stack.gmail.calls if c.method == "gmail.users.history.list"]


def wait_for_cycle(stack, count: int) -> None:
    def done():
        with session_scope(stack.engine) as session:
            rows = session.exec(select(GmailAccount.next_sync_at, GmailAccount.lease_owner, GmailAccount.status)).all()
        return len(rows) == count and all(owner is None and (due is not None or status != AccountStatus.CONNECTED.value)
                                          for due, owner, status in rows)

    stack.slack.wait_for(done, timeout=60)


def stored_token(stack, address: str) -> str | None:
    with session_scope(stack.engine) as session:
        account = session.exec(select(GmailAccount).where(GmailAccount.email_address == address)).one()
        return stack.services.cipher.decrypt(account.encrypted_credentials)["token"] \
            if account.encrypted_credentials else None


def test_a_cycle_polls_quiet_mailboxes_in_batches_and_syncs_busy_ones_once(live):
    live.add_rep()
    live.add_rep("U300EXP", "expired@crm.example", gmail="expired@gmail.example")
    live.add_rep("U400REV", "revoked@crm.example", gmail="revoked@gmail.example")
    live.import_crm(CONTACTS)
    for user, gmail in ((REP, REP_GMAIL), ("U300EXP", "expired@gmail.example"), ("U400REV", "revoked@gmail.example")):
        live.connect_with_magnet(user, gmail)
    seed_mailboxes(live.engine, live.services.cipher, live.gmail, GOOGLE_CLIENT_ID, QUIET)
    # Due now, all of them; one has mail from a contact, one a token that has expired, one a revoked grant.
    live.update_mailbox(REP_GMAIL)  # nothing but a fresh row state
    with session_scope(live.engine) as session:
        for account in session.exec(select(GmailAccount)).all():
            account.next_sync_at = None
            session.add(account)
    live.mail("Jane Doe <jane@acme.example>", "Quote, please")
    expired_before = stored_token(live, "expired@gmail.example")
    live.gmail.expire_access_tokens("expired@gmail.example")
    live.gmail.revoke_access("revoked@gmail.example")
    live.gmail.reset_counters()

    live.services.jobs.start()
    wait_for_cycle(live, QUIET + 3)
    live.services.jobs.wait_for_requested()

    calls = history_calls(live)
    per_user = Counter(c.user for c in calls if c.status == 200)
    assert per_user[REP_GMAIL] == 1  # the sweep's answer went to the pipeline: not asked again
    assert sum(1 for c in calls if c.in_batch and c.status == 200) >= QUIET  # quiet ones: parts of /batch requests
    assert len([u for u, n in per_user.items() if n == 1]) == QUIET + 2  # everyone once, but the revoked one
    alerts = [m for m in live.slack.dms(REP) if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"]
    assert len(alerts) == 1 and "Quote, please" in json.dumps(alerts[0]["blocks"])
    assert stored_token(live, "expired@gmail.example") != expired_before  # refreshed, and kept
    with session_scope(live.engine) as session:
        revoked = session.exec(select(GmailAccount).where(GmailAccount.email_address == "revoked@gmail.example")).one()
        assert revoked.status == AccountStatus.REVOKED.value
    assert len([m for m in live.slack.dms("U400REV") if "lost access" in m["text"]]) == 1


def test_with_push_on_polling_is_a_safety_net_and_a_quiet_label_run_costs_nothing(live):
    live.add_rep()
    live.connect_with_magnet(labels=True)
    live.run("labels")  # labels created, backfill done
    far = datetime.now(timezone.utc) + timedelta(days=6, hours=23)
    live.update_mailbox(watch_expires_at=far, next_sync_at=None, next_label_at=None)
    live.gmail.reset_counters()
    started = datetime.now(timezone.utc)
    live.services.jobs.start()

    def both_ran():
        with session_scope(live.engine) as session:
            account = session.exec(select(GmailAccount)).one()
            return account.next_sync_at is not None and account.next_label_at is not None \
                and account.lease_owner is None and account

    account = live.slack.wait_for(both_ran, timeout=30)
    next_sync = account.next_sync_at.replace(tzinfo=timezone.utc) if account.next_sync_at.tzinfo is None \
        else account.next_sync_at
    assert next_sync - started >= timedelta(seconds=live.settings.push_poll_interval_seconds - 5)
    methods = Counter(c.method for c in live.gmail.calls)
    assert methods == {"gmail.users.history.list": 1}  # the poll; the label run asked Gmail nothing


def test_two_replicas_sweeping_poll_each_mailbox_once(live):
    seed_mailboxes(live.engine, live.services.cipher, live.gmail, GOOGLE_CLIENT_ID, 60)
    settings = live.settings.model_copy(update={"sweep_chunk": 7, "sync_interval_seconds": 3600})
    replicas = [Jobs(build_services(settings), owner=f"replica-{i}") for i in range(2)]
    live.gmail.reset_counters()
    try:
        for replica in replicas:
            replica.start()
        wait_for_cycle(live, 60)
        per_user = Counter(c.user for c in history_calls(live))
        assert len(per_user) == 60 and set(per_user.values()) == {1}
    finally:
        for replica in replicas:
            replica.stop()

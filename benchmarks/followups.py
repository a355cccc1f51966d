"""followups.*: what follow-ups cost in Gmail quota (SPEC §3: "no extra Gmail calls").

The same mail three times, each on a fresh stack: 200 customer emails, each in its own thread, then the rep's
replies (sent from Gmail, SENT in those threads) to half of them, a sync after each step and a nudge run at the
end. Counted by the Gmail emulator with Google's unit costs:

- units_on / units_off: follow-ups on, and off (`followups_enabled` false), with the history read as the sync
  reads it now (all of it, no `labelId`);
- units_inbox_history: follow-ups off and the history read filtered to INBOX, as the sync read it before
  follow-ups (the rep's sent mail was not in it): what asking Gmail for the whole history costs by itself;
- extra_units_per_message = (units_on - units_inbox_history) / customer emails — the target is 0.
"""
from __future__ import annotations

import functools
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.common import emit
from testsupport.stack import REP_GMAIL, start_stack

MESSAGES = 200
CONTACTS = "email,first_name,company,external_id\n" + "".join(
    f"contact{i}@customer{i}.example,Contact{i},Customer {i},C{i}\n" for i in range(50))


def run(followups: bool, inbox_history: bool = False) -> dict:
    import gmail.client as client

    original = client.history_params
    if inbox_history:
        client.history_params = functools.partial(original, label_id="INBOX")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stack = start_stack(f"sqlite:///{Path(tmp) / 'bench.db'}", scheduler=True, start_scheduler=False)
            try:
                stack.add_rep()
                stack.import_crm(CONTACTS)
                stack.connect_with_magnet(followups_enabled=followups)
                stack.gmail.reset_counters()
                received = datetime.now(timezone.utc) - timedelta(days=7)
                ids = stack.gmail.add_messages_bulk(REP_GMAIL, [
                    {"sender": f"Contact {i % 50} <contact{i % 50}@customer{i % 50}.example>", "to": REP_GMAIL,
                     "subject": f"Question {i}", "body": "Hello", "date": received} for i in range(MESSAGES)])
                stack.run("sync")
                threads = [stack.gmail.message(REP_GMAIL, gmail_id)["threadId"] for gmail_id in ids[::2]]
                stack.gmail.add_messages_bulk(REP_GMAIL, [
                    {"sender": REP_GMAIL, "to": f"contact{i % 50}@customer{i % 50}.example", "subject": "Re",
                     "body": "Answer", "date": received + timedelta(hours=1), "label_ids": ["SENT"],
                     "thread_id": thread} for i, thread in enumerate(threads)])
                stack.run("sync")
                nudged = stack.services.jobs.nudger.run(_account(stack))
                units = stack.gmail.quota_units(REP_GMAIL)
                calls = sorted({call.method for call in stack.gmail.calls})
                from sqlmodel import func, select

                from crm_store.db import session_scope
                from crm_store.models import Followup

                with session_scope(stack.engine) as session:
                    rows = session.exec(select(func.count()).select_from(Followup)).one()
                    answered = session.exec(select(func.count()).select_from(Followup).where(
                        Followup.answered_at.is_not(None))).one()
            finally:
                stack.stop()
    finally:
        client.history_params = original
    return {"units": units, "calls": calls, "followups": rows, "answered": answered, "nudged": nudged}


def _account(stack):
    from crm_store.db import session_scope
    from crm_store.models import GmailAccount

    with session_scope(stack.engine) as session:
        account = session.get(GmailAccount, stack.account_id())
        session.expunge(account)
        return account


def main() -> None:
    on, off, before = run(True), run(False), run(False, inbox_history=True)
    emit("followups", {
        "customer_emails": MESSAGES,
        "replies_from_gmail": MESSAGES // 2,
        "units_on": on["units"],
        "units_off": off["units"],
        "units_inbox_history": before["units"],
        "gmail_methods_on": on["calls"],
        "followups_opened": on["followups"],
        "followups_answered_from_sent_history": on["answered"],
        "extra_units_per_message": round((on["units"] - before["units"]) / MESSAGES, 3),
        "target_extra_units_per_message": 0,
    })


if __name__ == "__main__":
    main()

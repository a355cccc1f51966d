"""Scene 16 (SPEC §3): an unanswered customer email (Pat's, scene 15, a week old) gets one follow-up nudge in
working hours, and only one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import GmailAccount
from gmail.followups import WorkingHours
from testsupport.demo.cast import ALICE, ALICE_GMAIL
from testsupport.demo.reading import indent, newest_dm


def show_followup_nudge(stack) -> None:
    print("\n16. Nobody answered Pat's email of a week ago: after 24 working hours, one follow-up nudge")
    with session_scope(stack.engine) as session:
        account = session.exec(select(GmailAccount).where(GmailAccount.email_address == ALICE_GMAIL)).one()
        session.expunge(account)
    nudger = stack.services.jobs.nudger
    moment = WorkingHours.parse(stack.services.config.followup_working_hours).add(
        datetime.now(timezone.utc), 0.1, "UTC")  # the next working moment (a weekday, 09:00-17:00)
    nudger.clock = lambda: moment
    nudger.run(account)
    nudge = newest_dm(stack, ALICE, "mailmagnet_followup")
    buttons = [e["text"]["text"] for b in nudge["blocks"] if b["type"] == "actions" for e in b["elements"]]
    print(indent(f"DM to Alice: {nudge['text']} [{' | '.join(buttons)}]"))
    nudger.min_interval = timedelta(0)  # look again at once (the scheduler looks at most once a minute)
    print(indent(f"run again: {nudger.run(account)} more nudges (exactly one per unanswered thread)"))

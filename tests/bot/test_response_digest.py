"""The weekly response-time digest (SPEC §3): to the workspace's admins for every rep, with a chart uploaded through
slack_sdk's files_upload_v2 to the Slack emulator. The chart is a valid PNG of the expected size and the numbers
in the text are the data's."""
from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Contact, Followup, GmailAccount, OrgSettings
from crm_store.response_times import response_times
from handlers.blocks.response_digest import CHART_WIDTH_PX, chart_height_px
from tests.factories import make_contact, make_mailbox
from tests.support.alerts import CONTACTS, DEALS
from testsupport.stack import REP, REP_GMAIL, TEAM

OTHER, OTHER_EMAIL, OTHER_GMAIL = "U400TWO", "two@sales.example", "two@gmail.example"
NOW = datetime.now(timezone.utc)
# Rep one: answers after 1 h, 3 h, 10 h and 30 h, one thread unanswered; an older thread is outside the week.
ONE = [timedelta(hours=1), timedelta(hours=3), timedelta(hours=10), timedelta(hours=30), None]
TWO = [timedelta(minutes=30), timedelta(hours=2)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def seed(stack, gmail: str, waits: list[timedelta | None]) -> None:
    with session_scope(stack.engine) as session:
        account = session.exec(select(GmailAccount).where(GmailAccount.email_address == gmail)).one()
        contact = session.exec(select(Contact)).first()
        for n, wait in enumerate(waits + ["old"]):
            received = NOW - (timedelta(days=9) if wait == "old" else timedelta(days=2, hours=n))
            answered = received + timedelta(hours=1) if wait == "old" else (None if wait is None else received + wait)
            session.add(Followup(account_id=account.id, thread_id=f"t{n}", contact_id=contact.id, gmail_id=f"m{n}",
                                 received_at=received, due_at=received + timedelta(days=3), answered_at=answered))


def test_admins_get_the_weekly_digest_with_a_chart_whose_numbers_are_the_datas(live):
    live.add_rep(admin=True)
    live.add_rep(OTHER, OTHER_EMAIL, gmail=OTHER_GMAIL)
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.connect_with_magnet(OTHER, OTHER_GMAIL)
    seed(live, REP_GMAIL, ONE)
    seed(live, OTHER_GMAIL, TWO)

    assert live.services.jobs.send_response_digests(force=True) == 1  # one admin: the rep
    dm = live.slack.dm_channel(TEAM, REP)
    [chart] = live.slack.files(dm)
    assert png_size(chart["content"]) == (CHART_WIDTH_PX, chart_height_px(2))
    text = chart["initial_comment"]
    # Rep one: 5 threads, within 4 h: 2 (40%), within 24 h: 3 (60%), median of 1, 3, 10, 30 h = 6.5 h, 1 unanswered.
    assert "5 customer threads · 2 answered within 4 h (40%) · 3 within 24 h (60%) · median first response 6.5 h" \
        " · 1 unanswered" in text
    # Rep two: 2 threads, both within 4 h, median of 0.5 h and 2 h = 1.2 h (1.25 to one decimal).
    assert "2 customer threads · 2 answered within 4 h (100%) · 2 within 24 h (100%) · median first response 1.2 h" \
        in text
    assert not live.slack.files(live.slack.dm_channel(TEAM, OTHER))  # not an admin, manages no one

    # Claimed once a week: the scheduled check right after sends nothing more.
    with session_scope(live.engine) as session:
        assert session.get(OrgSettings, TEAM).response_digest_at is not None
    assert live.services.jobs.send_response_digests() == 0


def test_response_times_count_only_the_week(engine):
    with session_scope(engine) as session:
        account = make_mailbox(session, "rep@sales.example")
        contact = make_contact(session, "jane@acme.example")
        for n, hours in enumerate([2, 5, None]):
            received = NOW - timedelta(days=1, hours=n)
            session.add(Followup(account_id=account.id, thread_id=f"t{n}", contact_id=contact.id, gmail_id=f"m{n}",
                                 received_at=received, due_at=received,
                                 answered_at=None if hours is None else received + timedelta(hours=hours)))
        session.flush()
        found = response_times(session, [account.id], NOW - timedelta(days=7), NOW)[account.id]
    assert (found.threads, found.answered, found.within_4h, found.within_24h) == (3, 2, 1, 2)
    assert found.median_first_response == timedelta(hours=3.5)


def test_a_manager_gets_the_digest_of_their_reports_only(live):
    manager, manager_email = "U500MGR", "max@sales.example"
    live.add_rep(admin=False)
    live.add_rep(OTHER, OTHER_EMAIL, gmail=OTHER_GMAIL)
    live.add_rep(manager, manager_email, gmail=None)
    live.import_crm(CONTACTS, DEALS)
    live.connect_with_magnet()
    live.connect_with_magnet(OTHER, OTHER_GMAIL)
    seed(live, REP_GMAIL, ONE)
    seed(live, OTHER_GMAIL, TWO)
    from crm_store.models import CrmUser

    with session_scope(live.engine) as session:  # the rep reports to the manager; the other rep does not
        boss = session.exec(select(CrmUser).where(CrmUser.email == manager_email)).one()
        rep = session.exec(select(CrmUser).where(CrmUser.slack_user_id == REP)).one()
        rep.manager_id = boss.id
        session.add(rep)

    assert live.services.jobs.send_response_digests(force=True) == 1  # no admin here: the manager only
    [chart] = live.slack.files(live.slack.dm_channel(TEAM, manager))
    assert png_size(chart["content"]) == (CHART_WIDTH_PX, chart_height_px(1))
    assert "(your team)" in chart["initial_comment"] and "5 customer threads" in chart["initial_comment"]
    assert "2 customer threads" not in chart["initial_comment"]  # not their report

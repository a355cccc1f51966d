"""Follow-ups (SPEC §3): a customer email left unanswered gets one nudge in the rep's DM.

Tracking costs no Gmail call. The sync reads the mailbox's history anyway; it hands this subscriber

- the new Inbox messages it fetched (metadata, with their thread ids): an email from a CRM contact opens a
  follow-up for its thread, unless one is open already (then it only moves Reply to the newest message);
- the messages the rep sent, straight from the same history records (`messagesAdded` with SENT carry the
  message's id and thread id, so nothing is fetched): the thread's open follow-up is answered.

A follow-up is due after the rep's follow-up hours counted in *working hours* of the rep's time zone
(`WorkingHours`, a setting: 09:00-17:00, Monday to Friday by default). The nudge job (`FollowupNudger`, run
after each sync of the mailbox) posts each due one once, only inside working hours (so never on a weekend),
outside the rep's quiet hours and never for a muted contact. Snooze 1 day hides it for 24 hours and lets it be
nudged once more; Done closes it; a reply sent from Gmail (or through MailMagnet's Reply) answers it.

Exactly once: a nudge is claimed by a conditional update of `nudged_at` before it is posted, so two replicas
never both post it; when Slack refuses, the claim is released and the next run tries again. A crash between
posting and that run's end loses nothing but may, rarely, leave a claimed nudge unposted: at most one nudge,
never two.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Callable, Iterable, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, update

from crm_store.categories import StageRules, decide_category, deals_of
from crm_store.db import session_scope
from crm_store.mailboxes import in_quiet_hours
from crm_store.models import Contact, Followup, GmailAccount, MutedContact, utcnow
from gmail.links import gmail_url
from gmail.sync_batch import SyncBatch, rep_timezone

log = logging.getLogger(__name__)

SNOOZE = timedelta(days=1)
CHECK_INTERVAL = timedelta(minutes=1)
# Answered follow-ups are kept this long for the weekly response-time digest, then deleted by housekeeping.
KEEP_ANSWERED = timedelta(days=10)
# An open follow-up due (and not snoozed) for longer than this is forgotten too: its one nudge went out a month ago
# (or never will: a muted contact), the digest looks at a week, and a thread nobody answers would otherwise keep
# its row for as long as the mailbox is connected. The thread's next customer email opens a new one. As long as the
# message retention's lookback (BACKFILL_LOOKBACK_DAYS' default).
KEEP_OPEN = timedelta(days=30)
MAX_HOURS = 24 * 30  # `/gmail followups <hours>`: 1 to a month of working hours


@dataclass(frozen=True)
class WorkingHours:
    """The working day, in each rep's own time zone; `weekdays` 0 = Monday."""

    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: frozenset[int] = frozenset(range(5))

    @classmethod
    def parse(cls, text: str) -> "WorkingHours":
        """`HH:MM-HH:MM` (Monday to Friday). Raises ValueError with a reason."""
        try:
            start_text, end_text = text.strip().split("-")
            start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
        except ValueError:
            raise ValueError("expected HH:MM-HH:MM, e.g. 09:00-17:00") from None
        if start >= end:
            raise ValueError("the working day must end after it starts (no overnight shifts)")
        return cls(start, end)

    def contains(self, moment: datetime, tz: str) -> bool:
        local = moment.astimezone(ZoneInfo(tz))
        return local.weekday() in self.weekdays and self.start <= local.time().replace(tzinfo=None) < self.end

    def add(self, moment: datetime, hours: float, tz: str) -> datetime:
        """`moment` plus `hours` of working time in zone `tz` (time outside working hours does not count)."""
        zone = ZoneInfo(tz)
        local = moment.astimezone(zone)
        left = timedelta(hours=hours)
        day = local.date()
        for _ in range(3700):  # ten years of days: the loop always ends long before
            if day.weekday() in self.weekdays:
                opens = datetime.combine(day, self.start, zone)
                closes = datetime.combine(day, self.end, zone)
                begin = max(opens, local)
                if begin < closes:
                    if begin + left <= closes:
                        return (begin + left).astimezone(moment.tzinfo)
                    left -= closes - begin
            day += timedelta(days=1)
        raise ValueError("no working hours at all")


# -- tracking (a sync subscriber) ---------------------------------------------------------------------------


# The tracker's statements, built once (issue 17: building them per call was a good share of the push path's CPU).
_followups = Followup.__table__
# A follow-up still open: neither answered nor done. Written once: every statement about open follow-ups uses it.
_STILL_OPEN = (_followups.c.answered_at.is_(None), _followups.c.done_at.is_(None))


def _open_of(account_param: str = "account_id") -> tuple:
    """The open follow-ups of the mailbox bound as `account_param` (an UPDATE's parameters may not be named as its
    table's columns: the UPDATEs pass a b_ name)."""
    return (_followups.c.account_id == sa.bindparam(account_param), *_STILL_OPEN)


_open_in = _open_of()
_OPENED_COLUMNS = ("account_id", "thread_id", "contact_id", "gmail_id", "received_at", "due_at")
_OPEN_UNLESS_OPEN = _followups.insert().from_select(
    _OPENED_COLUMNS,
    sa.select(*(sa.bindparam(name, type_=_followups.c[name].type) for name in _OPENED_COLUMNS))
    .where(~sa.exists().where(_followups.c.thread_id == sa.bindparam("thread_id"), *_open_in)),
).returning(_followups.c.id)
# (An UPDATE's parameters may not be named as its table's columns: hence the b_ names.)
_REPLY_TO_NEWER = _followups.update().where(
    *_open_of("b_account_id"), _followups.c.thread_id == sa.bindparam("b_thread_id"),
    _followups.c.received_at <= sa.bindparam("b_received")).values(gmail_id=sa.bindparam("b_gmail"))
_OPEN_IN_THREADS = sa.select(_followups.c.id, _followups.c.thread_id, _followups.c.received_at).where(
    _followups.c.thread_id.in_(sa.bindparam("threads", expanding=True)), *_open_in)
_OPEN = _followups.insert()
# Not `_STILL_OPEN`: a follow-up marked done and then answered still gets its answer time (the response-time digest).
_ANSWERED = _followups.update().where(
    _followups.c.account_id == sa.bindparam("b_account_id"),
    _followups.c.thread_id.in_(sa.bindparam("b_threads", expanding=True)),
    _followups.c.answered_at.is_(None)).values(answered_at=sa.bindparam("b_at"))
_REPLY_TO = _followups.update().where(_followups.c.id == sa.bindparam("b_id")).values(gmail_id=sa.bindparam("b_gmail"))


class FollowupTracker:
    """Opens follow-ups for contacts' emails and answers them from the rep's sent mail, in the sync's transaction."""

    def __init__(self, working_hours: WorkingHours, *, default_tz: str = "UTC"):
        self.working_hours = working_hours
        self.default_tz = default_tz

    def record(self, connection: Connection, batch: SyncBatch) -> None:
        """Tracked whether the rep wants nudges or not: the weekly response-time digest counts every rep. One read of
        the threads' open follow-ups, then one INSERT for the new ones and one UPDATE for the answered-to message
        of the open ones (Core: no unit of work on the push path)."""
        account = batch.account
        own = account.email_address.lower()
        waiting: list[tuple[str, int, str, datetime]] = []
        for message in batch.messages:
            if message.gmail_id not in batch.alertable_ids or not message.thread_id or not message.in_inbox:
                continue  # old mail (first run, resync), or not in the Inbox: nothing is waiting on the rep
            if "SENT" in message.label_ids or own in message.from_addresses:
                continue
            found = batch.contact_of(message)
            if found is None or found.contact_id is None:
                continue
            waiting.append((message.thread_id[:128], found.contact_id, message.gmail_id, message.received_at))
        if waiting:
            self._open(connection, account, waiting, batch.tz)

    def _open(self, connection: Connection, account: GmailAccount, waiting: list[tuple[str, int, str, datetime]],
              tz: str) -> None:
        """A push brings one thread's mail (issue 17): one conditional INSERT opens its follow-up unless one is open,
        with no read first; when one was open, one conditional UPDATE moves its Reply. Several threads: one read of
        their open follow-ups, then one INSERT and one UPDATE for all (`_open_threads`)."""
        thread_id, contact_id, gmail_id, received_at = waiting[0]
        if any(other[0] != thread_id for other in waiting):
            self._open_threads(connection, account, waiting, tz)
            return
        newest, newest_id = received_at, gmail_id
        for _, _, other_id, other_received in waiting[1:]:
            if other_received >= newest:  # Reply answers the newest; the wait counts from the first
                newest, newest_id = other_received, other_id
        opened = connection.execute(_OPEN_UNLESS_OPEN, {
            "account_id": account.id, "thread_id": thread_id, "contact_id": contact_id, "gmail_id": newest_id,
            "received_at": received_at,
            "due_at": self.working_hours.add(received_at, account.followup_hours, tz)}).first()
        if opened is not None:
            return
        if len(waiting) == 1:  # Reply moves to it when it came after the open one's first message
            connection.execute(_REPLY_TO_NEWER, {"b_account_id": account.id, "b_thread_id": thread_id,
                                                 "b_gmail": gmail_id, "b_received": received_at})
        else:
            self._open_threads(connection, account, waiting, tz)

    def _open_threads(self, connection: Connection, account: GmailAccount,
                      waiting: list[tuple[str, int, str, datetime]], tz: str) -> None:
        rows = connection.execute(_OPEN_IN_THREADS, {"account_id": account.id,
                                                  "threads": sorted({w[0] for w in waiting})}).all()
        # thread -> [id (None: new), first received, newest received, newest gmail id (None: unchanged), contact]
        threads: dict[str, list] = {thread_id: [row_id, _aware(received), _aware(received), None, None]
                                    for row_id, thread_id, received in rows}
        for thread_id, contact_id, gmail_id, received_at in waiting:
            entry = threads.get(thread_id)
            if entry is None:
                threads[thread_id] = [None, received_at, received_at, gmail_id, contact_id]
            elif received_at >= entry[2]:
                entry[2], entry[3] = received_at, gmail_id  # Reply answers the newest; the wait counts from the first
        new = [{"account_id": account.id, "thread_id": thread_id, "contact_id": contact, "gmail_id": gmail_id,
                "received_at": first, "due_at": self.working_hours.add(first, account.followup_hours, tz)}
               for thread_id, (row_id, first, _, gmail_id, contact) in threads.items() if row_id is None]
        newer = [{"b_id": row_id, "b_gmail": gmail_id} for row_id, _, _, gmail_id, _ in threads.values()
                 if row_id is not None and gmail_id is not None]
        if new:
            connection.execute(_OPEN, new)
        if newer:
            connection.execute(_REPLY_TO, newer)

    def record_sent(self, connection: Connection, account: GmailAccount, sent_threads: Iterable[str],
                    at: datetime) -> int:
        """The rep sent mail in these threads (seen in the history the sync read): their follow-ups are answered.
        `at` is when the sync saw it (the history carries no time; a sync interval at most after the send)."""
        threads = sorted({thread[:128] for thread in sent_threads if thread})
        answered = 0
        for start in range(0, len(threads), 400):
            answered += connection.execute(_ANSWERED, {"b_account_id": account.id,
                                                       "b_threads": threads[start:start + 400], "b_at": at}).rowcount
        return answered

    def deliver(self, batch: SyncBatch, mailbox) -> None:
        """Nothing leaves the database here: nudges are the nudge job's."""


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive (they are stored as UTC)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


# -- nudging ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowupNudge:
    """What a nudge says (facts; the words are the Slack surface's)."""

    followup_id: int
    account_id: int
    rep_user_id: str
    contact_name: str
    contact_email: str
    company: str | None
    is_lead: bool
    deal_name: str | None
    deal_stage: str | None
    received_at: datetime
    waited: timedelta
    gmail_url: str


class FollowupNotifier(Protocol):
    def dm_address(self, account: GmailAccount) -> str:
        """What to post to for the rep's DM with the bot."""

    def post_followup(self, team_id: str, channel: str, nudge: FollowupNudge) -> str:
        """Post one nudge to the rep's DM; returns its ts."""


# The due follow-ups of a mailbox, oldest due first (built once, the columns a nudge uses).
_DUE = sa.select(_followups.c.id, _followups.c.contact_id, _followups.c.thread_id, _followups.c.received_at).where(
    *_open_in, _followups.c.nudged_at.is_(None), _followups.c.due_at <= sa.bindparam("now"),
    sa.or_(_followups.c.snoozed_until.is_(None), _followups.c.snoozed_until <= sa.bindparam("now")),
    _followups.c.contact_id.not_in(sa.select(MutedContact.contact_id).where(
        MutedContact.account_id == sa.bindparam("account_id")))).order_by(_followups.c.due_at).limit(20)


class FollowupNudger:
    def __init__(self, engine: Engine, notifier: FollowupNotifier, working_hours: WorkingHours, rules: StageRules,
                 *, default_tz: str = "UTC", clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.notifier = notifier
        self.working_hours = working_hours
        self.rules = rules
        self.default_tz = default_tz
        self.clock = clock
        # When each mailbox was last looked at: a mailbox synced on every push is checked at most once a minute,
        # so the push path pays for follow-ups once a minute, not per alert (follow-ups are due in hours).
        self.min_interval = CHECK_INTERVAL
        self._checked: dict[int, datetime] = {}
        self._lock = threading.Lock()

    def run(self, account: GmailAccount, tz: str | None = None) -> int:
        """Post the mailbox's due nudges now, when the rep may be nudged now; returns how many were posted.
        `account` is the run's own read of the mailbox (read again only when a nudge is due) and `tz` the rep's
        time zone when the run knows it."""
        now = self.clock()
        with self._lock:
            last = self._checked.get(account.id)
            if last is not None and timedelta(0) <= now - last < self.min_interval:
                return 0
            self._checked[account.id] = now
        if not account.followups_enabled:
            return 0
        with session_scope(self.engine) as session:
            # Nothing due is the usual answer: without the time zone at hand, it is asked first (one statement,
            # not the two reads of the time zone); with it, the working hours are (no statement at all).
            due = None if tz is not None else session.execute(_DUE, {"account_id": account.id, "now": now}).all()
            if due == []:
                return 0
            tz = tz or rep_timezone(session, account, self.default_tz)
            local = now.astimezone(ZoneInfo(tz))
            if not self.working_hours.contains(now, tz) or in_quiet_hours(account, local.hour * 60 + local.minute):
                return 0
            if due is None:
                due = session.execute(_DUE, {"account_id": account.id, "now": now}).all()
            # The run's read of the mailbox is from its start: the rep may have turned follow-ups off or set quiet
            # hours since. A nudge about to go out is rare, so the mailbox is read again then, and only then.
            current = session.get(GmailAccount, account.id) if due else None
            if current is None or not current.followups_enabled \
                    or in_quiet_hours(current, local.hour * 60 + local.minute):
                return 0
            nudges = [self._nudge(session, current, row, now, tz) for row in due]
            channel = self.notifier.dm_address(current)
            team = current.slack_team_id
        posted = 0
        for nudge in nudges:
            if not self._claim(nudge.followup_id, now):
                continue  # another replica has it
            try:
                self.notifier.post_followup(team, channel, nudge)
            except Exception as error:  # noqa: BLE001 - Slack down: the nudge waits for the next run
                log.warning("follow-up %s of mailbox %s not posted yet: %s", nudge.followup_id, account.id, error)
                self._release(nudge.followup_id)
                continue
            posted += 1
        return posted

    def _nudge(self, session: Session, account: GmailAccount, row: sa.Row, now: datetime, tz: str) -> FollowupNudge:
        contact = session.get(Contact, row.contact_id)
        deal_name = deal_stage = None
        if not contact.is_lead:
            decision = decide_category(deals_of(session, contact.id), at=now, tz=tz, rules=self.rules)
            if decision.deciding:  # open deals first (SPEC §3), else the won one
                deal_name, deal_stage = decision.deciding[0].name, decision.deciding[0].stage
        received = _aware(row.received_at)
        return FollowupNudge(
            followup_id=row.id, account_id=account.id, rep_user_id=account.slack_user_id,
            contact_name=contact.display_name, contact_email=contact.email, company=contact.company,
            is_lead=contact.is_lead, deal_name=deal_name, deal_stage=deal_stage, received_at=received,
            waited=now - received,
            gmail_url=gmail_url(account.email_address, None, row.thread_id))

    def _claim(self, followup_id: int, now: datetime) -> bool:
        with session_scope(self.engine) as session:
            return bool(session.execute(update(Followup).where(
                Followup.id == followup_id, Followup.nudged_at.is_(None), *_STILL_OPEN).values(nudged_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount)

    def _release(self, followup_id: int) -> None:
        with session_scope(self.engine) as session:
            session.execute(update(Followup).where(Followup.id == followup_id).values(nudged_at=None)
                            .execution_options(synchronize_session=False))


def forget_old(session: Session, now: datetime) -> int:
    """Housekeeping: answered or done follow-ups older than the digest needs, and open ones due (and not snoozed)
    for longer than KEEP_OPEN."""
    edge, open_edge = now - KEEP_ANSWERED, now - KEEP_OPEN
    forgotten_open = sa.and_(*_STILL_OPEN, Followup.due_at < open_edge,
                             sa.or_(Followup.snoozed_until.is_(None), Followup.snoozed_until < open_edge))
    return session.execute(sa.delete(Followup).where(
        sa.or_(Followup.answered_at < edge, Followup.done_at < edge, forgotten_open))).rowcount

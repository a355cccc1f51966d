"""MailMagnet (SPEC F3): one alert per new Inbox message from a CRM contact, exactly once.

Exactly once across crashes and replicas:
- the alert row is written in the sync transaction (unique per mailbox and message), so a
  message can never be alerted twice by two runs;
- just before posting, the row is stamped `attempted_at` and committed; the Slack message
  carries the Gmail message id in its metadata;
- a row found stamped but not posted (the process died between posting and recording the
  ts) is first looked up in the channel's history, and only posted if it is not there.

Noise control (SPEC §3): muted contacts get no alert; during quiet hours or in digest mode
alerts are queued and later posted together as one digest message.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import select, update

from crm_store.categories import LabelNames, SenderCategory, StageRules
from crm_store.db import row_class, session_scope
from crm_store.leases import LeaseLost, fence
from telemetry.failpoints import failpoint
from crm_store.mailboxes import in_quiet_hours
from crm_store.models import DM_CHANNEL, Alert, AlertStatus, GmailAccount, utcnow
from crm_store.sharing import Visibility
from gmail.alert_facts import AlertFacts, alert_facts, facts_of, read_senders
from gmail.alert_results import current_run, write_alert_results
from gmail.alerting import alerting as _alerting
from gmail.client import MailboxClient
from gmail.links import gmail_url
from gmail.messages import NewMessage, from_gmail_metadata
from gmail.notifier import AlertAudience, AlertView, AudienceDecision, Hidden, Notifier
from gmail.sync_batch import SyncBatch, rep_timezone

log = logging.getLogger(__name__)

# An alert a sync recorded, as `_post` reads it: Alert's columns, no entity to build (issue 17).
_RecordedAlert = row_class(Alert.__table__, "RecordedAlert", __name__)
# Built once (issue 17: statement construction was a good share of the push path's CPU).
_WAITING = sa.select(Alert.status).where(
    Alert.account_id == sa.bindparam("account_id"),
    Alert.status.in_([AlertStatus.PENDING.value, AlertStatus.QUEUED_DIGEST.value])).distinct()
_INSERT_ALERTS = Alert.__table__.insert().returning(Alert.__table__.c.gmail_id, Alert.__table__.c.id)

OUTBOX = "magnet"  # MailMagnet's entry in a SyncBatch's outbox: the alerts its `record` stamped, to post
_READ = "magnet.read"  # what its `read` read for `record`, in the same transaction


class MailMagnet:
    def __init__(self, engine: Engine, notifier: Notifier, audience: AlertAudience, rules: StageRules,
                 labels: LabelNames, *, default_tz: str = "UTC", digest_interval: timedelta = timedelta(hours=1),
                 clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.notifier = notifier
        self.audience = audience
        self.rules = rules
        self.labels = labels
        self.default_tz = default_tz
        self.digest_interval = digest_interval
        self.clock = clock

    # -- SyncSubscriber --------------------------------------------------------------------------

    def read(self, connection: Connection, batch: SyncBatch) -> None:
        """In the sync transaction, before its first write: one read of the senders' facts, which of them are muted
        here, and what waits from before (for `deliver_waiting`, read here rather than in a transaction after the
        posts). For `record`, in the batch's outbox."""
        if candidates := self._candidates(batch):  # no contact mail: nothing to read
            batch.outbox[_READ] = read_senders(connection, batch.account.id, (s.contact_id for _, s in candidates))

    def record(self, connection: Connection, batch: SyncBatch) -> None:
        """In the sync transaction: one alert row per new message from a (not muted) contact. An alert to post now
        is stamped `attempted_at` already (it may be posted from here on: crash recovery looks in Slack first), and
        what its Slack message shows of the contact and the deals, read by `read` in the same transaction, is kept
        for `deliver`."""
        account = batch.account
        read = batch.outbox.pop(_READ, None)
        candidates = self._candidates(batch)
        if not candidates:
            return
        run = current_run()
        if read is None:  # a pipeline that did not call `read` (its candidates are a subset of what `read` saw)
            read = read_senders(connection, account.id, (sender.contact_id for _, sender in candidates))
        if run is not None:
            run.waiting = (run.waiting or set()) | read.waiting
        muted = read.muted
        local = batch.at.astimezone(ZoneInfo(batch.tz))
        hold = account.digest_enabled or in_quiet_hours(account, local.hour * 60 + local.minute)
        if hold and run is not None:
            run.waiting.add(AlertStatus.QUEUED_DIGEST.value)
        status = AlertStatus.QUEUED_DIGEST if hold else AlertStatus.PENDING
        rows = [{"account_id": account.id, "gmail_id": message.gmail_id, "contact_id": sender.contact_id,
                 "channel": account.alert_channel or DM_CHANNEL, "status": status, "slack_ts": None,
                 "created_at": utcnow(), "attempted_at": None if hold else batch.at, "posted_at": None}
                for message, sender in candidates if sender.contact_id not in muted]
        if not rows:
            return
        # Core, built once: no unit of work to flush; several rows are still one INSERT (insertmanyvalues).
        ids = dict(connection.execute(_INSERT_ALERTS, rows).all())
        if hold:
            return
        alerts = [_RecordedAlert(id=ids[row["gmail_id"]], **row) for row in rows]
        facts: dict[int, AlertFacts] = {}
        for alert in alerts:
            if alert.contact_id not in facts:
                facts[alert.contact_id] = facts_of(read.rows.get(alert.contact_id, ()), at=batch.at, tz=batch.tz,
                                                   rules=self.rules, labels=self.labels)
        batch.outbox[OUTBOX] = [(alert, facts[alert.contact_id]) for alert in alerts]

    @staticmethod
    def _candidates(batch: SyncBatch) -> list[tuple[NewMessage, SenderCategory]]:
        """The batch's news from a contact (not the rep's own mail), with MailMagnet on."""
        account = batch.account
        if not account.magnet_enabled:
            return []
        return [(message, sender) for message in batch.messages
                if message.gmail_id in batch.alertable_ids and account.email_address not in message.from_addresses
                and (sender := batch.contact_of(message)) is not None]

    def deliver(self, batch: SyncBatch, mailbox: MailboxClient) -> None:
        """After the sync's commit: post the alerts it recorded, with the contents and facts read for them. None of
        them was posted before (this run recorded them), so Slack's history is not read first."""
        to_post = batch.outbox.get(OUTBOX)
        if to_post and not self._still_ours(batch.account.id):
            return  # disconnected or revoked since the commit: its alerts are not the rep's to get any more
        if to_post:
            try:
                self._post(batch.account, to_post, {m.gmail_id: m for m in batch.messages})
            except Exception:
                if (run := current_run()) is not None:
                    run.unposted = True  # `deliver_waiting` looks again, as after a failed post
                raise

    def _still_ours(self, account_id: int) -> bool:
        """Looked at just before the first post of a sync's alerts: the mailbox is still connected with MailMagnet on
        (a disconnect, a revoke or MailMagnet switched off may have come between the sync's commit and now) and, in a
        leased run, the lease still this run's (LeaseLost: the holder posts them)."""
        with self.engine.begin() as connection:
            return _alerting(connection, account_id)

    def _still_waiting(self, account_id: int, alerts: list[Alert], status: AlertStatus) -> set[int]:
        """Looked at just before posting alerts that waited (read before Slack's history and Gmail were asked): which
        still wait. A disconnect deleted them, switching MailMagnet off skipped them, a revoke ended the mailbox;
        a lost lease raises LeaseLost (the holder posts them). Only when something waits: the push path never."""
        if not alerts:
            return set()
        with self.engine.begin() as connection:
            if not _alerting(connection, account_id):
                return set()
            return set(connection.execute(sa.select(Alert.id).where(
                Alert.id.in_([alert.id for alert in alerts]), Alert.status == status.value)).scalars())

    # -- posting ---------------------------------------------------------------------------------

    def deliver_waiting(self, account: GmailAccount, mailbox: MailboxClient) -> int:
        """After a sync: retry alerts that could not be posted, and send a digest when one is due.
        One query when there is nothing waiting (the usual case); none when the sync's transaction read it and
        every alert of the run was posted."""
        run = current_run()
        if run is not None and run.waiting is not None and not run.unposted:
            waiting = run.waiting
        else:
            with self.engine.connect() as connection:
                waiting = set(connection.execute(_WAITING, {"account_id": account.id}).scalars())
        posted = 0
        if AlertStatus.PENDING.value in waiting:
            posted += self.post_pending(account, mailbox)
        if AlertStatus.QUEUED_DIGEST.value in waiting:
            posted += self.flush_digest(account, mailbox)
        return posted

    def post_pending(self, account: GmailAccount, mailbox: MailboxClient,
                     contents: dict[str, NewMessage] | None = None) -> int:
        """Post every pending alert of the mailbox (those an earlier attempt left); returns how many reached
        Slack. Those stamped before may be in Slack already: the channel's history says (`_drop_already_posted`)."""
        with session_scope(self.engine) as session:
            alerts = list(session.exec(select(Alert).where(
                Alert.account_id == account.id, Alert.status == AlertStatus.PENDING.value).order_by(Alert.id)))
            for alert in alerts:
                session.expunge(alert)
        run = current_run()
        if run is not None:  # posted (or skipped) in this run, recorded with its last transaction
            finished = run.finished_ids()
            alerts = [alert for alert in alerts if alert.id not in finished]
        if not alerts:
            return 0
        alerts = self._drop_already_posted(account, alerts)
        messages = self._contents(mailbox, alerts, contents or {})
        kept = self._still_waiting(account.id, alerts, AlertStatus.PENDING)
        return self._post(account, [(alert, None) for alert in alerts if alert.id in kept], messages)

    def _post(self, account: GmailAccount, alerts: list[tuple[Alert, "AlertFacts | None"]],
              messages: dict[str, NewMessage | None]) -> int:
        """Post alerts stamped `attempted_at` (committed), one by one; stops at the first Slack failure (the rest
        wait for the next run), and before the next post once the mailbox no longer takes alerts."""
        audiences: dict[str, Any] = {}
        posted = 0
        for alert, facts in alerts:
            message = messages.get(alert.gmail_id)
            if message is None:
                self._finish(alert.id, AlertStatus.SKIPPED, None)  # deleted before we could tell anyone
                continue
            if posted and not self._still_ours(account.id):
                # The caller looked before the first post; a disconnect, revoke or MailMagnet switched off may land
                # while the batch's posts go out (a Slack call each): the rest of the batch is not posted.
                break
            try:
                channel, view, decision = self._view(account, alert, message, audiences, facts)
                to_dm = alert.channel != DM_CHANNEL and channel != alert.channel
                if to_dm or alert.attempted_at is None:
                    self._stamp(account.id, [alert.id], to_dm=to_dm)
                ts = self.notifier.post_alert(account.slack_team_id, channel, view)
            except Exception as error:  # noqa: BLE001 - Slack down: the rest waits for the next run
                log.warning("alert for mailbox %s not posted yet: %s", account.id, error)
                if (run := current_run()) is not None:
                    run.unposted = True
                break
            failpoint("slack.post_accepted")
            self._finish(alert.id, AlertStatus.POSTED, ts)
            self._after_post(account, alert, decision, channel)
            posted += 1
        return posted

    def flush_digest(self, account: GmailAccount, mailbox: MailboxClient, *, force: bool = False) -> int:
        """Post queued alerts as one digest when due: digest interval elapsed, or quiet hours over."""
        now = self.clock()
        with session_scope(self.engine) as session:
            alerts = list(session.exec(select(Alert).where(
                Alert.account_id == account.id, Alert.status == AlertStatus.QUEUED_DIGEST.value).order_by(Alert.id)))
            if not alerts:
                return 0
            for alert in alerts:
                session.expunge(alert)
            tz = rep_timezone(session, account, self.default_tz)
        local = now.astimezone(ZoneInfo(tz))
        quiet = in_quiet_hours(account, local.hour * 60 + local.minute)
        due = force or (not quiet and (not account.digest_enabled or account.last_digest_at is None
                                        or now - account.last_digest_at >= self.digest_interval))
        if not due:
            return 0
        alerts = self._drop_already_posted(account, alerts)
        messages = self._contents(mailbox, alerts, {})
        by_channel: dict[str, list[tuple[Alert, AlertView, AudienceDecision]]] = {}
        audiences: dict[str, Any] = {}
        for alert in alerts:
            message = messages.get(alert.gmail_id)
            if message is None:
                self._finish(alert.id, AlertStatus.SKIPPED, None)
                continue
            channel, view, decision = self._view(account, alert, message, audiences)
            by_channel.setdefault(channel, []).append((alert, view, decision))
        kept = self._still_waiting(account.id, [alert for items in by_channel.values() for alert, _, _ in items],
                                   AlertStatus.QUEUED_DIGEST)
        by_channel = {channel: still for channel, items in by_channel.items()
                      if (still := [item for item in items if item[0].id in kept])}
        sent = 0
        for channel, items in by_channel.items():
            if sent and not self._still_ours(account.id):
                return sent  # the mailbox ended after the first channel's digest: no more go out (as in `_post`)
            for alert, _, _ in items:
                self._stamp(account.id, [alert.id], to_dm=alert.channel != DM_CHANNEL and channel != alert.channel)
            try:
                ts = self.notifier.post_digest(account.slack_team_id, channel, [v for _, v, _ in items],
                                               digest_key=f"{account.id}:{items[0][0].id}")
            except Exception as error:  # noqa: BLE001 - Slack down: the digest waits for the next run
                log.warning("digest for mailbox %s not posted yet: %s", account.id, error)
                return 0
            failpoint("slack.digest_posted")
            for alert, _, decision in items:
                self._finish(alert.id, AlertStatus.POSTED, ts)
                self._after_post(account, alert, decision, channel)
            sent += len(items)
        with session_scope(self.engine) as session:
            current = session.get(GmailAccount, account.id)
            if current is not None:
                current.last_digest_at = now
        return sent

    # -- helpers ---------------------------------------------------------------------------------

    def _drop_already_posted(self, account: GmailAccount, alerts: list[Alert]) -> list[Alert]:
        """Crash recovery: alerts stamped before a crash may be in Slack already; find them there."""
        stamped = [a for a in alerts if a.attempted_at is not None]
        if not stamped:
            return alerts
        found: dict[tuple[int, str], str] = {}
        unreadable: set[str] = set()
        for channel in {a.channel for a in stamped}:
            since = min(a.attempted_at for a in stamped if a.channel == channel) - timedelta(minutes=5)
            try:
                found.update(self.notifier.posted_alerts(account.slack_team_id, self._channel_id(account, channel),
                                                         since))
            except Exception as error:  # noqa: BLE001 - Slack down, or the rep's DM cannot be opened
                # Without the channel's history a stamped alert could be posted twice: it waits for a run that
                # can read it. The sync and the label run go on; one unreachable channel never stops a mailbox.
                log.warning("cannot read the alert history of mailbox %s's channel yet: %s", account.id, error)
                unreadable.add(channel)
        remaining = []
        for alert in alerts:
            if alert.attempted_at is not None and alert.channel in unreadable:
                continue
            ts = found.get((account.id, alert.gmail_id))
            if ts is not None:
                log.info("alert for %s was posted before a crash; not posting again", alert.gmail_id)
                self._finish(alert.id, AlertStatus.POSTED, ts)
            else:
                remaining.append(alert)
        return remaining

    def _contents(self, mailbox: MailboxClient, alerts: Iterable[Alert],
                  known: dict[str, NewMessage]) -> dict[str, NewMessage | None]:
        """The in-memory content of each alert's message; fetched again only after a restart."""
        result: dict[str, NewMessage | None] = {a.gmail_id: known.get(a.gmail_id) for a in alerts}
        missing = [gmail_id for gmail_id, message in result.items() if message is None]
        if missing:
            for gmail_id, raw in mailbox.get_metadata(missing).items():
                result[gmail_id] = from_gmail_metadata(raw) if raw else None
        return result

    def _channel_id(self, account: GmailAccount, channel: str) -> str:
        """The channel's id, to read its history (the DM's takes a call to Slack the first time)."""
        return self.notifier.alert_channel(account) if channel == DM_CHANNEL else channel

    def _post_target(self, account: GmailAccount, channel: str) -> str:
        """Where to post into the channel: the DM without first asking Slack for its id."""
        return self.notifier.dm_address(account) if channel == DM_CHANNEL else channel

    def _view(self, account: GmailAccount, alert: Alert, message: NewMessage, audiences: dict[str, Any],
              facts: "AlertFacts | None" = None) -> tuple[str, AlertView, AudienceDecision]:
        """The alert as its readers may see it, and where it goes: the chosen channel, or the rep's DM when
        that channel may see nothing of it (SPEC §5). `audiences` caches each channel's readers for one run."""
        chosen = None if alert.channel == DM_CHANNEL else alert.channel
        key = chosen or DM_CHANNEL
        if key not in audiences:
            audiences[key] = self.audience.channel_audience(account, chosen)
        decision = self.audience.decide(account, alert.contact_id, audiences[key])
        channel = self._post_target(account, alert.channel)
        if decision.level == Visibility.NONE:
            if chosen is not None and self.audience.fallback_notice_due(account.id, chosen):
                self.notifier.alerts_go_to_dm(account, chosen, decision.reason or "")
            decision = AudienceDecision(Visibility.OWNER, True)
            channel = self.notifier.dm_address(account)
        level = decision.level
        if facts is None:
            with session_scope(self.engine) as session:
                facts = alert_facts(session, alert.contact_id, at=self.clock(),
                                    tz=rep_timezone(session, account, self.default_tz), rules=self.rules,
                                    labels=self.labels)
        label, context = facts.label, facts.deal_context
        hidden = None if level.shows_snippet else Hidden.PREVIEW if level.shows_subject else Hidden.SUBJECT
        crm = decision.crm_details
        view = AlertView(
            account_id=account.id, gmail_id=alert.gmail_id, mailbox_address=account.email_address,
            rep_user_id=account.slack_user_id, contact_id=facts.contact_id, contact_name=facts.contact_name,
            contact_email=facts.contact_email if crm else None, company=facts.company,
            category_label=label if crm else None, deal_context=context if crm else None,
            sender=message.sender_name, received_at=message.received_at,
            gmail_url=gmail_url(account.email_address, message, alert.gmail_id),
            subject=message.subject if level.shows_subject else None,
            snippet=message.snippet if level.shows_snippet else None, hidden=hidden, crm_details=crm,
            is_lead=facts.is_lead and crm, lead_status=facts.lead_status if crm else None,
            owner=facts.owner if crm else None,
        )
        return channel, view, decision

    def _after_post(self, account: GmailAccount, alert: Alert, decision: AudienceDecision, channel: str) -> None:
        if decision.viewers:
            try:
                self.audience.record_views(account, alert.gmail_id, alert.contact_id, decision, channel)
            except Exception:  # noqa: BLE001 - the alert is out; a failed audit write must not repost it
                log.exception("audit of alert %s in mailbox %s failed", alert.gmail_id, account.id)

    def _stamp(self, account_id: int, alert_ids: list[int], *, to_dm: bool = False) -> None:
        """Committed before posting; `to_dm` records a move to the rep's DM so crash recovery looks there. Fenced: a
        run that lost its mailbox's lease posts nothing more (LeaseLost)."""
        values: dict[str, Any] = {"attempted_at": self.clock()}
        if to_dm:
            values["channel"] = DM_CHANNEL
        with self.engine.begin() as connection:
            fence(connection, account_id)  # a run that lost its lease stamps nothing (crm_store.leases.fence)
            connection.execute(update(Alert).where(Alert.id.in_(alert_ids)).values(**values))

    def _finish(self, alert_id: int, status: AlertStatus, ts: str | None) -> None:
        """Record an alert's result: in a mailbox run, with its last transaction (`gmail.alert_results`); else now."""
        row = {"b_id": alert_id, "b_status": status.value, "b_ts": ts,
               "b_posted": self.clock() if status is AlertStatus.POSTED else None}
        run = current_run()
        if run is not None:
            run.results.append(row)
            return
        with self.engine.begin() as connection:
            write_alert_results(connection, [row])


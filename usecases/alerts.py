"""MailMagnet alerts (SPEC F3, §5): who may see how much of an alert in a channel, and the alert's buttons.

`AlertAudiencePolicy` is the alert job's port onto the access rules (gmail/magnet.py asks it; bot/
wires it), so scheduled posts are decided exactly as every other surface. The button use cases check
every identifier of the button's value against the alert it came from and the clicker's rights: a
forged or stale value gets a refusal, never data.
"""
from __future__ import annotations

import logging

from sqlmodel import select, update

from crm_store.db import session_scope
from crm_store.errors import InvalidInput, NotAllowed
from crm_store.mailboxes import mute_contact
from crm_store.models import Alert, AuditSurface, Contact, GmailAccount
from gmail.notifier import AudienceDecision
from usecases import access, compose, contact_emails, contacts, visibility
from usecases.visibility import ChannelAudience
from usecases.actors import SlackActorRef, acting
from usecases.audit import record_views
from usecases.compose import Draft
from usecases.contacts import ContactView
from usecases.context import ChannelInfo, ChannelNotFound, Services
from usecases.refusals import Refusal

log = logging.getLogger(__name__)


class AlertAudiencePolicy:
    """gmail.notifier.AlertAudience on the sharing rules of usecases/visibility.py."""

    def __init__(self, services: Services):
        self.services = services

    def channel_audience(self, account: GmailAccount, channel_id: str | None) -> ChannelAudience:
        if channel_id is None:
            return ChannelAudience(None)
        directory = self.services.directory
        try:
            channel = directory.channel(account.slack_team_id, channel_id)
            # Public channels are audited for their members; the rest of the workspace cannot be listed.
            members = directory.channel_members(account.slack_team_id, channel_id)
        except ChannelNotFound:
            # Gone, or the bot was removed: nobody there may be shown anything (the alert goes to the DM).
            return ChannelAudience(ChannelInfo(channel_id, channel_id, is_private=True), (None,))
        with session_scope(self.services.engine) as session:
            crm_ids = visibility.crm_ids_of_members(session, account.slack_team_id, members)
        return ChannelAudience(channel, crm_ids, visibility.channel_outside_organisation(self.services, channel))

    def decide(self, account: GmailAccount, contact_id: int, audience: ChannelAudience) -> AudienceDecision:
        if audience.is_dm:
            return visibility.alert_audience(None, account, contact_id, audience)  # the rep's own DM: no read
        with session_scope(self.services.engine) as session:
            current = session.get(GmailAccount, account.id) or account
            return visibility.alert_audience(session, current, contact_id, audience)

    def record_views(self, account: GmailAccount, gmail_id: str, contact_id: int, decision: AudienceDecision,
                     channel_id: str) -> None:
        with session_scope(self.services.engine) as session:
            record_views(session, account, contact_id=contact_id,
                         views=[(viewer, gmail_id, level) for viewer, level in decision.viewers.items()],
                         surface=AuditSurface.CHANNEL_ALERT, channel_id=channel_id)

    def fallback_notice_due(self, account_id: int, channel_id: str) -> bool:
        with session_scope(self.services.engine) as session:
            return bool(session.execute(
                update(GmailAccount).where(GmailAccount.id == account_id,
                                           (GmailAccount.alert_fallback_notice.is_(None))
                                           | (GmailAccount.alert_fallback_notice != channel_id))
                .values(alert_fallback_notice=channel_id).execution_options(synchronize_session=False)
            ).rowcount)


# -- the alert's buttons ----------------------------------------------------------------------------------

# An alert's buttons name what an email's buttons name: the mailbox, the Gmail message and the contact.
AlertRef = contact_emails.EmailRef


def _alert(session, ref: AlertRef) -> Alert:
    """The alert the button belongs to, its ids consistent with the value; else a refusal."""
    alert = session.exec(select(Alert).where(Alert.account_id == ref.account_id,
                                             Alert.gmail_id == ref.gmail_id)).first()
    if alert is None or alert.contact_id != ref.contact_id:
        raise NotAllowed(Refusal.STALE_BUTTON)
    return alert


def contact_from_alert(services: Services, who: SlackActorRef, ref: AlertRef) -> ContactView:
    """"View contact": the alert's contact as `/contact` shows it (card, and the emails the clicker may see), for
    CRM users of the organisation."""
    with acting(services, who) as (session, actor):
        access.require_crm_user(session, actor)
        alert = _alert(session, ref)
        if session.get(Contact, alert.contact_id) is None:
            raise NotAllowed(Refusal.CONTACT_GONE)
        contact_id = alert.contact_id
    return contacts.show_contact(services, who, contact_id)


def mute_from_alert(services: Services, who: SlackActorRef, ref: AlertRef) -> tuple[str, str]:
    """"Mute contact": only the mailbox owner; returns (contact name, contact email)."""
    with acting(services, who) as (session, actor):
        account = access.require_mailbox_owner(session, actor, ref.account_id)
        alert = _alert(session, ref)
        contact = session.get(Contact, alert.contact_id)
        if contact is None:
            raise NotAllowed(Refusal.CONTACT_GONE)
        mute_contact(session, account, contact.id)
        return contact.display_name, contact.email


def start_reply(services: Services, who: SlackActorRef, ref: AlertRef) -> Draft:
    """"Reply": the alert's own message, for its mailbox owner only; the compose modal of usecases/compose.py
    (recipient: the message's Reply-To, else its From — SPEC F6)."""
    with acting(services, who) as (session, actor):
        access.require_mailbox_owner(session, actor, ref.account_id)
        _alert(session, ref)
    return compose.start_reply(services, who, ref.account_id, ref.gmail_id, ref.contact_id)

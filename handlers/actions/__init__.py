"""Block actions: buttons and selects in messages and in the App Home. ACTIONS is their one table."""
from __future__ import annotations

from handlers.actions import alerts, audit, connection, contact, followups, home, setup
from handlers.blocks.ids import ActionId, AlertAction, FollowupAction
from handlers.routes import Acking, Route

ACTIONS: tuple[Route, ...] = (
    Route(ActionId.CONNECT_AUTHENTICATE.value, connection.authenticate_link_opened, Acking.LINK),
    Route(ActionId.RECONNECT.value, connection.reconnect),
    Route(ActionId.DISCONNECT_CONFIRM.value, connection.confirm_disconnect),
    Route(ActionId.DISCONNECT_CANCEL.value, connection.cancel_disconnect),
    Route(ActionId.SETUP_OPEN.value, setup.open_setup),
    *(Route(action_id.value, home.home_control) for action_id in home.CHANGES),
    Route(AlertAction.VIEW_CONTACT, alerts.view_contact),
    Route(AlertAction.MUTE, alerts.mute),
    Route(alerts.OPEN_GMAIL_ACTIONS, alerts.open_gmail, Acking.LINK),
    Route(AlertAction.REPLY, alerts.reply),
    Route(ActionId.CONTACT_PICK.value, contact.pick_contact),
    Route(ActionId.CONTACT_MORE.value, contact.show_more),
    Route(ActionId.EMAIL_OPEN.value, contact.open_email),
    Route(ActionId.EMAIL_REPLY.value, contact.reply_to_email),
    Route(ActionId.EMAIL_OPEN_GMAIL.value, contact.open_in_gmail, Acking.LINK),
    Route(ActionId.AUDIT_OLDER.value, audit.older),
    Route(FollowupAction.REPLY, followups.reply),
    Route(FollowupAction.SNOOZE, followups.snooze),
    Route(FollowupAction.DONE, followups.done),
    Route(FollowupAction.OPEN_GMAIL, followups.open_gmail, Acking.LINK),
)

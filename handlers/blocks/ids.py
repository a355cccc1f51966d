"""Action, block and callback ids shared by the builders and the listeners."""
from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    CONNECT_AUTHENTICATE = "gmail_connect_authenticate"
    SETUP_OPEN = "gmail_setup_open"
    RECONNECT = "gmail_reconnect"
    DISCONNECT_CONFIRM = "gmail_disconnect_confirm"
    DISCONNECT_CANCEL = "gmail_disconnect_cancel"
    HOME_CONNECT = "home_connect"
    HOME_DISCONNECT = "home_disconnect"
    HOME_MAGNET = "home_magnet"
    HOME_LABELS = "home_labels"
    HOME_SHARING = "home_sharing"
    HOME_DEPTH = "home_depth"
    HOME_ALERTS_DM = "home_alerts_dm"
    HOME_SETTINGS = "home_settings"
    CONTACT_PICK = "contact_pick"
    CONTACT_MORE = "contact_more"
    EMAIL_OPEN = "contact_email_open"
    EMAIL_REPLY = "contact_email_reply"
    EMAIL_OPEN_GMAIL = "contact_email_gmail"
    AUDIT_OLDER = "audit_older"


# Clicking these again only opens a modal or a link again: never treated as a double click.
REPEATABLE_ACTIONS = frozenset({ActionId.CONNECT_AUTHENTICATE, ActionId.SETUP_OPEN, ActionId.HOME_CONNECT,
                                ActionId.HOME_SETTINGS, ActionId.EMAIL_OPEN, ActionId.EMAIL_REPLY,
                                ActionId.EMAIL_OPEN_GMAIL})


class AlertAction(StrEnum):
    """The buttons of a MailMagnet alert (and the Open buttons of a digest)."""
    VIEW_CONTACT = "alert_view_contact"
    REPLY = "alert_reply"
    # A link button: `alert_open_gmail` on an alert, `alert_open_gmail_<message id>` on each digest line (action
    # ids are unique per block only).
    OPEN_GMAIL = "alert_open_gmail"
    MUTE = "alert_mute_contact"


class FollowupAction(StrEnum):
    """The buttons of a follow-up nudge on unanswered customer mail."""
    REPLY = "followup_reply"
    SNOOZE = "followup_snooze"
    DONE = "followup_done"
    OPEN_GMAIL = "followup_open_gmail"


class CallbackId(StrEnum):
    SETUP_MODAL = "gmail_setup"
    CONNECT_MODAL = "gmail_connect"
    COMPOSE_MODAL = "compose_email"
    EMAIL_DETAIL_MODAL = "email_detail"
    SHOW_CONTACT_SHORTCUT = "show_contact_emails"  # the message shortcut (app.yaml features.shortcuts)


class SetupField(StrEnum):
    """Block ids of the setup modal's inputs; each input's action id is `choice`."""

    SHARING = "setup_sharing"
    DEPTH = "setup_depth"
    FEATURES = "setup_features"


class ComposeField(StrEnum):
    """Block ids of the compose modal's inputs, each with its action id (`COMPOSE_ACTIONS`)."""

    TO = "compose_to"
    SUBJECT = "reply_subject"
    BODY = "reply_body"


COMPOSE_ACTIONS = {ComposeField.TO: "to", ComposeField.SUBJECT: "subject", ComposeField.BODY: "body"}

SETUP_ACTION = "choice"
FEATURE_MAGNET = "magnet"
FEATURE_LABELS = "labels"

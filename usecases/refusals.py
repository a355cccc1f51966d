"""Why a use case refuses, as facts: each `Refusal` is raised in a `DomainError` of its kind with the facts it
names (listed beside it), and `handlers/blocks/refusals.py` words it. Nothing here is a sentence."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, auto


@dataclass(frozen=True)
class Person:
    """A CRM user named in a refusal: their Slack user when linked in the reader's workspace, else their name."""

    slack_user_id: str | None
    name: str


class Refusal(StrEnum):
    # The actor's own rights (usecases/access.py). `granters`, `crm_admins`: tuple[Person, ...], the CRM admins.
    NOT_LINKED = auto()  # slack_email | None, granters
    CRM_USER_GONE = auto()
    NO_MAIL_INTEGRATION = auto()  # granters
    NEEDS_SLACK_USER = auto()
    CONTACTS_FOR_CRM_USERS = auto()  # granters
    ADMIN_ONLY = auto()
    ROLES_FOR_CRM_ADMINS = auto()
    ANOTHER_WORKSPACES_USER = auto()  # email
    TARGET_IS_CRM_ADMIN = auto()  # email
    CREATES_NO_CRM_USER = auto()  # email, crm_admins
    LINK_NEEDS_PROOF = auto()  # slack_user_id, proof | None, crm_email, crm_admins
    MAILBOX_KEEPS_ITS_REP = auto()  # email, address, owner_slack_id
    NO_MAILBOX = auto()
    MAILBOX_REVOKED = auto()  # address
    MAILBOX_GONE = auto()
    NOT_YOUR_MAILBOX = auto()  # owner_slack_id
    # Who sees whose emails (usecases/visibility.py)
    MAILBOX_GONE_EMAILS_HIDDEN = auto()
    SHARING_HIDES_EMAIL = auto()  # owner_slack_id
    # A contact and their emails (usecases/contacts.py, contact_emails.py, email_detail.py, compose.py)
    STALE_BUTTON = auto()
    VIEW_EXPIRED = auto()
    EMAIL_GONE = auto()
    MAILBOX_NEEDS_RECONNECT = auto()
    GMAIL_DID_NOT_ANSWER = auto()
    NOT_WITH_CONTACT = auto()
    CONTACT_GONE = auto()
    WHOM_TO_LOOK_UP = auto()
    NO_ADDRESS_IN_MESSAGE = auto()
    # Writing from the rep's Gmail (usecases/compose.py); the modal's field errors have no facts
    SENDING_NOT_GRANTED = auto()  # address
    MAILBOX_REVOKED_FOR_SENDING = auto()  # address
    WHOM_TO_WRITE_TO = auto()
    NO_REPLY_ADDRESS = auto()
    UNWRITABLE_REPLY_ADDRESS = auto()  # address
    TOO_MANY_REPLY_ADDRESSES = auto()  # count, limit
    NO_SUBJECT = auto()
    SUBJECT_TOO_LONG = auto()
    SUBJECT_NOT_ONE_LINE = auto()
    NO_MESSAGE = auto()
    MESSAGE_TOO_LONG = auto()
    NO_RECIPIENT = auto()
    UNWRITABLE_RECIPIENT = auto()
    RECIPIENT_NOT_OFFERED = auto()
    UNWRITABLE_ADDRESS_NOT_SENT = auto()  # address
    SENDING_LIMIT_REACHED = auto()  # address
    ACCESS_REFUSED_NOTHING_SENT = auto()  # address
    SENDING_UNCONFIRMED = auto()
    SENDING_REFUSED = auto()
    # Connecting a mailbox (usecases/mailbox.py): the consent page's reasons, plain text
    CONSENT_FROM_ANOTHER_ORGANISATION = auto()
    CONSENT_SCOPES_MISSING = auto()  # scopes: the OAuth scopes not granted
    CONSENT_WITHOUT_MAIL_INTEGRATION = auto()
    CONSENT_UNANSWERED = auto()
    CONSENT_ON_ANOTHERS_LINK = auto()  # address
    CONSENT_NOT_OWN_MAILBOX = auto()  # address, allowed: the addresses the rep may connect
    MAILBOX_TAKEN = auto()  # address
    MAILBOX_TAKEN_MEANWHILE = auto()  # address
    NOTHING_TO_DISCONNECT = auto()
    DISCONNECTED_ALREADY = auto()
    # Administering users (usecases/admin.py)
    TARGET_IS_AN_APP = auto()  # slack_user_id
    NO_CONFIRMED_EMAIL = auto()  # slack_user_id, crm_admins
    SECONDARY_EMAIL_OF_SEVERAL = auto()  # email, slack_user_id, crm_admins
    CRM_USER_LINKED_ELSEWHERE = auto()  # email, linked_to: a Slack user id of this workspace | None (another's)
    NOTHING_TO_REVOKE = auto()  # slack_user_id
    NAME_THE_CRM_EMAIL = auto()  # email
    NOT_AN_ADDRESS = auto()  # text
    GRANT_FIRST = auto()  # slack_user_id
    ADDRESS_OF_ANOTHER_USER = auto()  # address, other_email
    ADDRESS_ALLOWED_TO_ANOTHER = auto()  # address
    ADDRESS_CONNECTED_BY_ANOTHER = auto()  # address
    NO_SUCH_ROLE = auto()  # role
    ONLY_CRM_ADMINS_MAKE_ADMINS = auto()
    NO_CRM_USER_WITH_EMAIL = auto()  # email
    NO_SLACK_CONNECTION = auto()  # the server cannot list a group's members
    TOO_MANY_MEMBERS = auto()  # members, limit
    CSV_WITHOUT_EMAIL_COLUMN = auto()
    NO_SUCH_MAILBOX = auto()  # address (`mailmagnet explain --account`)
    ZOHO_NOT_CONFIGURED = auto()
    # Settings (usecases/settings.py, followups.py)
    FOLLOWUP_HOURS = auto()  # limit
    LABELS_NEED_MAGNET_TICKED = auto()  # the setup modal

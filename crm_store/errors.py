"""Domain errors: a refusal or failure as facts. The kind (the class) says what sort of refusal it is, `refusal`
(an enum of the layer that refuses) which one, and `facts` what it names; `handlers/blocks/refusals.py` words it
for Slack. None of them carries a sentence."""
from __future__ import annotations

from enum import Enum, StrEnum
from typing import Any


class DomainError(Exception):
    """A refusal or failure the user can act on; handlers show `refusal_text(error)` ephemerally.

    `DomainError(Refusal.X, name=value, …)`: `str(error)` is the refusal's name, for logs. A bare string is still
    accepted for messages meant for operators only (the CLI), never for what a Slack user reads."""

    def __init__(self, refusal: Enum | str | None = None, /, **facts: Any):
        self.refusal = refusal if isinstance(refusal, Enum) else None
        self.facts = facts
        super().__init__(refusal.value if isinstance(refusal, Enum) else (refusal or ""))


class StoreRefusal(StrEnum):
    """The store's own refusals (the facts each names, beside it); `handlers/blocks/refusals.py` words them."""

    POLICY_FIXED = "policy_fixed"  # policy: SharingPolicy, scope: PolicyScope (where it was set)
    LABELS_NEED_MAGNET = "labels_need_magnet"
    NOT_A_TIME = "not_a_time"  # text
    QUIET_HOURS_NEED_TWO_TIMES = "quiet_hours_need_two_times"
    OWN_EMAILS_ALWAYS_VISIBLE = "own_emails_always_visible"
    KEY_NAME_INVALID = "key_name_invalid"  # an ingest API key's name (the operator's)
    KEY_NAME_TAKEN = "key_name_taken"  # name


class NotLinked(DomainError):
    """The Slack user is not linked to any CRM user."""


class PermissionRequired(DomainError):
    """The CRM profile lacks Mail Integration."""


class AdminOnly(DomainError):
    """Only admins may do this."""


class NotConnected(DomainError):
    """The rep has no connected mailbox."""


class LabelsNeedMagnet(DomainError):
    """Labels can only be switched on while MailMagnet is on (SPEC F4)."""


class PolicyFixed(DomainError):
    """The organisation's sharing policy does not let reps choose."""


class InvalidInput(DomainError):
    """Malformed input; the message says what is expected."""


class WrongWorkspace(DomainError):
    """The request comes from a Slack workspace this deployment does not serve (SPEC §1)."""


class NotAllowed(DomainError):
    """The actor may not do this to that target (another workspace's user, someone else's mailbox…)."""


class NotFoundError(DomainError):
    """What the request names does not exist (any more)."""


class LinkNeedsProof(NotAllowed):
    """A link a Slack workspace admin may not make: the Slack user's confirmed email is not the CRM user's
    (SPEC §1 "Linking needs proof"); only a CRM admin links on their word."""


class CreatesNoCrmUser(NotAllowed):
    """A Slack workspace admin asked for a CRM user that does not exist: they never create one (SPEC §1)."""

"""Domain errors: each carries a message that is safe and useful to show the user as is."""
from __future__ import annotations


class DomainError(Exception):
    """A refusal or failure the user can act on; handlers show `str(error)` ephemerally."""


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

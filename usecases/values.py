"""The use cases' vocabulary for the surfaces: the enums and results they pass around.

Surfaces (handlers/, the CLI, web routes) import these from here, never from the store's models.
"""
from crm_store.addresses import is_valid_address  # noqa: F401
from crm_store.errors import (  # noqa: F401
    AdminOnly,
    DomainError,
    InvalidInput,
    LabelsNeedMagnet,
    NotAllowed,
    NotConnected,
    NotFoundError,
    NotLinked,
    PermissionRequired,
    PolicyFixed,
    StoreRefusal,
    WrongWorkspace,
)
from crm_store.models import DM_CHANNEL, AuditSurface, ManagersSee, Sharing, SharingDepth, SharingPolicy  # noqa: F401
from gmail.oauth import ConsentError, ConsentFailure, InvalidState  # noqa: F401
from usecases.actors import SlackActorRef  # noqa: F401
from usecases.context import Services  # noqa: F401
from gmail.notifier import ALERT_EVENT_TYPE, DIGEST_EVENT_TYPE, AlertView, ClosedChannel, Hidden, MailboxIncident  # noqa: F401
from usecases.overview import RepRow, RepState, TeamOverview  # noqa: F401,E402
from usecases.onboarding import GrantReport, GrantSource, GroupNotFound, NotAMember, SkipReason  # noqa: F401,E402
from usecases.context import UsergroupNotFound  # noqa: F401,E402
from gmail.followups import FollowupNudge  # noqa: F401
from usecases.refusals import Person, Refusal  # noqa: F401
from gmail.config import GMAIL_MODIFY_SCOPE, GMAIL_SEND_SCOPE  # noqa: F401
from crm_store.sharing import PolicyScope  # noqa: F401

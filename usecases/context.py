"""What every use case is handed: the app's building blocks and the ports to the outside world.

`bot/` builds one `Services` at start-up from the settings and hands it to every surface (Slack
listeners, CLI, web routes, scheduler). Nothing here imports `bot`: the settings arrive as the
plain `Config` below, and Slack arrives through the `SlackDirectory` port (users.info,
conversations.info) that `bot/` implements with slack_sdk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Engine

from crm_store.categories import LabelNames, StageRules
from crm_sync.config import ZohoConfig
from crm_store.errors import DomainError
from gmail.accounts import load_credentials
from gmail.client import GmailService, MailboxClient
from gmail.config import GoogleConfig, SyncConfig
from gmail.notifier import Notifier
from gmail.oauth import GoogleConsent
from gmail.tokens import TokenCipher

if TYPE_CHECKING:
    from usecases.fanout import FairPool


@dataclass(frozen=True)
class Config:
    """The settings the use cases read (built by bot/ from the environment)."""

    default_timezone: str = "UTC"
    backfill_lookback_days: int = 30
    sync_interval_seconds: int = 60
    label_interval_seconds: int = 600
    public_base: str = "http://localhost:3000"
    pubsub_verification_token: str | None = None
    # Which Slack workspaces this deployment serves (SPEC §1): the named teams and/or every
    # workspace of one Enterprise Grid org; both empty means "the bot token's workspace".
    allowed_team_ids: frozenset[str] = frozenset()
    allowed_enterprise_id: str | None = None
    multi_workspace: bool = False
    missing_gmail_settings: tuple[str, ...] = ()
    # A mailbox that has not answered a contact view (or the App Home) by then is shown as unavailable.
    mailbox_view_timeout_seconds: float = 5.0
    # Follow-ups count working hours of this day, Monday to Friday (FOLLOWUP_WORKING_HOURS).
    followup_working_hours: str = "09:00-17:00"

    @property
    def label_interval_minutes(self) -> int:
        return max(1, self.label_interval_seconds // 60)


@dataclass(frozen=True)
class SlackIdentity:
    """What Slack's users.info says about a user; plain data so the use cases need no Slack SDK."""

    team_id: str
    user_id: str
    email: str | None = None
    name: str | None = None
    tz: str | None = None
    is_workspace_admin: bool = False  # is_admin / is_owner / is_primary_owner in Slack
    is_bot: bool = False
    known: bool = True  # False when users.info failed: we only know the ids
    email_confirmed: bool = False  # users.info `is_email_confirmed`: Slack checked the person owns the email

    @property
    def verified_email(self) -> str | None:
        """The email that proves who this is (SPEC §1): read from this workspace's users.info and confirmed by
        Slack, of a person (not an app). None: the Slack profile proves nothing."""
        if self.known and self.email_confirmed and not self.is_bot:
            return self.email
        return None


@dataclass(frozen=True)
class ChannelInfo:
    """What conversations.info says about a channel, as the use cases need it."""

    id: str
    name: str
    is_private: bool
    is_archived: bool = False
    is_direct: bool = False  # an IM or group DM
    bot_is_member: bool = False
    # Slack Connect: shared with another organisation, or invited to be (`is_ext_shared`, `is_pending_ext_shared`).
    is_ext_shared: bool = False
    # The other workspaces (or Grid orgs) it is shared with (`shared_team_ids`, `pending_shared`), its own left out.
    shared_with: tuple[str, ...] = ()


class ChannelNotFound(DomainError):
    """The channel does not exist or the bot cannot see it."""


class UsergroupNotFound(DomainError):
    """The user group does not exist in that workspace, is disabled, or the bot may not read user groups."""


class SlackDirectory(Protocol):
    """Slack, read-only: who a user is and what a channel is. Implemented in bot/ (cached)."""

    def user(self, team_id: str, user_id: str) -> SlackIdentity: ...

    def cached_user(self, team_id: str, user_id: str) -> SlackIdentity | None:
        """What users.info said lately, without asking Slack; None when nothing fresh is kept."""

    def refresh_user(self, team_id: str, user_id: str) -> None:
        """Ask users.info in the background, so that `cached_user` knows next time."""

    def channel(self, team_id: str, channel_id: str) -> ChannelInfo:
        """Raises ChannelNotFound when the bot cannot see it."""

    def find_channel(self, team_id: str, name: str) -> str | None:
        """The id of a channel by its name, or None."""

    def channel_members(self, team_id: str, channel_id: str) -> list[str]:
        """Slack user ids of a channel's people, the bot excluded."""

    def usergroup_members(self, team_id: str, usergroup_id: str) -> list[str]:
        """Slack user ids of a user group's members (usergroups.users.list). Raises UsergroupNotFound."""

    def workspace_of_token(self) -> tuple[str | None, str | None]:
        """(team id, enterprise id) of the single-workspace bot token (auth.test), or (None, None)."""

    def clear(self) -> None:
        """Forget everything cached (a workspace's tokens were revoked or the app uninstalled)."""


class SlackInstalls(Protocol):
    """Which workspaces installed the app and their tokens (bot/'s SlackClients, on slack_sdk's installation
    store): what Slack's lifecycle events make us forget. With one configured token there is nothing to forget."""

    def forget_revoked_tokens(self, enterprise_id: str | None, team_id: str | None, *, bot: bool,
                              user_ids: list[str]) -> bool:
        """Delete what Slack revoked; False when tokens are configured rather than stored."""

    def forget_workspace(self, enterprise_id: str | None, team_id: str | None) -> bool:
        """Delete every token of an uninstalled workspace; False when tokens are configured rather than stored."""


class JobsPort(Protocol):
    """The scheduler (bot/jobs.py), as the use cases, the web routes and the loopback stack call it. Optional:
    tests and the CLI run without one."""

    owner: str  # this replica's name on the leases it holds

    def request_sync(self, account_id: int) -> bool:
        """Sync a mailbox now (a rep asked, or it was just connected); False when it is already running."""

    def mailbox_connected(self, account: Any) -> None: ...

    def push_received(self, envelope: Any) -> str:
        """A Gmail Pub/Sub push: record it and wake the mailbox's sync; returns the outcome for the metric."""

    def health(self) -> dict[str, Any]: ...

    def requested_in_flight(self) -> int: ...

    def wait_for_requested(self, timeout: float = 30.0) -> None: ...

    def run_once(self, job: Any, account_email: str | None = None) -> list[Any]: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class GmailNotConfigured(DomainError):
    pass


@dataclass
class Services:
    """The running app's building blocks, assembled once by bot/ and handed to every surface."""

    config: Config
    engine: Engine
    rules: StageRules
    labels: LabelNames
    directory: SlackDirectory | None = None
    google: GoogleConfig | None = None
    cipher: TokenCipher | None = None
    gmail: GmailService | None = None
    consent: GoogleConsent | None = None
    sync_config: SyncConfig = field(default_factory=SyncConfig)
    notifier: Notifier | None = None
    jobs: JobsPort | None = None
    zoho: ZohoConfig | None = None  # the Zoho CRM sync, when configured
    slack: SlackInstalls | None = None
    # The threads that read the rep's mailboxes for a contact view (usecases/fanout.py starts it on first use).
    mailbox_pool: FairPool | None = None

    def require_gmail(self) -> tuple[GoogleConfig, TokenCipher, GmailService, GoogleConsent]:
        """The Gmail building blocks, or a clear refusal naming the missing settings."""
        if self.google is None or self.cipher is None or self.gmail is None or self.consent is None:
            missing = self.config.missing_gmail_settings
            raise GmailNotConfigured(
                "Gmail is not set up on this MailMagnet server yet"
                + (f" (missing {', '.join(missing)})" if missing else "") + ". Ask your admin."
            )
        return self.google, self.cipher, self.gmail, self.consent

    def mailbox_client(self, account) -> MailboxClient:
        """A Gmail client for one rep's mailbox (on this thread's connection)."""
        google, cipher, gmail, _ = self.require_gmail()
        return gmail.mailbox(load_credentials(cipher, account, google))

    def request_sync(self, account_id: int) -> None:
        if self.jobs is not None:
            self.jobs.request_sync(account_id)

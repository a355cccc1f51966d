"""A Gmail mailbox on the emulator, connected and encrypted as the product stores it, and a subscriber that records
what the sync pipeline hands it."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from cryptography.fernet import Fernet

from crm_store.categories import LabelNames, StageRules
from crm_store.db import insert_once, session_scope
from crm_store.mailboxes import set_magnet
from crm_store.models import GmailAccount, MailboxAlias
from crm_store.users import get_or_create_user, link_slack_user, set_permissions
from gmail.client import GmailService
from gmail.config import GoogleConfig, RetryPolicy, SyncConfig
from gmail.oauth import GoogleConsent
from gmail.sync import MailboxSync
from gmail.tokens import TokenCipher
from sandbox.gmail_emulator import GmailEmulator
from testsupport.consent import consent_redirect, query_of
from usecases.context import Config, Services
from usecases.mailbox import finish_connect


CLIENT_ID = "gmail-tests.apps.googleusercontent.com"
CLIENT_SECRET = "gmail-tests-secret"
TEAM = "T1"


class RecordingSubscriber:
    """Remembers what the pipeline handed over, in both steps."""

    def __init__(self):
        self.recorded: list[tuple[str, bool]] = []
        self.delivered: list[str] = []

    def record(self, connection, batch):
        self.recorded.extend((m.gmail_id, m.gmail_id in batch.alertable_ids) for m in batch.messages)

    def deliver(self, batch, mailbox):
        self.delivered.extend(m.gmail_id for m in batch.messages)

    @property
    def ids(self) -> list[str]:
        return [gmail_id for gmail_id, _ in self.recorded]


@dataclass
class GmailEnv:
    emu: GmailEmulator
    engine: object
    config: GoogleConfig
    cipher: TokenCipher
    service: GmailService
    consent: GoogleConsent
    key: str = ""
    revoked: list = field(default_factory=list)

    def consent_redirect(self, slack_user: str, address: str) -> dict[str, str]:
        """The rep clicks Authenticate and allows access: the query Google sends to our callback."""
        return query_of(consent_redirect(self.emu, self.consent.authorization_url(TEAM, slack_user), address))

    @property
    def services(self) -> Services:
        """The use cases' building blocks, without Slack (the workspace is allowed by id)."""
        return Services(config=Config(allowed_team_ids=frozenset({TEAM})), engine=self.engine, rules=StageRules(),
                        labels=LabelNames(), google=self.config, cipher=self.cipher, gmail=self.service,
                        consent=self.consent)

    def add_crm_user(self, slack_user: str, email: str, *, mail: bool = True, allow: str | None = None) -> int:
        """A CRM user linked to a Slack user; `allow`: a Gmail address an admin allowed them to connect."""
        with session_scope(self.engine) as session:
            user = get_or_create_user(session, email)
            set_permissions(session, user, mail_integration=mail)
            link_slack_user(session, user, team_id=TEAM, slack_user_id=slack_user)
            if allow:
                insert_once(session, MailboxAlias, address=allow, crm_user_id=user.id, allowed_by="test")
            return user.id

    def finish(self, query: dict[str, str]):
        return finish_connect(self.services, state=query.get("state"), code=query.get("code"),
                              error=query.get("error"))

    def connect(self, address: str = "rep@gmail.example", slack_user: str = "U1", *, magnet: bool = True) -> int:
        self.emu.add_user(address)
        self.add_crm_user(slack_user, f"{slack_user.lower()}@crm.example", allow=address)
        query = self.consent_redirect(slack_user, address)
        outcome = self.finish(query)
        if magnet:
            with session_scope(self.engine) as session:
                set_magnet(session, session.get(GmailAccount, outcome.account.id), True)
        return outcome.account.id

    def pipeline(self, *subscribers, lookback_days: int = 30) -> MailboxSync:
        return MailboxSync(self.engine, self.service, self.cipher, self.config,
                           SyncConfig(lookback_days=lookback_days), StageRules(), subscribers,
                           on_revoked=lambda account, reason: self.revoked.append((account.id, reason)))

    def poll_targets(self, prefix: str, count: int) -> list:
        """`count` connected mailboxes ({prefix}0@gmail.example, …) as the polling sweep's targets."""
        from gmail.accounts import load_credentials
        from gmail.sweep import PollTarget

        targets = []
        for n in range(count):
            address = f"{prefix}{n}@gmail.example"
            account_id = self.connect(address, slack_user=f"U{n}{prefix.upper()}")
            credentials = load_credentials(self.cipher, self.account(account_id), self.config)
            targets.append(PollTarget(account_id, str(self.emu.history_id(address)), credentials))
        return targets

    def account(self, account_id: int) -> GmailAccount | None:
        with session_scope(self.engine) as session:
            account = session.get(GmailAccount, account_id)
            if account is not None:
                session.expunge(account)
            return account


def google_config(emu: GmailEmulator, **overrides) -> GoogleConfig:
    values = dict(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, auth_uri=emu.auth_uri, token_uri=emu.token_uri,
                  revoke_uri=emu.revoke_uri, api_url=emu.url,
                  redirect_uri="http://127.0.0.1:9/gmail/oauth/callback", timeout_seconds=5,
                  retry=RetryPolicy(attempts=8, base_seconds=0.005, max_seconds=0.05))
    values.update(overrides)
    return GoogleConfig(**values)


@pytest.fixture
def gmail_env(engine):
    emu = GmailEmulator().start()
    emu.register_client(CLIENT_ID, CLIENT_SECRET)
    config = google_config(emu)
    key = Fernet.generate_key().decode()
    env = GmailEnv(emu, engine, config, TokenCipher([key]), GmailService(config), GoogleConsent(config, engine),
                   key=key)
    yield env
    emu.stop()

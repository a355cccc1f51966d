"""The whole product on loopback: Gmail + Google OAuth emulator, Slack emulator, the real bot server.

Used by the tests, the benchmarks and the demo (dev-only: the runtime wheel ships none of testsupport/).
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet

from bot.server import BotServer
from bot.settings import Settings
from sqlmodel import select

from crm_store.db import insert_once, session_scope
from crm_store.mailboxes import set_labels, set_magnet
from crm_store.models import GmailAccount, MailboxAlias
from crm_store.users import get_or_create_user, link_slack_user, set_permissions
from sandbox.gmail_emulator import GmailEmulator
from sandbox.slack_emulator import SlackDriver, SlackEmulator, SocketModeDriver
from testsupport.consent import consent_redirect, http_get, query_of  # noqa: F401 (re-exported)
from testsupport.pool_holds import NestedCheckouts

SIGNING_SECRET = "test-signing-secret"
GOOGLE_CLIENT_ID = "mailmagnet-test.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "test-google-secret"
TEAM = "T0001"
REP = "U100REP"
REP_EMAIL = "rep@crm.example"
REP_GMAIL = "rep@gmail.example"
METRICS_TOKEN = "test-metrics-token-0123456789"
# The test suite sets this (tests/conftest.py): a stack's stop then fails when a thread held two pooled connections
# at once (testsupport/pool_holds.py). The demo and the benchmarks leave it off.
WATCH_POOL_HOLDS = False
# The authenticated Pub/Sub push subscription's service account (the Gmail emulator signs its OIDC tokens).
PUSH_SERVICE_ACCOUNT = "gmail-push@mailmagnet-test.iam.gserviceaccount.com"


@dataclass
class Stack:
    gmail: GmailEmulator
    slack: SlackEmulator
    server: BotServer
    driver: SlackDriver
    settings: Settings
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def services(self):
        return self.server.services

    @property
    def engine(self):
        return self.server.services.engine

    def add_rep(self, user_id: str = REP, email: str = REP_EMAIL, *, gmail: str | None = REP_GMAIL,
                mail_integration: bool = True, admin: bool = False, tz: str = "UTC", slack_admin: bool = False,
                team: str = TEAM):
        """A Slack user and its CRM user (linked by email), with a Google account the rep may connect (as
        `/gmail admin allow` would allow it)."""
        self.slack.add_user(team, user_id, email=email, real_name=email.split("@")[0].title(), tz=tz,
                            is_admin=slack_admin)
        with session_scope(self.engine) as session:
            user = get_or_create_user(session, email)
            set_permissions(session, user, mail_integration=mail_integration, is_admin=admin)
            link_slack_user(session, user, team_id=team, slack_user_id=user_id, timezone=tz)
            if gmail:
                insert_once(session, MailboxAlias, address=gmail.lower(), crm_user_id=user.id, allowed_by="test")
        if gmail:
            self.gmail.add_user(gmail)
        return user_id

    def follow_consent(self, authorize_url: str, as_user: str = REP_GMAIL, scopes=None) -> tuple[int, str]:
        """What the rep's browser does: Google's consent page, then our callback."""
        status, _, body = http_get(consent_redirect(self.gmail, authorize_url, as_user, scopes))
        return status, body

    def connect(self, user_id: str = REP, gmail: str = REP_GMAIL) -> str:
        """Run /gmail connect end to end; returns the connected address."""
        response = self.driver.slash_command(user_id, "/gmail", "connect")
        post = self.slack.wait_for(lambda: next((p for p in self.slack.response_url_posts(response.response_url)
                                                 if p.get("blocks")), None))
        status, body = self.follow_consent(authorize_url_in(post), gmail)
        assert status == 200, body
        return gmail

    def account_id(self, gmail: str = REP_GMAIL) -> int:
        with session_scope(self.engine) as session:
            return session.exec(select(GmailAccount.id).where(GmailAccount.email_address == gmail)).one()

    def update_mailbox(self, gmail: str = REP_GMAIL, **fields) -> None:
        with session_scope(self.engine) as session:
            account = session.exec(select(GmailAccount).where(GmailAccount.email_address == gmail)).one()
            if fields.pop("magnet", False):
                set_magnet(session, account, True)
            if fields.pop("labels", False):
                set_labels(session, account, True)
            for key, value in fields.items():
                setattr(account, key, value)
            session.add(account)

    def connect_with_magnet(self, user_id: str = REP, gmail: str = REP_GMAIL, **fields) -> int:
        """Connected, MailMagnet on, first sync done (the cursor is "now")."""
        self.connect(user_id, gmail)
        self.update_mailbox(gmail, magnet=True, **fields)
        self.run("sync", gmail)
        return self.account_id(gmail)

    def connect_with_push(self, user_id: str = REP, gmail: str = REP_GMAIL) -> int:
        """Connected, MailMagnet on, and Gmail's watch in place (the scheduler must be running)."""
        self.connect(user_id, gmail)
        self.update_mailbox(gmail, magnet=True)
        self.services.jobs.request_sync(self.account_id(gmail))
        self.slack.wait_for(lambda: self.gmail.watch_state(gmail), timeout=10)
        self.services.jobs.wait_for_requested()  # the sync that made the watch has recorded it too
        return self.account_id(gmail)

    def command(self, user_id: str, text: str, command: str = "/gmail") -> dict:
        """Send a slash command and wait for its answer (its first response_url post); also waits for
        any mailbox sync the command started."""
        response = self.driver.slash_command(user_id, command, text)
        post = self.slack.wait_for(lambda: next(iter(self.slack.response_url_posts(response.response_url)), None),
                                   timeout=15)
        if self.services.jobs is not None:
            self.services.jobs.wait_for_requested()
        return post

    def run(self, job: str = "sync", gmail: str | None = None):
        from crm_store.leases import Job

        return self.services.jobs.run_once(Job(job), gmail)

    def import_crm(self, contacts: str, deals: str | None = None) -> None:
        import io

        from crm_store.csv_import import import_contacts, import_deals

        import_contacts(self.engine, io.StringIO(contacts))
        if deals:
            import_deals(self.engine, io.StringIO(deals))

    def mail(self, sender: str, subject: str = "Hello", gmail: str = REP_GMAIL, **kwargs) -> str:
        return self.gmail.insert_message(gmail, sender=sender, to=gmail, subject=subject,
                                         body=kwargs.pop("body", f"Body of {subject}"), **kwargs)

    @property
    def push_url(self) -> str:
        return f"{self.server.url}/gmail/push"

    def subscribe_push(self, topic: str) -> str:
        """Pub/Sub's push subscription to /gmail/push as the stack's settings expect it: authenticated (OIDC)
        unless the stack was started with PUBSUB_VERIFICATION_TOKEN, the fallback."""
        if self.settings.push_oidc:
            return self.gmail.create_push_subscription(topic, self.push_url,
                                                       service_account=self.settings.pubsub_push_service_account,
                                                       audience=self.settings.pubsub_push_audience)
        return self.gmail.create_push_subscription(topic, self.push_url,
                                                   verification_token=self.settings.pubsub_verification_token)

    def scrape(self) -> str:
        """/metrics as Prometheus reads it (the bearer token on the public port)."""
        import urllib.request

        request = urllib.request.Request(f"{self.server.url}/metrics",
                                         headers={"Authorization": f"Bearer {self.settings.metrics_token}"})
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.read().decode()

    def stop(self) -> None:
        if self.server.socket_mode:
            # Hang up from Slack's side first: slack_sdk's close() otherwise waits out its blocked recv;
            # without the token it cannot reconnect in between.
            for token in self.slack.socket_mode.app_tokens():
                self.slack.socket_mode.revoke_app_token(token)
            self.slack.socket_mode.close(wait=5)
        self.server.stop()
        self.driver_close()
        self.slack.stop()
        self.gmail.stop()
        if (pool_holds := self.extra.get("pool_holds")) is not None:
            pool_holds.check()  # no thread held two pooled connections at once (testsupport/pool_holds.py)

    def driver_close(self) -> None:
        for driver in [self.driver, *self.extra.get("drivers", {}).values()]:
            close = getattr(driver, "close", None)
            if close:
                close()

    # -- several workspaces (multi-workspace mode) ----------------------------------------------------

    def install(self, team_id: str) -> None:
        """The workspace's installation in the store, as the OAuth flow leaves it (its own bot token)."""
        from slack_sdk.oauth.installation_store import Installation

        if team_id not in self.slack.teams:
            self.slack.add_team(team_id, name=f"Workspace {team_id}")
        team = self.slack.team(team_id)
        self.services.slack.installation_store.save(Installation(
            app_id=self.slack.app_id, team_id=team_id, bot_token=team.bot_token, bot_id=team.bot_id,
            bot_user_id=team.bot_user_id, bot_scopes="commands,chat:write,users:read,users:read.email",
            user_id="U0INSTALL"))

    def driver_for(self, team_id: str) -> SlackDriver:
        """Signed requests from another workspace's users."""
        if team_id == self.driver.team_id:
            return self.driver
        drivers = self.extra.setdefault("drivers", {})
        if team_id not in drivers:
            drivers[team_id] = SlackDriver(f"{self.server.url}/slack/events", SIGNING_SECRET, emulator=self.slack,
                                           team_id=team_id, deliver_lifecycle_events=False)
        return drivers[team_id]


def authorize_url_in(post: dict) -> str:
    for block in post.get("blocks") or []:
        for element in block.get("elements", []) or []:
            if element.get("url"):
                return element["url"]
    raise AssertionError(f"no authenticate button in {post}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SOCKET_MODE_APP_TOKEN = "xapp-1-A0MAILMAGNT-1-emulated"


OTHER_TEAM = "T0002"
OUTSIDER_TEAM = "T0666"
SLACK_CLIENT_ID, SLACK_CLIENT_SECRET = "1111.2222", "oauth-secret"


def start_org_stack(database_url: str, **overrides) -> Stack:
    """One organisation with two Slack workspaces (TEAM and OTHER_TEAM, both installed), in multi-workspace
    mode; OUTSIDER_TEAM is a workspace of somebody else that has the app installed too."""
    stack = start_stack(database_url, slack_client_id=SLACK_CLIENT_ID, slack_client_secret=SLACK_CLIENT_SECRET,
                        slack_bot_token=None, slack_allowed_team_ids=f"{TEAM},{OTHER_TEAM}", **overrides)
    stack.slack.register_oauth_app(SLACK_CLIENT_ID, SLACK_CLIENT_SECRET)
    for team_id in (TEAM, OTHER_TEAM, OUTSIDER_TEAM):
        stack.install(team_id)
    return stack


TEST_DB_POOL_SIZE = 5


def start_stack(database_url: str, *, scheduler: bool = False, start_scheduler: bool = True,
                socket_mode: bool = False, gmail_message_ids: str = "hex", **overrides) -> Stack:
    """`socket_mode`: `serve --socket-mode`, with an app-level token instead of the signing secret and a
    SocketModeDriver instead of signed HTTP posts. `gmail_message_ids="urlsafe"`: the Gmail emulator mints ids
    with '-' and '_', as a Gmail-compatible server may."""
    gmail = GmailEmulator(message_ids=gmail_message_ids).start()
    gmail.register_client(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)
    slack = SlackEmulator().start()
    team = slack.default_team()
    if socket_mode:
        slack.register_app_token(SOCKET_MODE_APP_TOKEN, team.id)
        overrides = {"slack_signing_secret": None, "slack_app_token": SOCKET_MODE_APP_TOKEN, **overrides}
    values = dict(
        database_url=database_url,
        slack_bot_token=team.bot_token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=GOOGLE_CLIENT_SECRET,
        google_auth_uri=gmail.auth_uri,
        google_token_uri=gmail.token_uri,
        google_revoke_uri=gmail.revoke_uri,
        gmail_api_url=gmail.url,
        token_encryption_keys=Fernet.generate_key().decode(),
        gmail_retry_base_seconds=0.01,
        gmail_timeout_seconds=5,
    )
    port = free_port()
    if not overrides.get("pubsub_verification_token"):
        # Pushes authenticated as Google does (an OIDC token the Gmail emulator signs); a stack given a
        # verification token uses the query-token fallback instead.
        values.update(pubsub_push_audience=f"http://127.0.0.1:{port}/gmail/push",
                      pubsub_push_service_account=PUSH_SERVICE_ACCOUNT, google_certs_url=gmail.certs_url)
    values["metrics_token"] = METRICS_TOKEN
    # A server fills its PostgreSQL pool at start (crm_store/db.py, `fill_pool`): with the default 20, four test
    # workers' servers alone took 80 of the shared server's 100 connections ("too many clients" in the suite).
    # A small pool with no overflow also shows up a path that holds two connections at once, sooner.
    values["db_pool_size"] = TEST_DB_POOL_SIZE
    values.update(overrides)
    values.setdefault("public_url", f"http://127.0.0.1:{port}")
    settings = Settings(_env_file=None, **values)
    server = BotServer(settings, host="127.0.0.1", port=port, scheduler=scheduler,
                       start_scheduler=start_scheduler, socket_mode=socket_mode).start()
    # Watched from here (`fill_pool` at the start opens every connection of the pool at once, on purpose).
    pool_holds = NestedCheckouts(server.services.engine) if WATCH_POOL_HOLDS else None
    if socket_mode:
        driver = SocketModeDriver(slack, team.id)
    else:
        driver = SlackDriver(f"{server.url}/slack/events", SIGNING_SECRET, emulator=slack, team_id=team.id)
    return Stack(gmail, slack, server, driver, settings, extra={"pool_holds": pool_holds})

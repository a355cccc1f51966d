"""The migrations build exactly the schema the models describe, on both databases."""
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from crm_store import models  # noqa: F401
from crm_store.db import alembic_config

SLACK_TABLES = {"slack_installations", "slack_bots", "slack_oauth_states"}


def _diff(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, SQLModel.metadata)
    return [d for d in diffs if not _is_slack(d)]


def _is_slack(diff) -> bool:
    """slack_sdk's own tables are created from its definitions, not from our models."""
    kind, obj = diff[0], diff[1]
    if kind == "remove_table":
        return obj.name in SLACK_TABLES
    if kind == "remove_index":
        return obj.table.name in SLACK_TABLES
    return False


def test_models_and_migrations_agree(engine):
    assert _diff(engine) == []
    tables = set(sa.inspect(engine).get_table_names())
    assert SLACK_TABLES <= tables


def test_downgrade_and_upgrade_again(database_url, engine):
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert _diff(engine) == []


def test_slack_tables_match_slack_sdks_stores(engine):
    """The migration writes slack_sdk's store tables out; they must still be what the stores expect."""
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    expected = sa.MetaData()
    SQLAlchemyInstallationStore.build_installations_table(expected, "slack_installations")
    SQLAlchemyInstallationStore.build_bots_table(expected, "slack_bots")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(expected, "slack_oauth_states")
    only_slack = lambda name, kind, parents: kind != "table" or name in SLACK_TABLES  # noqa: E731
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": only_slack})
        assert compare_metadata(context, expected) == []


def test_upgrading_drops_the_waiting_alerts_of_revoked_mailboxes(database_url, engine):
    """0010: alerts left waiting in a mailbox revoked before a revoke dropped them are not posted on reconnect."""
    from crm_store.db import session_scope
    from crm_store.models import Alert
    from crm_store.values import AccountStatus, AlertStatus
    from tests.factories import make_contact, make_mailbox

    config = alembic_config(database_url)
    command.downgrade(config, "0009")
    statuses = [AlertStatus.PENDING, AlertStatus.QUEUED_DIGEST, AlertStatus.POSTED]
    with session_scope(engine) as session:
        contact = make_contact(session, "jane@acme.example")
        for n, status in enumerate([AccountStatus.REVOKED, AccountStatus.CONNECTED]):
            account = make_mailbox(session, f"rep{n}@sales.example", slack_user=f"U{n}", status=status)
            for m, alert_status in enumerate(statuses):
                session.add(Alert(account_id=account.id, gmail_id=f"{status.value}-{m}", contact_id=contact.id,
                                  channel="dm", status=alert_status))
    command.upgrade(config, "head")
    with engine.connect() as connection:
        after = dict(connection.execute(sa.text("SELECT gmail_id, status FROM alerts")).all())
    assert after == {"revoked-0": "skipped", "revoked-1": "skipped", "revoked-2": "posted",
                     "connected-0": "pending", "connected-1": "queued_digest", "connected-2": "posted"}

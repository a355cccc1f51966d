"""Flags and statuses are enums in the store: a read gives the enum's member, a write of anything else fails before
it reaches the database, and the columns stay the VARCHARs the migrations made (test_migrations.py)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError
from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import AccountStatus, GmailAccount, OrgSettings, Sharing, SharingDepth, SharingPolicy
from crm_store.users import get_or_create_user


def add_mailbox(engine) -> int:
    with session_scope(engine) as session:
        user = get_or_create_user(session, "rep@sales.example")
        session.flush()
        account = GmailAccount(crm_user_id=user.id, slack_team_id="T1", slack_user_id="U1",
                               email_address="rep@gmail.example")
        session.add(account)
        session.flush()
        return account.id


def test_a_status_reads_back_as_its_enum_and_is_stored_as_its_value(engine):
    account_id = add_mailbox(engine)
    with session_scope(engine) as session:
        account = session.get(GmailAccount, account_id)
        assert (account.status, account.sharing, account.sharing_depth) == (
            AccountStatus.CONNECTED, Sharing.PRIVATE, SharingDepth.METADATA)
        assert type(account.status) is AccountStatus
        account.sharing = "public"  # a value as text is taken and read back as the member
        session.add(OrgSettings(team_id="T1"))
    with session_scope(engine) as session:
        assert type(session.get(GmailAccount, account_id).sharing) is Sharing
        assert session.get(OrgSettings, "T1").sharing_policy is SharingPolicy.CHOICE
        # Queries compare with members or their values alike.
        assert session.exec(select(GmailAccount.id).where(GmailAccount.status == AccountStatus.CONNECTED)).all() \
            == session.exec(select(GmailAccount.id).where(GmailAccount.status == "connected")).all() == [account_id]
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT status, sharing FROM gmail_accounts")).one()
    assert tuple(stored) == ("connected", "public") and type(stored[0]) is str


def test_a_value_outside_the_enum_is_never_written(engine):
    account_id = add_mailbox(engine)
    with pytest.raises(StatementError) as refused, session_scope(engine) as session:
        session.get(GmailAccount, account_id).status = "paused"
    assert isinstance(refused.value.orig, ValueError)
    with session_scope(engine) as session:
        assert session.get(GmailAccount, account_id).status is AccountStatus.CONNECTED


def test_where_crm_data_changed_is_stored_as_enums_and_nothing_else_is_written(engine):
    from crm_store.models import CrmDataChange
    from crm_store.sources import ChangedKind, ChangeSource, crm_data_status, record_change

    with engine.begin() as connection:
        record_change(connection, ChangeSource.ZOHO, "deals", created=1, updated=0, deleted=0)
    for source, kind in (("ftp", "deals"), ("csv", "invoices")):
        with pytest.raises(StatementError) as refused, engine.begin() as connection:
            record_change(connection, source, kind, created=1, updated=0, deleted=0)
        assert isinstance(refused.value.orig, ValueError)
    change = crm_data_status(engine).last_change
    assert (change.source, change.kind) == (ChangeSource.ZOHO, ChangedKind.DEALS)
    assert type(change.source) is ChangeSource and change.source_name == "Zoho CRM sync"
    with session_scope(engine) as session:
        assert len(session.exec(select(CrmDataChange)).all()) == 1
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT source, kind FROM crm_data_changes")).one()
    assert tuple(stored) == ("zoho", "deals") and type(stored[0]) is str

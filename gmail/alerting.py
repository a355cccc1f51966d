"""The look just before a post: does the mailbox still take alerts? (MailMagnet looks before each post of a run.)"""
from __future__ import annotations

import sqlalchemy as sa

from crm_store.leases import LeaseLost, lease_held, run_owner
from crm_store.models import AccountStatus, GmailAccount, utcnow

# Status, MailMagnet on, and the lease (`leases.lease_held`) in one statement, the row locked to the commit as by
# `leases.fence`.
_A = GmailAccount.__table__
_ALERTING = sa.select(_A.c.status, _A.c.magnet_enabled, lease_held().label("held")).where(
    _A.c.id == sa.bindparam("b_id")).with_for_update()


def alerting(connection, account_id: int) -> bool:
    """In the caller's transaction: the mailbox still takes alerts (connected, MailMagnet on; switching it off
    skipped its waiting alerts). In a leased run, raises LeaseLost when the lease is no longer the run's."""
    owner = run_owner()
    row = connection.execute(_ALERTING, {"b_id": account_id, "b_lease_owner": owner, "b_lease_now": utcnow()}).first()
    if owner is not None and (row is None or not row.held):
        raise LeaseLost(f"mailbox {account_id}: the lease is no longer {owner}'s; nothing posted")
    return row is not None and row.status == AccountStatus.CONNECTED.value and bool(row.magnet_enabled)

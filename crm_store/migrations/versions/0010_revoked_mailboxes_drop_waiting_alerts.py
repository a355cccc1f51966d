"""alerts still waiting in mailboxes whose Google access is revoked are dropped (skipped), as a revoke now does
(`gmail.accounts.mark_revoked`): without this, a rep whose mailbox was revoked before the change would get them
whenever they reconnect, maybe days later, about mail from before the revoke. Data only; the schema is unchanged.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE alerts SET status = 'skipped' WHERE status IN ('pending', 'queued_digest') "
        "AND account_id IN (SELECT id FROM gmail_accounts WHERE status = 'revoked')"))


def downgrade() -> None:
    pass  # which alerts were waiting is not kept: they stay skipped

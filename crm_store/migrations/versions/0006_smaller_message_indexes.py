"""smaller mailbox_messages indexes: the account index went (both composite indexes start with the account), and
the index of the needs_filing flag, which held every row, became a partial index of the rows still to file

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

TO_FILE = sa.column('needs_filing', sa.Boolean).is_(True)


def upgrade() -> None:
    with op.batch_alter_table('mailbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_mailbox_messages_account_id')
        batch_op.drop_index('ix_mailbox_messages_needs_filing')
        batch_op.create_index('ix_mailbox_messages_to_file', ['account_id'], unique=False,
                              sqlite_where=TO_FILE, postgresql_where=TO_FILE)


def downgrade() -> None:
    with op.batch_alter_table('mailbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_mailbox_messages_to_file')
        batch_op.create_index('ix_mailbox_messages_needs_filing', ['needs_filing'], unique=False)
        batch_op.create_index('ix_mailbox_messages_account_id', ['account_id'], unique=False)

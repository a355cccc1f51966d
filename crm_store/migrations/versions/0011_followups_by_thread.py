"""follow-ups looked up by (mailbox, thread): the sync's look-ups of a thread's open row scanned every open row of
the mailbox

Revision ID: 0011
Revises: 0010
"""
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.create_index('ix_followups_account_thread', ['account_id', 'thread_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_index('ix_followups_account_thread')

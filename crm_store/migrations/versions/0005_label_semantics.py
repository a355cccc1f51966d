"""label semantics: Inbox state of stored messages, label check time, watch backoff, retention index

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mailbox_messages', schema=None) as batch_op:
        # NULL for the rows already there: unknown, so the label run asks Gmail before filing one.
        batch_op.add_column(sa.Column('in_inbox', sa.Boolean(), nullable=True))
        batch_op.create_index('ix_mailbox_messages_received_at', ['received_at'], unique=False)
    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label_ids_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('watch_failures', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('watch_retry_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.drop_column('watch_retry_at')
        batch_op.drop_column('watch_failures')
        batch_op.drop_column('label_ids_checked_at')
    with op.batch_alter_table('mailbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_mailbox_messages_received_at')
        batch_op.drop_column('in_inbox')

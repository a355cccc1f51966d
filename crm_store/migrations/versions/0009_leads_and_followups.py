"""leads and follow-ups (SPEC §3): a contact row may be a lead, with its lead status; customer threads waiting
for the rep's reply (thread id, contact, times — no content), each rep's follow-up setting, and when each
workspace's weekly response-time digest was last sent

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_lead', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('lead_status', sa.String(length=100), nullable=True))
    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('followups_enabled', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('followup_hours', sa.Integer(), nullable=False, server_default=sa.text('24')))
    with op.batch_alter_table('org_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response_digest_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'followups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('thread_id', sa.String(length=128), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('gmail_id', sa.String(length=64), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('nudged_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('snoozed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['gmail_accounts.id']),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.create_index('ix_followups_account_due', ['account_id', 'answered_at', 'due_at'], unique=False)
        batch_op.create_index('ix_followups_contact_id', ['contact_id'], unique=False)


def downgrade() -> None:
    op.drop_table('followups')
    with op.batch_alter_table('org_settings', schema=None) as batch_op:
        batch_op.drop_column('response_digest_at')
    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.drop_column('followup_hours')
        batch_op.drop_column('followups_enabled')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('lead_status')
        batch_op.drop_column('is_lead')

"""CRM ingest: job leases, ingest API keys, where CRM data last changed from, CRM sync cursors

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('key_prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash'),
    sa.UniqueConstraint('name')
    )
    op.create_table('crm_data_changes',
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('source', 'kind')
    )
    with op.batch_alter_table('crm_data_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_data_changes_changed_at'), ['changed_at'], unique=False)

    op.create_table('crm_sync_cursors',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('skip', sa.String(), nullable=True),
    sa.Column('page_token', sa.String(length=500), nullable=True),
    sa.Column('page_token_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('page_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('crm_sync_cursors')
    with op.batch_alter_table('crm_data_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_data_changes_changed_at'))

    op.drop_table('crm_data_changes')
    op.drop_table('api_keys')
    op.drop_table('job_leases')

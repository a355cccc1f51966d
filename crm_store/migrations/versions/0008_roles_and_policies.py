"""Roles and managers of CRM users, sharing policies per role and per user, managers' visibility, the admin
overview's mailbox facts (failing since, admins told, quota units today), the grant's Connect invitation

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('role_sharing_policies',
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('policy', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('role')
    )
    with op.batch_alter_table('crm_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('manager_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sharing_policy', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('invited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_crm_users_role'), ['role'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_users_manager_id'), ['manager_id'], unique=False)
        batch_op.create_foreign_key('fk_crm_users_manager_id', 'crm_users', ['manager_id'], ['id'])
    with op.batch_alter_table('org_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('managers_see', sa.String(length=16), nullable=False, server_default='none'))
    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('admins_notified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('quota_day', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('quota_units', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.drop_column('quota_units')
        batch_op.drop_column('quota_day')
        batch_op.drop_column('admins_notified_at')
        batch_op.drop_column('failing_since')
    with op.batch_alter_table('org_settings', schema=None) as batch_op:
        batch_op.drop_column('managers_see')
    with op.batch_alter_table('crm_users', schema=None) as batch_op:
        batch_op.drop_constraint('fk_crm_users_manager_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_crm_users_manager_id'))
        batch_op.drop_index(batch_op.f('ix_crm_users_role'))
        batch_op.drop_column('invited_at')
        batch_op.drop_column('sharing_policy')
        batch_op.drop_column('manager_id')
        batch_op.drop_column('role')
    op.drop_table('role_sharing_policies')

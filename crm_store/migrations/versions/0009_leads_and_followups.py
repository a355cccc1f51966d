"""leads (SPEC §3): a contact row may be a lead, with its lead status

Revision ID: 0009
Revises: 0007 (the lead re-chains it after 0008)
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_lead', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('lead_status', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('lead_status')
        batch_op.drop_column('is_lead')

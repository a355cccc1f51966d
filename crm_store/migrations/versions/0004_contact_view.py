"""contact view: where "Show more" continues in each mailbox (Gmail page tokens, no content)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contact_view_pages',
    sa.Column('view_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('slack_team_id', sa.String(length=32), nullable=False),
    sa.Column('slack_user_id', sa.String(length=32), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('surface', sa.String(length=32), nullable=False),
    sa.Column('page_token', sa.String(length=512), nullable=True),
    sa.Column('page_offset', sa.Integer(), nullable=False),
    sa.Column('shown', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['gmail_accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('view_id', 'account_id')
    )
    with op.batch_alter_table('contact_view_pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_view_pages_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('contact_view_pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_view_pages_created_at'))
    op.drop_table('contact_view_pages')

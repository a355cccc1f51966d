"""audit rows name the Slack user (and workspace) who saw the email, as well as the CRM user (SPEC §1): the CRM
user's link can move later, the row must still say who looked. Rows written before stay empty there.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('viewer_slack_team_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('viewer_slack_user_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('viewer_slack_user_id')
        batch_op.drop_column('viewer_slack_team_id')

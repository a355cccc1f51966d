"""trust boundaries: mailbox identity, alias addresses, audit per email and surface

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('crm_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secondary_email', sa.String(length=320), nullable=True))
        batch_op.create_index(batch_op.f('ix_crm_users_secondary_email'), ['secondary_email'], unique=False)

    op.create_table('mailbox_aliases',
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('crm_user_id', sa.Integer(), nullable=False),
    sa.Column('allowed_by', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['crm_user_id'], ['crm_users.id'], ),
    sa.PrimaryKeyConstraint('address')
    )
    with op.batch_alter_table('mailbox_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mailbox_aliases_crm_user_id'), ['crm_user_id'], unique=False)

    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alert_fallback_notice', sa.String(length=32), nullable=True))
        batch_op.drop_index(batch_op.f('ix_gmail_accounts_email_address'))
        batch_op.create_unique_constraint('uq_gmail_accounts_email_address', ['email_address'])

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gmail_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('surface', sa.String(length=32), nullable=False,
                                      server_default='channel_alert'))
        batch_op.add_column(sa.Column('depth', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('channel_id', sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint('uq_audit_log_view', ['viewer_user_id', 'account_id', 'gmail_id', 'surface'])
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('surface', server_default=None)
    # Click keys used to quote the button's value (a Gmail message id); they are hashes from now on.
    op.execute("DELETE FROM processed_slack_requests WHERE key LIKE 'click:%'")


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_log_view', type_='unique')
        batch_op.drop_column('channel_id')
        batch_op.drop_column('depth')
        batch_op.drop_column('surface')
        batch_op.drop_column('gmail_id')

    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_gmail_accounts_email_address', type_='unique')
        batch_op.create_index(batch_op.f('ix_gmail_accounts_email_address'), ['email_address'], unique=False)
        batch_op.drop_column('alert_fallback_notice')

    with op.batch_alter_table('mailbox_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mailbox_aliases_crm_user_id'))
    op.drop_table('mailbox_aliases')

    with op.batch_alter_table('crm_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_users_secondary_email'))
        batch_op.drop_column('secondary_email')

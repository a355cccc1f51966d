"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # slack_sdk's installation and OAuth state stores (SQLAlchemyInstallationStore,
    # SQLAlchemyOAuthStateStore), as their tables were defined when this migration was written.
    op.create_table('slack_bots',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=True),
    sa.Column('enterprise_name', sa.String(length=200), nullable=True),
    sa.Column('team_id', sa.String(length=32), nullable=True),
    sa.Column('team_name', sa.String(length=200), nullable=True),
    sa.Column('bot_token', sa.String(length=200), nullable=True),
    sa.Column('bot_id', sa.String(length=32), nullable=True),
    sa.Column('bot_user_id', sa.String(length=32), nullable=True),
    sa.Column('bot_scopes', sa.String(length=1000), nullable=True),
    sa.Column('bot_refresh_token', sa.String(length=200), nullable=True),
    sa.Column('bot_token_expires_at', sa.DateTime(), nullable=True),
    sa.Column('is_enterprise_install', sa.Boolean(), nullable=False),
    sa.Column('installed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('slack_bots_idx', 'slack_bots', ['client_id', 'enterprise_id', 'team_id', 'installed_at'], unique=False)
    op.create_table('slack_installations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('enterprise_id', sa.String(length=32), nullable=True),
    sa.Column('enterprise_name', sa.String(length=200), nullable=True),
    sa.Column('enterprise_url', sa.String(length=200), nullable=True),
    sa.Column('team_id', sa.String(length=32), nullable=True),
    sa.Column('team_name', sa.String(length=200), nullable=True),
    sa.Column('bot_token', sa.String(length=200), nullable=True),
    sa.Column('bot_id', sa.String(length=32), nullable=True),
    sa.Column('bot_user_id', sa.String(length=32), nullable=True),
    sa.Column('bot_scopes', sa.String(length=1000), nullable=True),
    sa.Column('bot_refresh_token', sa.String(length=200), nullable=True),
    sa.Column('bot_token_expires_at', sa.DateTime(), nullable=True),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('user_token', sa.String(length=200), nullable=True),
    sa.Column('user_scopes', sa.String(length=1000), nullable=True),
    sa.Column('user_refresh_token', sa.String(length=200), nullable=True),
    sa.Column('user_token_expires_at', sa.DateTime(), nullable=True),
    sa.Column('incoming_webhook_url', sa.String(length=200), nullable=True),
    sa.Column('incoming_webhook_channel', sa.String(length=200), nullable=True),
    sa.Column('incoming_webhook_channel_id', sa.String(length=200), nullable=True),
    sa.Column('incoming_webhook_configuration_url', sa.String(length=200), nullable=True),
    sa.Column('is_enterprise_install', sa.Boolean(), nullable=False),
    sa.Column('token_type', sa.String(length=32), nullable=True),
    sa.Column('installed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('slack_installations_idx', 'slack_installations', ['client_id', 'enterprise_id', 'team_id', 'user_id', 'installed_at'], unique=False)
    op.create_table('slack_oauth_states',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('state', sa.String(length=200), nullable=False),
    sa.Column('expire_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('gmail_oauth_states',
    sa.Column('state', sa.String(length=128), nullable=False),
    sa.Column('slack_team_id', sa.String(length=32), nullable=False),
    sa.Column('slack_user_id', sa.String(length=32), nullable=False),
    sa.Column('code_verifier', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('state')
    )
    op.create_table('org_settings',
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('sharing_policy', sa.String(length=16), nullable=False),
    sa.Column('default_timezone', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('team_id')
    )
    op.create_table('processed_slack_requests',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('profiles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('mail_integration', sa.Boolean(), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('crm_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('profile_id', sa.Integer(), nullable=False),
    sa.Column('slack_team_id', sa.String(length=32), nullable=True),
    sa.Column('slack_user_id', sa.String(length=32), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email'),
    sa.UniqueConstraint('slack_team_id', 'slack_user_id', name='uq_crm_users_slack')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('viewer_user_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('mailbox_address', sa.String(length=320), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('viewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['viewer_user_id'], ['crm_users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_viewed_at'), ['viewed_at'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('secondary_email', sa.String(length=320), nullable=True),
    sa.Column('first_name', sa.String(length=200), nullable=True),
    sa.Column('last_name', sa.String(length=200), nullable=True),
    sa.Column('company', sa.String(length=300), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['crm_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email'),
    sa.UniqueConstraint('external_id')
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_secondary_email'), ['secondary_email'], unique=False)

    op.create_table('email_shares',
    sa.Column('owner_user_id', sa.Integer(), nullable=False),
    sa.Column('viewer_user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['owner_user_id'], ['crm_users.id'], ),
    sa.ForeignKeyConstraint(['viewer_user_id'], ['crm_users.id'], ),
    sa.PrimaryKeyConstraint('owner_user_id', 'viewer_user_id')
    )
    op.create_table('gmail_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('crm_user_id', sa.Integer(), nullable=False),
    sa.Column('slack_team_id', sa.String(length=32), nullable=False),
    sa.Column('slack_user_id', sa.String(length=32), nullable=False),
    sa.Column('email_address', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('encrypted_credentials', sa.LargeBinary(), nullable=True),
    sa.Column('connected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sharing', sa.String(length=16), nullable=False),
    sa.Column('sharing_depth', sa.String(length=16), nullable=False),
    sa.Column('setup_done', sa.Boolean(), nullable=False),
    sa.Column('magnet_enabled', sa.Boolean(), nullable=False),
    sa.Column('magnet_enabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('alert_channel', sa.String(length=32), nullable=True),
    sa.Column('digest_enabled', sa.Boolean(), nullable=False),
    sa.Column('last_digest_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('quiet_start_minute', sa.Integer(), nullable=True),
    sa.Column('quiet_end_minute', sa.Integer(), nullable=True),
    sa.Column('labels_enabled', sa.Boolean(), nullable=False),
    sa.Column('labels_enabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('backfill_done', sa.Boolean(), nullable=False),
    sa.Column('label_ids', sa.String(), nullable=True),
    sa.Column('last_category_change_id', sa.Integer(), nullable=False),
    sa.Column('last_label_month', sa.String(length=7), nullable=True),
    sa.Column('history_id', sa.String(length=32), nullable=True),
    sa.Column('last_sync_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_sync_error', sa.String(length=500), nullable=True),
    sa.Column('last_label_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('watch_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reconnect_notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_sync_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_label_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sync_requested', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['crm_user_id'], ['crm_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('crm_user_id')
    )
    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gmail_accounts_email_address'), ['email_address'], unique=False)
        batch_op.create_index(batch_op.f('ix_gmail_accounts_lease_expires_at'), ['lease_expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_gmail_accounts_next_sync_at'), ['next_sync_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_gmail_accounts_slack_team_id'), ['slack_team_id'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('gmail_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('slack_ts', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['gmail_accounts.id'], ),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'gmail_id', name='uq_alerts_account_gmail')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_status'), ['status'], unique=False)

    op.create_table('category_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('category_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_category_changes_contact_id'), ['contact_id'], unique=False)

    op.create_table('deals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=100), nullable=False),
    sa.Column('closing_date', sa.Date(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['crm_users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.create_index('ix_deals_contact_closing_stage', ['contact_id', 'closing_date', 'stage'], unique=False)
        batch_op.create_index(batch_op.f('ix_deals_owner_id'), ['owner_id'], unique=False)

    op.create_table('mailbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('gmail_id', sa.String(length=64), nullable=False),
    sa.Column('from_address', sa.String(length=320), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('filed_category', sa.String(length=32), nullable=True),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('needs_filing', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['gmail_accounts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'gmail_id', name='uq_mailbox_messages_account_gmail')
    )
    with op.batch_alter_table('mailbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_mailbox_messages_account_from', ['account_id', 'from_address'], unique=False)
        batch_op.create_index(batch_op.f('ix_mailbox_messages_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mailbox_messages_needs_filing'), ['needs_filing'], unique=False)

    op.create_table('muted_contacts',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['gmail_accounts.id'], ),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ),
    sa.PrimaryKeyConstraint('account_id', 'contact_id')
    )


def downgrade() -> None:
    for table in ("slack_oauth_states", "slack_installations", "slack_bots"):
        op.drop_table(table)
    op.drop_table('muted_contacts')
    with op.batch_alter_table('mailbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mailbox_messages_needs_filing'))
        batch_op.drop_index(batch_op.f('ix_mailbox_messages_account_id'))
        batch_op.drop_index('ix_mailbox_messages_account_from')

    op.drop_table('mailbox_messages')
    with op.batch_alter_table('deals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deals_owner_id'))
        batch_op.drop_index('ix_deals_contact_closing_stage')

    op.drop_table('deals')
    with op.batch_alter_table('category_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_category_changes_contact_id'))

    op.drop_table('category_changes')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_status'))
        batch_op.drop_index(batch_op.f('ix_alerts_account_id'))

    op.drop_table('alerts')
    with op.batch_alter_table('gmail_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gmail_accounts_slack_team_id'))
        batch_op.drop_index(batch_op.f('ix_gmail_accounts_next_sync_at'))
        batch_op.drop_index(batch_op.f('ix_gmail_accounts_lease_expires_at'))
        batch_op.drop_index(batch_op.f('ix_gmail_accounts_email_address'))

    op.drop_table('gmail_accounts')
    op.drop_table('email_shares')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_secondary_email'))
        batch_op.drop_index(batch_op.f('ix_contacts_owner_id'))

    op.drop_table('contacts')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_viewed_at'))

    op.drop_table('audit_log')
    op.drop_table('crm_users')
    op.drop_table('profiles')
    op.drop_table('processed_slack_requests')
    op.drop_table('org_settings')
    op.drop_table('gmail_oauth_states')

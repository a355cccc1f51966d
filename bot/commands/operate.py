"""`serve`, `run-once`, `db upgrade`, `keys rotate`, `manifest`: running and operating a deployment."""
from __future__ import annotations

import json

from bot.commands import common


def cmd_db_upgrade(args) -> int:
    from crm_store.db import upgrade_database

    upgrade_database(common.settings().database_url)
    print("database is up to date")
    return 0


def cmd_serve(args) -> int:
    from bot.server import BotServer
    from bot.slack_app import SlackNotConfigured

    from bot.slack_app import check_slack_settings

    settings = common.settings()
    try:
        check_slack_settings(settings, socket_mode=args.socket_mode)
    except SlackNotConfigured as error:
        raise common.CliError(str(error))
    server = BotServer(settings, port=args.port, socket_mode=args.socket_mode)
    server.serve_forever()
    return 0


def cmd_run_once(args) -> int:
    from bot.jobs import Jobs
    from crm_store.leases import Job
    from gmail.sync import SyncStatus

    services = common.services()
    services.require_gmail()
    jobs = Jobs(services)
    try:
        outcomes = jobs.run_once(Job(args.job), args.account)
    finally:
        jobs.stop()
    if not outcomes:
        raise common.CliError("no connected mailbox" + (f" {args.account}" if args.account else "")
                              + " to run (is it leased by a running `serve`? try again in a minute)")
    failed = 0
    for outcome in outcomes:
        sync = outcome.sync
        line = f"mailbox {outcome.account_id}: {sync.status if sync else 'failed'}"
        if sync and sync.status is SyncStatus.SYNCED:
            line += f", {sync.new_messages} new, {outcome.alerts} alerts"
            if args.job == "labels":
                filed = ", ".join(f"{n} → {label}" for label, n in outcome.filed.items()) or "nothing to file"
                line += f", filed: {filed}, re-filed {outcome.refiled}"
        error = outcome.error or (sync.error if sync else None)
        if error:
            failed += 1
            line += f" ({error})"
        print(line)
    return 1 if failed else 0


def cmd_rotate_keys(args) -> int:
    from gmail.tokens import TokenCipher, TokenKeyError, reencrypt_all

    settings = common.settings()
    try:
        cipher = TokenCipher(settings.encryption_key_list)
        count = reencrypt_all(common.store(), cipher)
        slack_tokens = 0
        if settings.slack_client_id:
            from bot.slack_store import EncryptedInstallationStore

            store = EncryptedInstallationStore(cipher, client_id=settings.slack_client_id, engine=common.store())
            slack_tokens = store.reencrypt_all()
    except TokenKeyError as error:
        raise common.CliError(str(error))
    print(f"re-encrypted {count} stored Google credential(s) and {slack_tokens} Slack token(s) with the first key "
          "of TOKEN_ENCRYPTION_KEYS")
    return 0


def cmd_manifest(args) -> int:
    from bot.manifest import ManifestError, manifest_for

    try:
        manifest = manifest_for(args.public_url or common.settings().public_url)
    except ManifestError as error:
        raise common.CliError(f"{error} (--public-url, else PUBLIC_URL)")
    if args.json:
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
    else:
        import yaml

        print(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=1000), end="")
    return 0

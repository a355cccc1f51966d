"""The `mailmagnet` command line. Every failure prints a one-line reason and exits non-zero."""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_store.errors import DomainError


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit status 1."""



def parse_as_of(value: str | None, tz: str) -> datetime:
    """`--as-of`: a date (noon that day in the zone) or a date-time (naive: in the zone)."""
    if not value:
        return datetime.now(timezone.utc)
    zone = ZoneInfo(tz)
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(12, 0), tzinfo=zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--as-of {value!r} is neither a date (2026-11-30) nor a date-time (2026-11-30T09:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def check_timezone(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"unknown time zone {tz!r} (use an IANA name such as Europe/Paris)")
    return tz


def _refused(error) -> str:
    """A use case's refusal, in the words Slack shows (handlers/blocks/refusals.py): the CLI writes its own text
    for what only an operator reads, and borrows the surface's sentences for the use cases' refusals."""
    from handlers.blocks.refusals import refusal_text

    return refusal_text(error)


def _settings():
    from bot.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as error:
        raise CliError(str(error))


def _store():
    """The engine of the configured database, migrated to the newest schema."""
    from bot.wiring import open_store

    return open_store(_settings())


def cmd_db_upgrade(args) -> int:
    from crm_store.db import upgrade_database

    upgrade_database(_settings().database_url)
    print("database is up to date")
    return 0


# Above this many rows an import draws a progress bar on stderr.
PROGRESS_THRESHOLD = 5000


class ImportProgressBar:
    """A tqdm bar on stderr drawn from an import's progress callback (`crm_store.records.progress`), for
    files of more than `threshold` rows (the first call's total says how many)."""

    def __init__(self, kind: str, threshold: int = PROGRESS_THRESHOLD):
        self.kind, self.threshold = kind, threshold
        self.bar = None
        self.shown: bool | None = None
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.shown is None:
            self.shown = total > self.threshold
        if not self.shown:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="rows", file=sys.stderr, leave=True)
        if stage != self.stage:
            self.stage = stage
            self.bar.reset(total=total)
            self.bar.set_description(f"{self.kind}: {stage}")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_import(args) -> int:
    from crm_store.csv_import import ImportRejected, format_errors, import_contacts, import_deals, import_leads

    importer = {"contacts": import_contacts, "deals": import_deals, "leads": import_leads}[args.kind]
    engine = _store()
    bar = ImportProgressBar(args.kind)
    try:
        report = importer(engine, args.file, skip_invalid=args.skip_invalid, progress=bar)
    except FileNotFoundError:
        raise CliError(f"no such file: {args.file}")
    except ImportRejected as rejected:
        print(format_errors(rejected.report), file=sys.stderr)
        raise CliError(str(rejected))
    finally:
        bar.close()
    print(
        f"{report.kind}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped} skipped"
    )
    if report.errors:
        print(format_errors(report), file=sys.stderr)
    return 0


def _services():
    from bot.services import build_services

    return build_services(_settings())


def cmd_explain(args) -> int:
    from usecases.why import explain

    settings = _settings()
    tz = check_timezone(args.tz or settings.default_timezone)
    at = parse_as_of(args.as_of, tz)
    try:
        answer = explain(_services(), args.sender, at=at, tz=tz, account_email=args.account)
    except DomainError as error:
        raise CliError(_refused(error))
    from handlers.blocks.why import explanation_text, filing_line

    explanation = answer.explanation
    messages = None if answer.messages is None else [filing_line(status) for status in answer.messages]
    if args.json:
        document = {**explanation.to_json(), "reason": explanation_text(explanation)}
        if messages is not None:
            document["messages"] = messages
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print(f"{explanation.label or 'not filed'}: {explanation_text(explanation)}")
        for line in messages or []:
            print(f"  {line}")
    return 0


def cmd_users_list(args) -> int:
    """`mailmagnet users list [--json]`: the admin overview, for the whole organisation."""
    from usecases.overview import overview_for

    overview = overview_for(_services())
    if args.json:
        print(json.dumps([row.as_json() for row in overview.rows], ensure_ascii=False, indent=2))
        return 0
    header = ("EMAIL", "SLACK", "ROLE", "GRANTED", "STATE", "MAILBOX", "LAST SYNC", "UNITS TODAY", "ALERTS",
              "LABELS", "LAST ERROR")
    lines = [header]
    for row in overview.rows:
        since = f" since {row.failing_since:%Y-%m-%d %H:%M}" if row.failing_since else ""
        lines.append((row.email, row.slack_user_id or "-", row.role or "-", "yes" if row.granted else "no",
                      row.state.value, row.mailbox or "-",
                      f"{row.last_sync_at:%Y-%m-%d %H:%M}" if row.last_sync_at else "-", str(row.quota_units_today),
                      "on" if row.alerts_on else "off", "on" if row.labels_on else "off",
                      (row.last_error or "")[:80] + (since if row.last_error else "")))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1])
    return 0


def _grant_csv(args) -> int:
    """`mailmagnet users grant --csv FILE`: every line's CRM user (by `email`) gets Mail Integration; reps linked
    to Slack get one DM with a Connect button."""
    from handlers.blocks.onboarding import grant_report_lines
    from usecases.onboarding import grant_csv

    if args.email or args.admin:
        raise CliError("--csv FILE takes neither an EMAIL nor --admin")
    try:
        with open(args.csv, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except OSError as error:
        raise CliError(f"cannot read {args.csv}: {error.strerror or error}")
    try:
        report = grant_csv(_services(), text)
    except DomainError as error:
        raise CliError(f"{args.csv}: {_refused(error)}")
    for line in grant_report_lines(report):
        print(line)
    return 0


def cmd_users_import(args) -> int:
    """`mailmagnet users import FILE.csv`: roles and managers (columns email, role, manager_email; name)."""
    import csv

    from crm_store.db import session_scope
    from crm_store.user_records import USER_FIELDS, apply_user_records

    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [(name or "").strip().lower() for name in reader.fieldnames or []]
            if "email" not in columns:
                raise CliError(f"{args.file}: the CSV needs an `email` column (and `role`, `manager_email`)")
            unknown = [c for c in columns if c not in USER_FIELDS]
            if unknown:
                raise CliError(f"{args.file}: unknown column(s) {', '.join(unknown)}; a user has "
                               f"{', '.join(USER_FIELDS)}")
            records = [(line, {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k})
                       for line, row in enumerate(reader, start=2)]
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror or error}")
    with session_scope(_store()) as session:
        result = apply_user_records(session, records, source="csv", detail=args.file.rsplit("/", 1)[-1])
    if result.rejected:
        for problem in result.problems:
            print(f"line {problem.index}, {problem.field or 'record'}: {problem.reason}", file=sys.stderr)
        raise CliError(f"{args.file}: {len({p.index for p in result.problems})} bad row(s); nothing was written")
    print(f"users: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
    return 0


def cmd_users(args) -> int:
    from usecases.admin import grant_by_email, revoke_by_email

    if args.action == "grant" and args.csv:
        return _grant_csv(args)
    if not args.email:
        raise CliError("give an EMAIL (or, to grant, --csv FILE)")
    try:
        if args.action == "grant":
            services = _services()
            change = grant_by_email(services, args.email, admin=args.admin)
            if change.mail_integration:
                from usecases.onboarding import invite_granted

                invite_granted(services, change.email, granted_by=None)
        else:
            change = revoke_by_email(_services(), args.email)
    except DomainError as error:
        raise CliError(_refused(error))
    print(f"{change.email}: profile {change.profile} (Mail Integration: {'yes' if change.mail_integration else 'no'}, "
          f"admin: {'yes' if change.admin else 'no'})")
    if change.disconnected:
        print(f"{change.email}: Gmail {change.disconnected} disconnected (Google access revoked, stored data deleted)")
    return 0


def cmd_serve(args) -> int:
    from bot.server import BotServer
    from bot.slack_app import SlackNotConfigured

    from bot.slack_app import check_slack_settings

    settings = _settings()
    try:
        check_slack_settings(settings, socket_mode=args.socket_mode)
    except SlackNotConfigured as error:
        raise CliError(str(error))
    server = BotServer(settings, port=args.port, socket_mode=args.socket_mode)
    server.serve_forever()
    return 0


def cmd_run_once(args) -> int:
    from bot.jobs import Jobs
    from crm_store.leases import Job
    from gmail.sync import SyncStatus

    services = _services()
    services.require_gmail()
    jobs = Jobs(services)
    try:
        outcomes = jobs.run_once(Job(args.job), args.account)
    finally:
        jobs.stop()
    if not outcomes:
        raise CliError("no connected mailbox" + (f" {args.account}" if args.account else "")
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


def _run_dev_module(command: str, module: str, *arguments: str) -> int:
    """`demo`, `emulators` and `bench` run dev-only code that the runtime wheel does not ship (the emulators in
    sandbox/, the harness in testsupport/, benchmarks/). The product never imports it: in a source checkout this
    process becomes `python -m MODULE`; from an installed wheel the command says where it works instead."""
    if importlib.util.find_spec(module.split(".")[0]) is None:  # a top-level name: found, never imported
        raise CliError(f"`{command}` runs from the root of a source checkout after `make install`: the installed "
                       f"wheel ships no emulators, demo or benchmarks")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *arguments])
    return 1  # not reached: execv replaces the process


def cmd_emulators(args) -> int:
    extra = ["--seed", args.seed] if args.seed else []
    return _run_dev_module("emulators", "sandbox", "--gmail-port", str(args.gmail_port),
                           "--slack-port", str(args.slack_port), *extra)


def cmd_bench(args) -> int:
    return _run_dev_module("bench", "benchmarks.run_all", *args.only)



def cmd_rotate_keys(args) -> int:
    from gmail.tokens import TokenCipher, TokenKeyError, reencrypt_all

    settings = _settings()
    try:
        cipher = TokenCipher(settings.encryption_key_list)
        count = reencrypt_all(_store(), cipher)
        slack_tokens = 0
        if settings.slack_client_id:
            from bot.slack_store import EncryptedInstallationStore

            store = EncryptedInstallationStore(cipher, client_id=settings.slack_client_id, engine=_store())
            slack_tokens = store.reencrypt_all()
    except TokenKeyError as error:
        raise CliError(str(error))
    print(f"re-encrypted {count} stored Google credential(s) and {slack_tokens} Slack token(s) with the first key "
          "of TOKEN_ENCRYPTION_KEYS")
    return 0


def cmd_crm_keys(args) -> int:
    from usecases.crm import create_api_key, revoke_api_key

    try:
        if args.keys_action == "create":
            key = create_api_key(_services(), args.name)
            print(f"API key {args.name!r} created. It is shown once; store it now:\n{key}")
        else:
            revoke_api_key(_services(), args.name)
            print(f"API key {args.name!r} revoked")
    except DomainError as error:
        raise CliError(_refused(error))
    return 0


def cmd_crm_sync(args) -> int:
    from crm_sync.zoho_results import ZohoSyncStatus
    from usecases.crm import sync_zoho

    try:
        result = sync_zoho(_services(), full=args.full)
    except DomainError as error:
        raise CliError(_refused(error))
    if result.status is ZohoSyncStatus.FAILED:
        raise CliError(f"Zoho CRM sync {result.summary()}")
    print(f"Zoho CRM sync{' (full)' if args.full else ''}: {result.summary()}")
    for problem in result.problems[:20]:
        print(f"  skipped {problem}", file=sys.stderr)
    return 0


def _audit_moment(value: str | None, flag: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{flag} {value!r} is neither a date (2026-11-30) nor a date-time (2026-11-30T09:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cmd_audit(args) -> int:
    """Who saw whose emails (SPEC §5), newest first, as the operator (who reads every row)."""
    from usecases.actors import OPERATOR
    from usecases.audit import AuditQuery, read_audit

    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    query = AuditQuery(viewer_email=args.viewer, mailbox_email=args.mailbox, since=_audit_moment(args.since, "--since"),
                       before_id=args.before, limit=args.limit)
    try:
        page = read_audit(_services(), OPERATOR, query)
    except DomainError as error:
        raise CliError(_refused(error))
    if args.json:
        print(json.dumps({"rows": [row.to_json() for row in page.rows], "older_than": page.older_than},
                         ensure_ascii=False, indent=2))
        return 0
    if not page.rows:
        print("no views recorded" + (" for these filters" if args.viewer or args.mailbox or args.since else ""))
    for row in page.rows:
        where = row.surface + (f" {row.channel_id}" if row.channel_id else "")
        contact = row.contact_name or (f"contact {row.contact_id}" if row.contact_id else "-")
        slack = f"{row.viewer_team_id}/{row.viewer_slack_id}" if row.viewer_slack_id else "Slack user not recorded"
        print(f"{row.id:>8}  {row.viewed_at:%Y-%m-%d %H:%M}  {row.viewer_email} (as {slack})  saw  "
              f"{row.mailbox_address}  ({contact}, {row.depth or '?'}, {where})")
    if page.older_than is not None:
        print(f"more: mailmagnet audit --before {page.older_than}" + "".join(
            f" --{name} {value}" for name, value in (("viewer", args.viewer), ("mailbox", args.mailbox),
                                                     ("since", args.since), ("limit", args.limit)) if value))
    return 0


def cmd_manifest(args) -> int:
    from bot.manifest import ManifestError, manifest_for

    try:
        manifest = manifest_for(args.public_url or _settings().public_url)
    except ManifestError as error:
        raise CliError(f"{error} (--public-url, else PUBLIC_URL)")
    if args.json:
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
    else:
        import yaml

        print(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=1000), end="")
    return 0


def version() -> str:
    """The installed distribution's version (the wheel's, or the checkout's editable install)."""
    from importlib.metadata import PackageNotFoundError, version as distribution_version

    try:
        return distribution_version("mailmagnet")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "unknown (not installed)"


def cmd_demo(args) -> int:
    return _run_dev_module("demo", "testsupport.demo")


class OneLineArgumentParser(argparse.ArgumentParser):
    """Usage mistakes are failures too: one line, non-zero exit."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="mailmagnet", description="MailMagnet for Slack")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(func=cmd_db_upgrade)

    imp = sub.add_parser("import", help="import CRM data from CSV")
    imp.add_argument("kind", choices=["contacts", "deals", "leads"])
    imp.add_argument("file")
    imp.add_argument("--skip-invalid", action="store_true", help="import the good rows and report the bad ones")
    imp.set_defaults(func=cmd_import)

    explain = sub.add_parser("explain", help="why an email from SENDER is (not) under a label")
    explain.add_argument("sender", metavar="SENDER", help="an address or a whole From header")
    explain.add_argument("--as-of", metavar="DATE|DATETIME")
    explain.add_argument("--tz", metavar="ZONE")
    explain.add_argument("--json", action="store_true")
    explain.add_argument("--account", metavar="EMAIL",
                         help="also say whether and when this mailbox's emails from SENDER were filed")
    explain.set_defaults(func=cmd_explain)

    users = sub.add_parser("users", help="Mail Integration permission and admin flag")
    users_sub = users.add_subparsers(dest="action", required=True)
    grant = users_sub.add_parser("grant", help="give the CRM user (created if missing) Mail Integration, or with "
                                              "--csv every existing CRM user listed in FILE (column email)")
    grant.add_argument("email", nargs="?")
    grant.add_argument("--csv", metavar="FILE", help="a CSV with an `email` column: grant each (never creates)")
    grant.add_argument("--admin", action="store_true", help="also make the user an admin")
    revoke = users_sub.add_parser("revoke", help="take Mail Integration and admin away")
    revoke.add_argument("email")
    revoke.set_defaults(csv=None)
    for p in (grant, revoke):
        p.set_defaults(func=cmd_users)
    listing = users_sub.add_parser("list", help="every rep: granted, connected / failing / revoked, last sync, "
                                               "quota units today, alerts and labels")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_users_list)
    importing = users_sub.add_parser("import", help="roles and managers from a CSV (email, role, manager_email)")
    importing.add_argument("file")
    importing.set_defaults(func=cmd_users_import)

    serve = sub.add_parser("serve", help="run the bot: HTTP routes, Slack listeners, scheduler")
    serve.add_argument("--socket-mode", action="store_true", help="receive Slack requests over Socket Mode")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default: PORT, 3000)")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("demo", help="show the product working on sample data").set_defaults(func=cmd_demo)

    manifest = sub.add_parser("manifest", help="print the Slack app manifest with this deployment's URLs")
    manifest.add_argument("--public-url", metavar="URL", help="the server's public https URL (default: PUBLIC_URL)")
    manifest.add_argument("--json", action="store_true", help="JSON instead of YAML (Slack accepts either)")
    manifest.set_defaults(func=cmd_manifest)

    once = sub.add_parser("run-once", help="sync (or sync and file labels) every connected mailbox now")
    once.add_argument("job", choices=["sync", "labels"])
    once.add_argument("--account", metavar="EMAIL", help="only this mailbox")
    once.set_defaults(func=cmd_run_once)

    emulators = sub.add_parser("emulators", help="start the Gmail and Slack emulators for local development")
    emulators.add_argument("--gmail-port", type=int, default=8025)
    emulators.add_argument("--slack-port", type=int, default=8026)
    emulators.add_argument("--seed", metavar="FILE", help='JSON {"gmail": {...}, "slack": {...}}')
    emulators.set_defaults(func=cmd_emulators)

    keys = sub.add_parser("keys", help="token encryption keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("rotate", help="re-encrypt stored credentials with the first key").set_defaults(
        func=cmd_rotate_keys)

    crm = sub.add_parser("crm", help="CRM data: ingest API keys, the Zoho CRM sync").add_subparsers(
        dest="crm_command", required=True)
    crm_keys = crm.add_parser("keys", help="API keys of the CRM ingest API").add_subparsers(
        dest="keys_action", required=True)
    for action, text in (("create", "create a key (printed once)"), ("revoke", "revoke a key")):
        key_parser = crm_keys.add_parser(action, help=text)
        key_parser.add_argument("name")
        key_parser.set_defaults(func=cmd_crm_keys)
    crm_sync = crm.add_parser("sync", help="run a CRM sync now")
    crm_sync.add_argument("source", choices=["zoho"])
    crm_sync.add_argument("--full", action="store_true", help="read everything, not only what changed")
    crm_sync.set_defaults(func=cmd_crm_sync)

    audit = sub.add_parser("audit", help="who saw whose emails (the audit log), newest first")
    audit.add_argument("--viewer", metavar="EMAIL", help="views by this CRM user")
    audit.add_argument("--mailbox", metavar="EMAIL", help="views of this mailbox's emails")
    audit.add_argument("--since", metavar="DATE|DATETIME", help="views from then on (naive: UTC)")
    audit.add_argument("--limit", type=int, default=50, help="rows per page (default 50, at most 200)")
    audit.add_argument("--before", type=int, metavar="ID", help="the next page: rows older than this id")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=cmd_audit)

    bench = sub.add_parser("bench", help="run the benchmarks (same as make bench)")
    bench.add_argument("only", nargs="*", help="benchmark names (default: all)")
    bench.set_defaults(func=cmd_bench)
    return parser


def run_with_settings(command, quiet: str = "WARNING") -> int:
    """Run `command(settings)` the way every `mailmagnet` command runs (also `python -m testsupport.demo`): every
    setting is checked first, so a bad value is one line naming it; every failure is one line, never a traceback.
    `quiet` is the log level when LOG_LEVEL is unset."""
    from bot.logs import configure_logging

    try:
        settings = _settings()
        configure_logging(settings.log_level or quiet, settings.log_format)
        return command(settings) or 0
    except CliError as error:
        print(f"mailmagnet: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mailmagnet: interrupted", file=sys.stderr)
        return 130
    except DomainError as error:  # a use case's refusal that no command caught: its words, not its name
        print(f"mailmagnet: {_refused(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the contract is one line, never a traceback
        logging.getLogger("mailmagnet").debug("unexpected error", exc_info=True)
        print(f"mailmagnet: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
              file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `serve` logs what it does; a one-shot command prints its result and logs only problems, unless
    # LOG_LEVEL says otherwise.
    return run_with_settings(lambda settings: args.func(args), "INFO" if args.func is cmd_serve else "WARNING")


if __name__ == "__main__":
    sys.exit(main())

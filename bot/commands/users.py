"""`users list|grant|revoke|import` and `audit`: who may use Mail Integration, and who saw whose emails."""
from __future__ import annotations

import json
import sys

from bot.commands import common
from crm_store.errors import DomainError


def cmd_users_list(args) -> int:
    """`mailmagnet users list [--json]`: the admin overview, for the whole organisation."""
    from usecases.overview import overview_for

    overview = overview_for(common.services())
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
        raise common.CliError("--csv FILE takes neither an EMAIL nor --admin")
    try:
        with open(args.csv, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except OSError as error:
        raise common.CliError(f"cannot read {args.csv}: {error.strerror or error}")
    try:
        report = grant_csv(common.services(), text)
    except DomainError as error:
        raise common.CliError(f"{args.csv}: {common.refused(error)}")
    for line in grant_report_lines(report):
        print(line)
    return 0


def cmd_users_import(args) -> int:
    """`mailmagnet users import FILE.csv`: roles and managers (columns email, role, manager_email; name)."""
    import csv

    from crm_store.db import session_scope
    from crm_store.sources import ChangeSource
    from crm_store.user_records import USER_FIELDS, apply_user_records

    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = [(name or "").strip().lower() for name in reader.fieldnames or []]
            if "email" not in columns:
                raise common.CliError(f"{args.file}: the CSV needs an `email` column (and `role`, "
                                      "`manager_email`)")
            unknown = [c for c in columns if c not in USER_FIELDS]
            if unknown:
                raise common.CliError(f"{args.file}: unknown column(s) {', '.join(unknown)}; a user has "
                                      f"{', '.join(USER_FIELDS)}")
            records = [(line, {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k})
                       for line, row in enumerate(reader, start=2)]
    except OSError as error:
        raise common.CliError(f"cannot read {args.file}: {error.strerror or error}")
    with session_scope(common.store()) as session:
        result = apply_user_records(session, records, source=ChangeSource.CSV, detail=args.file.rsplit("/", 1)[-1])
    if result.rejected:
        for problem in result.problems:
            print(f"line {problem.index}, {problem.field or 'record'}: {problem.reason}", file=sys.stderr)
        raise common.CliError(f"{args.file}: {len({p.index for p in result.problems})} bad row(s); nothing was "
                              "written")
    print(f"users: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
    return 0


def cmd_users(args) -> int:
    from usecases.admin import grant_by_email, revoke_by_email

    if args.action == "grant" and args.csv:
        return _grant_csv(args)
    if not args.email:
        raise common.CliError("give an EMAIL (or, to grant, --csv FILE)")
    try:
        if args.action == "grant":
            services = common.services()
            change = grant_by_email(services, args.email, admin=args.admin)
            if change.mail_integration:
                from usecases.onboarding import invite_granted

                invite_granted(services, change.email, granted_by=None)
        else:
            change = revoke_by_email(common.services(), args.email)
    except DomainError as error:
        raise common.CliError(common.refused(error))
    print(f"{change.email}: profile {change.profile} (Mail Integration: {'yes' if change.mail_integration else 'no'}, "
          f"admin: {'yes' if change.admin else 'no'})")
    if change.disconnected:
        print(f"{change.email}: Gmail {change.disconnected} disconnected (Google access revoked, stored data deleted)")
    return 0


def cmd_audit(args) -> int:
    """Who saw whose emails (SPEC §5), newest first, as the operator (who reads every row)."""
    from usecases.actors import OPERATOR
    from usecases.audit import AuditQuery, read_audit

    if args.limit < 1:
        raise common.CliError("--limit must be at least 1")
    query = AuditQuery(viewer_email=args.viewer, mailbox_email=args.mailbox,
                       since=common.moment_arg(args.since, "--since"), before_id=args.before, limit=args.limit)
    try:
        page = read_audit(common.services(), OPERATOR, query)
    except DomainError as error:
        raise common.CliError(common.refused(error))
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

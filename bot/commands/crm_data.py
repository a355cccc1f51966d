"""`import`, `explain`, `crm keys`, `crm sync`: the CRM data and what it makes of a sender."""
from __future__ import annotations

import json
import sys

from bot.commands import common
from crm_store.errors import DomainError

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
    engine = common.store()
    bar = ImportProgressBar(args.kind)
    try:
        report = importer(engine, args.file, skip_invalid=args.skip_invalid, progress=bar)
    except FileNotFoundError:
        raise common.CliError(f"no such file: {args.file}")
    except ImportRejected as rejected:
        print(format_errors(rejected.report), file=sys.stderr)
        raise common.CliError(str(rejected))
    finally:
        bar.close()
    print(
        f"{report.kind}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped} skipped"
    )
    if report.errors:
        print(format_errors(report), file=sys.stderr)
    return 0


def cmd_explain(args) -> int:
    from usecases.why import explain

    settings = common.settings()
    tz = common.check_timezone(args.tz or settings.default_timezone)
    at = common.parse_as_of(args.as_of, tz)
    try:
        answer = explain(common.services(), args.sender, at=at, tz=tz, account_email=args.account)
    except DomainError as error:
        raise common.CliError(common.refused(error))
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


def cmd_crm_keys(args) -> int:
    from usecases.crm import create_api_key, revoke_api_key

    try:
        if args.keys_action == "create":
            key = create_api_key(common.services(), args.name)
            print(f"API key {args.name!r} created. It is shown once; store it now:\n{key}")
        else:
            revoke_api_key(common.services(), args.name)
            print(f"API key {args.name!r} revoked")
    except DomainError as error:
        raise common.CliError(common.refused(error))
    return 0


def cmd_crm_sync(args) -> int:
    from crm_sync.zoho_results import ZohoSyncStatus
    from usecases.crm import sync_zoho

    try:
        result = sync_zoho(common.services(), full=args.full)
    except DomainError as error:
        raise common.CliError(common.refused(error))
    if result.status is ZohoSyncStatus.FAILED:
        raise common.CliError(f"Zoho CRM sync {result.summary()}")
    print(f"Zoho CRM sync{' (full)' if args.full else ''}: {result.summary()}")
    for problem in result.problems[:20]:
        print(f"  skipped {problem}", file=sys.stderr)
    return 0

"""The `mailmagnet` command line: one table, a row a command; the commands live in `bot/commands/`, one module per
group. Every failure prints a one-line reason and exits non-zero."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, NamedTuple

from bot.commands import common, crm_data, dev, operate, users
from bot.commands.common import CliError
from crm_store.errors import DomainError

__all__ = ["CliError", "build_parser", "main", "run_with_settings"]


def arg(*names: str, **options) -> tuple[tuple[str, ...], dict]:
    return names, options


class Command(NamedTuple):
    words: tuple[str, ...]  # ("crm", "keys", "create"): the groups, then the command
    help: str
    run: Callable | None  # None: a group, its commands in the rows that follow
    arguments: tuple = ()
    defaults: dict = {}
    dest: str | None = None  # a group's: the attribute its chosen command is stored under


AS_OF = arg("--as-of", metavar="DATE|DATETIME")
COMMANDS = (
    Command(("db",), "database schema", None, dest="db_command"),
    Command(("db", "upgrade"), "migrate the database to the newest schema", operate.cmd_db_upgrade),
    Command(("import",), "import CRM data from CSV", crm_data.cmd_import, (
        arg("kind", choices=["contacts", "deals", "leads"]), arg("file"),
        arg("--skip-invalid", action="store_true", help="import the good rows and report the bad ones"))),
    Command(("explain",), "why an email from SENDER is (not) under a label", crm_data.cmd_explain, (
        arg("sender", metavar="SENDER", help="an address or a whole From header"), AS_OF,
        arg("--tz", metavar="ZONE"), arg("--json", action="store_true"),
        arg("--account", metavar="EMAIL", help="also say whether and when this mailbox's emails from SENDER were "
                                                "filed"))),
    Command(("users",), "Mail Integration permission and admin flag", None, dest="action"),
    Command(("users", "grant"), "give the CRM user (created if missing) Mail Integration, or with --csv every "
                                "existing CRM user listed in FILE (column email)", users.cmd_users, (
        arg("email", nargs="?"),
        arg("--csv", metavar="FILE", help="a CSV with an `email` column: grant each (never creates)"),
        arg("--admin", action="store_true", help="also make the user an admin"))),
    Command(("users", "revoke"), "take Mail Integration and admin away", users.cmd_users, (arg("email"),),
            {"csv": None}),
    Command(("users", "list"), "every rep: granted, connected / failing / revoked, last sync, quota units today, "
                               "alerts and labels", users.cmd_users_list, (arg("--json", action="store_true"),)),
    Command(("users", "import"), "roles and managers from a CSV (email, role, manager_email)",
            users.cmd_users_import, (arg("file"),)),
    Command(("serve",), "run the bot: HTTP routes, Slack listeners, scheduler", operate.cmd_serve, (
        arg("--socket-mode", action="store_true", help="receive Slack requests over Socket Mode"),
        arg("--port", type=int, default=None, help="HTTP port (default: PORT, 3000)"))),
    Command(("demo",), "show the product working on sample data", dev.cmd_demo),
    Command(("manifest",), "print the Slack app manifest with this deployment's URLs", operate.cmd_manifest, (
        arg("--public-url", metavar="URL", help="the server's public https URL (default: PUBLIC_URL)"),
        arg("--json", action="store_true", help="JSON instead of YAML (Slack accepts either)"))),
    Command(("run-once",), "sync (or sync and file labels) every connected mailbox now", operate.cmd_run_once, (
        arg("job", choices=["sync", "labels"]), arg("--account", metavar="EMAIL", help="only this mailbox"))),
    Command(("emulators",), "start the Gmail and Slack emulators for local development", dev.cmd_emulators, (
        arg("--gmail-port", type=int, default=8025), arg("--slack-port", type=int, default=8026),
        arg("--seed", metavar="FILE", help='JSON {"gmail": {...}, "slack": {...}}'))),
    Command(("keys",), "token encryption keys", None, dest="keys_command"),
    Command(("keys", "rotate"), "re-encrypt stored credentials with the first key", operate.cmd_rotate_keys),
    Command(("crm",), "CRM data: ingest API keys, the Zoho CRM sync", None, dest="crm_command"),
    Command(("crm", "keys"), "API keys of the CRM ingest API", None, dest="keys_action"),
    Command(("crm", "keys", "create"), "create a key (printed once)", crm_data.cmd_crm_keys, (arg("name"),)),
    Command(("crm", "keys", "revoke"), "revoke a key", crm_data.cmd_crm_keys, (arg("name"),)),
    Command(("crm", "sync"), "run a CRM sync now", crm_data.cmd_crm_sync, (
        arg("source", choices=["zoho"]),
        arg("--full", action="store_true", help="read everything, not only what changed"))),
    Command(("audit",), "who saw whose emails (the audit log), newest first", users.cmd_audit, (
        arg("--viewer", metavar="EMAIL", help="views by this CRM user"),
        arg("--mailbox", metavar="EMAIL", help="views of this mailbox's emails"),
        arg("--since", metavar="DATE|DATETIME", help="views from then on (naive: UTC)"),
        arg("--limit", type=int, default=50, help="rows per page (default 50, at most 200)"),
        arg("--before", type=int, metavar="ID", help="the next page: rows older than this id"),
        arg("--json", action="store_true"))),
    Command(("bench",), "run the benchmarks (same as make bench)", dev.cmd_bench, (
        arg("only", nargs="*", help="benchmark names (default: all)"),)),
)


def version() -> str:
    """The installed distribution's version (the wheel's, or the checkout's editable install)."""
    from importlib.metadata import PackageNotFoundError, version as distribution_version

    try:
        return distribution_version("mailmagnet")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        return "unknown (not installed)"


class OneLineArgumentParser(argparse.ArgumentParser):
    """Usage mistakes are failures too: one line, non-zero exit."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="mailmagnet", description="MailMagnet for Slack")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    groups = {(): parser.add_subparsers(dest="command", required=True, metavar="COMMAND")}
    for command in COMMANDS:
        added = groups[command.words[:-1]].add_parser(command.words[-1], help=command.help)
        if command.run is None:
            groups[command.words] = added.add_subparsers(dest=command.dest, required=True)
            continue
        for names, options in command.arguments:
            added.add_argument(*names, **options)
        added.set_defaults(func=command.run, **command.defaults)
    return parser


def run_with_settings(command, quiet: str = "WARNING") -> int:
    """Run `command(settings)` the way every `mailmagnet` command runs (also `python -m testsupport.demo`): every
    setting is checked first, so a bad value is one line naming it; every failure is one line, never a traceback.
    `quiet` is the log level when LOG_LEVEL is unset."""
    from bot.logs import configure_logging

    try:
        settings = common.settings()
        configure_logging(settings.log_level or quiet, settings.log_format)
        return command(settings) or 0
    except CliError as error:
        print(f"mailmagnet: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mailmagnet: interrupted", file=sys.stderr)
        return 130
    except DomainError as error:  # a use case's refusal that no command caught: its words, not its name
        print(f"mailmagnet: {common.refused(error)}", file=sys.stderr)
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
    return run_with_settings(lambda settings: args.func(args), "INFO" if args.func is operate.cmd_serve else "WARNING")


if __name__ == "__main__":
    sys.exit(main())

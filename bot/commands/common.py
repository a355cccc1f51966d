"""What every command uses: the one-line failure, the settings, the store and the services, the date arguments."""
from __future__ import annotations

import importlib.util
import os
import sys
from datetime import date, datetime, time, timezone
from importlib.machinery import PathFinder
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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


def refused(error) -> str:
    """A use case's refusal, in the words Slack shows (handlers/blocks/refusals.py): the CLI writes its own text
    for what only an operator reads, and borrows the surface's sentences for the use cases' refusals."""
    from handlers.blocks.refusals import refusal_text

    return refusal_text(error)


def settings():
    from bot.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as error:
        raise CliError(str(error))


def store():
    """The engine of the configured database, migrated to the newest schema."""
    from bot.wiring import open_store

    return open_store(settings())


def services():
    from bot.services import build_services

    return build_services(settings())


def run_dev_module(command: str, module: str, *arguments: str) -> int:
    """`demo`, `emulators` and `bench` run dev-only code that the runtime wheel does not ship (the emulators in
    sandbox/, the harness in testsupport/, benchmarks/). The product never imports it: in a source checkout this
    process becomes `python -m MODULE`; from an installed wheel the command says where it works instead."""
    top = module.split(".")[0]
    # Found, never imported. The `mailmagnet` console script's path starts at its own directory, not the working
    # one, so the checkout's root is looked in as well: there `python -m` (which starts at the working directory)
    # finds the module.
    if importlib.util.find_spec(top) is None and PathFinder.find_spec(top, [os.getcwd()]) is None:
        raise CliError(f"`{command}` runs from the root of a source checkout after `make install`: the installed "
                       f"wheel ships no emulators, demo or benchmarks")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *arguments])
    return 1  # not reached: execv replaces the process


def moment_arg(value: str | None, flag: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{flag} {value!r} is neither a date (2026-11-30) nor a date-time (2026-11-30T09:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

"""`demo`, `emulators`, `bench`: dev-only code run from a source checkout (never imported by the product)."""
from __future__ import annotations

from bot.commands import common


def cmd_emulators(args) -> int:
    extra = ["--seed", args.seed] if args.seed else []
    return common.run_dev_module("emulators", "sandbox", "--gmail-port", str(args.gmail_port),
                                 "--slack-port", str(args.slack_port), *extra)


def cmd_bench(args) -> int:
    return common.run_dev_module("bench", "benchmarks.run_all", *args.only)


def cmd_demo(args) -> int:
    return common.run_dev_module("demo", "testsupport.demo")

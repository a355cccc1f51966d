"""Run the Slack emulator alone: `python -m sandbox.slack_emulator [--port 8081] [--seed seed.json]`."""
from __future__ import annotations

import argparse
import json
import sys
import time

from .emulator import SlackEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.slack_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--seed", help="JSON file: {\"teams\": [...], \"oauth_apps\": [...]}; a team's "
                        "\"app_token\" enables Socket Mode")
    args = parser.parse_args(argv)
    emulator = SlackEmulator(host=args.host, port=args.port)
    try:
        if args.seed:
            with open(args.seed, encoding="utf-8") as handle:
                emulator.seed_from(json.load(handle))
        else:
            emulator.default_team()
        emulator.start()
    except (OSError, ValueError, KeyError) as exc:
        print(f"slack emulator: {exc}", file=sys.stderr)
        return 1
    print(f"Slack emulator on {emulator.api_url}", flush=True)
    for team in emulator.teams.values():
        print(f"  {team.id} {team.name}: bot token {team.bot_token} (bot user {team.bot_user_id})", flush=True)
    for token, team_id in emulator.socket_mode.app_tokens().items():
        print(f"  {team_id}: app-level token {token} (Socket Mode)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

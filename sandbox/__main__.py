"""`python -m sandbox` (what `mailmagnet emulators` runs in a checkout): the Gmail and Slack emulators for local
development, in the foreground until Ctrl-C, printing the settings that point `mailmagnet serve` at them."""
from __future__ import annotations

import argparse
import json
import sys
import threading

from .gmail_emulator import GmailEmulator
from .slack_emulator import SlackEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--gmail-port", type=int, default=8025)
    parser.add_argument("--slack-port", type=int, default=8026)
    parser.add_argument("--seed", metavar="FILE", help='JSON {"gmail": {...}, "slack": {...}}')
    args = parser.parse_args(argv)
    seed = {}
    if args.seed:
        try:
            with open(args.seed, encoding="utf-8") as handle:
                seed = json.load(handle)
        except (OSError, ValueError) as error:
            print(f"mailmagnet: cannot read seed file {args.seed}: {error}", file=sys.stderr)
            return 1
    gmail = GmailEmulator(port=args.gmail_port).start()
    slack = SlackEmulator(port=args.slack_port).start()
    try:
        if seed.get("gmail"):
            gmail.seed_from(seed["gmail"])
        if seed.get("slack"):
            slack.seed_from(seed["slack"])
        team = slack.default_team()
        print(f"Gmail + Google OAuth emulator: {gmail.url}")
        print(f"Slack emulator: {slack.url}")
        print("Settings for `mailmagnet serve` against them:")
        for key, value in (("GMAIL_API_URL", gmail.url), ("GOOGLE_AUTH_URI", gmail.auth_uri),
                           ("GOOGLE_TOKEN_URI", gmail.token_uri), ("GOOGLE_REVOKE_URI", gmail.revoke_uri),
                           ("SLACK_API_URL", slack.api_url), ("SLACK_BOT_TOKEN", team.bot_token)):
            print(f"  {key}={value}")
        for app_token in slack.socket_mode.app_tokens():
            print(f"  SLACK_APP_TOKEN={app_token}  (for --socket-mode)")
        print("Ctrl-C stops them.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        gmail.stop()
        slack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

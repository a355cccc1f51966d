"""Run the Gmail emulator in the foreground: ``python -m sandbox.gmail_emulator``."""

from __future__ import annotations

import argparse
import sys

from ..loopback_http import serve_in_foreground
from .server import GmailEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.gmail_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", help="JSON file: users, clients, messages, push_subscriptions")
    parser.add_argument("--client-id", help="register this OAuth client")
    parser.add_argument("--client-secret", default="")
    parser.add_argument("--user", action="append", default=[], help="add a Google account (repeatable)")
    parser.add_argument("--push-delay", type=float, default=0.0)
    args = parser.parse_args(argv)

    emu = GmailEmulator(host=args.host, port=args.port, push_delay_seconds=args.push_delay)
    try:
        if args.seed:
            emu.seed_from(args.seed)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot seed from {args.seed}: {exc}", file=sys.stderr)
        return 2
    for user in args.user:
        emu.add_user(user)
    if args.client_id:
        emu.register_client(args.client_id, args.client_secret)
    return serve_in_foreground(emu, lambda: {
        "GMAIL_API_URL": emu.url,
        "GOOGLE_AUTH_URI": emu.auth_uri,
        "GOOGLE_TOKEN_URI": emu.token_uri,
        "GOOGLE_REVOKE_URI": emu.revoke_uri,
        "batch_url": emu.batch_url,
        "users": emu.users(),
    })


if __name__ == "__main__":
    sys.exit(main())

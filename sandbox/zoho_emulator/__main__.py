"""Run the Zoho CRM emulator in the foreground: ``python -m sandbox.zoho_emulator``."""

from __future__ import annotations

import argparse
import sys

from ..loopback_http import serve_in_foreground
from .server import ZohoEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.zoho_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", help="JSON file: clients, users, contacts, deals, leads")
    parser.add_argument("--client-id", help="register this OAuth client and print a refresh token for it")
    parser.add_argument("--client-secret", default="")
    args = parser.parse_args(argv)

    zoho = ZohoEmulator(host=args.host, port=args.port)
    try:
        if args.seed:
            zoho.seed_from(args.seed)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot seed from {args.seed}: {exc}", file=sys.stderr)
        return 2
    settings = {}
    if args.client_id:
        zoho.register_client(args.client_id, args.client_secret)
        settings = {"ZOHO_CLIENT_ID": args.client_id, "ZOHO_CLIENT_SECRET": args.client_secret,
                    "ZOHO_REFRESH_TOKEN": zoho.issue_refresh_token(args.client_id)}
    return serve_in_foreground(zoho, lambda: {"ZOHO_ACCOUNTS_URL": zoho.accounts_url, "ZOHO_API_URL": zoho.api_url,
                                              **settings})


if __name__ == "__main__":
    sys.exit(main())

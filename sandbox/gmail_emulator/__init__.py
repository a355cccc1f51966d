"""Gmail API v1 + Google OAuth 2.0 emulator (real HTTP, stdlib only).

    from sandbox.gmail_emulator import GmailEmulator, Fault

    with GmailEmulator() as emu:
        emu.register_client("cid", "secret")
        emu.add_user("rep@example.com")
        emu.insert_message("rep@example.com", sender="ann@acme.test", to="rep@example.com",
                           subject="Quote", body="Can you send the quote?")
        # build("gmail", "v1", credentials=..., static_discovery=True,
        #       client_options={"api_endpoint": emu.url})
"""

from .faults import BATCH, Fault
from .server import Call, GmailEmulator, HeaderDict

__all__ = ["BATCH", "Call", "Fault", "GmailEmulator", "HeaderDict"]

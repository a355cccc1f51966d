"""Zoho CRM REST API v7 + Zoho accounts OAuth emulator (real HTTP, stdlib only).

    from sandbox.zoho_emulator import Fault, ZohoEmulator

    with ZohoEmulator() as zoho:
        zoho.register_client("cid", "secret")
        refresh_token = zoho.issue_refresh_token("cid")
        ana = zoho.add_contact("ana@acme.example", first_name="Ana", company="Acme", owner="rep@sales.example")
        zoho.add_deal("Acme renewal", stage="Negotiation", contact_id=ana, closing_date="2026-11-28")
        # ZOHO_ACCOUNTS_URL=zoho.accounts_url, ZOHO_API_URL=zoho.api_url
"""

from .faults import Fault
from .server import Call, ZohoEmulator

__all__ = ["Call", "Fault", "ZohoEmulator"]

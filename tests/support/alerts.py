"""A CRM of two contacts (one with an open deal, one a customer) and the MailMagnet alerts posted in a channel."""
from __future__ import annotations


CONTACTS = (
    "email,first_name,last_name,company,external_id,owner_email\n"
    "jane@acme.example,Jane,Doe,Acme,C1,owner@crm.example\n"
    "bob@globex.example,Bob,Smith,Globex,C2,\n"
)
DEALS = (
    "name,contact_external_id,stage,closing_date,amount,external_id\n"
    "Acme renewal,C1,Negotiation,2099-01-15,1000,D1\n"
    "Globex pilot,C2,Closed Won,2026-02-01,500,D2\n"
)


def alerts_in(stack, channel):
    return [m for m in stack.slack.messages(channel)
            if (m.get("metadata") or {}).get("event_type") == "mailmagnet_alert"]

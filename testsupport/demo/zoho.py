"""Scenes 14-15 (SPEC §3/§6): CRM data from Zoho CRM, with no CSV file: a deal won there moves the mail in Gmail;
a lead's first email alerts (status, owner), and converting the lead keeps its history."""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import Alert, Contact
from crm_sync import ZohoConfig
from handlers.blocks.crm_data import crm_data_line
from sandbox.zoho_emulator import ZohoEmulator
from testsupport.demo.cast import ALICE, ALICE_GMAIL
from testsupport.demo.reading import indent, newest_dm
from usecases.crm import crm_data_state, sync_zoho


@contextmanager
def zoho_crm(stack) -> Iterator[ZohoEmulator]:
    """A Zoho CRM (the emulator) that the stack's CRM sync reads, for the scene."""
    with ZohoEmulator() as zoho:
        zoho.register_client("1000.DEMO", "demo-secret")
        stack.services.zoho = ZohoConfig(client_id="1000.DEMO", client_secret="demo-secret",
                                         refresh_token=zoho.issue_refresh_token("1000.DEMO"),
                                         accounts_url=zoho.accounts_url, api_url=zoho.api_url)
        try:
            yield zoho
        finally:
            stack.services.zoho = None


def show_zoho_deal_won(stack) -> None:
    with zoho_crm(stack) as zoho:
        ana = zoho.add_contact("ana.lopez@hooli-labs.example", first_name="Ana", last_name="Lopez",
                               company="Hooli Labs", owner="alice@mailmagnet.example")
        deal = zoho.add_deal("Hooli Labs pilot", stage="Negotiation", contact_id=ana, closing_date="2099-03-31",
                             amount=18000, owner="alice@mailmagnet.example")
        print("\n14. Zoho CRM: a new contact, Ana Lopez (Hooli Labs), with an open deal; the CRM sync reads it")
        print(indent(f"Zoho CRM sync: {sync_zoho(stack.services).summary()}"))
        gmail_id = stack.mail("Ana Lopez <ana.lopez@hooli-labs.example>", "Pilot feedback", gmail=ALICE_GMAIL)
        stack.run("labels")
        ours = set(dataclasses.asdict(stack.services.labels).values())
        where = lambda: ", ".join(sorted(stack.gmail.label_names(ALICE_GMAIL, gmail_id) & ours))  # noqa: E731
        print(indent(f"Ana writes; after the label run her email is under: {where()}"))
        zoho.advance(2)
        zoho.edit_record("Deals", deal, Stage="Closed Won")
        print("    In Zoho CRM the deal is won. Next CRM sync, then the next label run:")
        print(indent(f"Zoho CRM sync: {sync_zoho(stack.services).summary()}"))
        stack.run("labels")
        print(indent(f"Ana's email is now under: {where()}"))
        print(indent(crm_data_line(crm_data_state(stack.services))))


def show_lead_converted(stack) -> None:
    with zoho_crm(stack) as zoho:
        pat = zoho.add_lead("pat.kim@zylker.example", first_name="Pat", last_name="Kim", company="Zylker",
                            lead_status="Contacted", owner="alice@mailmagnet.example")
        print("\n15. Zoho CRM: a lead, Pat Kim (Zylker, lead status Contacted); the CRM sync reads Leads too")
        print(indent(f"Zoho CRM sync: {sync_zoho(stack.services).summary()}"))
        # A week old: scene 16 nudges Alice about it.
        stack.mail("Pat Kim <pat.kim@zylker.example>", "Can we see a demo?", gmail=ALICE_GMAIL,
                   date=datetime.now(timezone.utc) - timedelta(days=7))
        stack.run("sync")
        alert = newest_dm(stack, ALICE, "mailmagnet_alert")
        fields = [f["text"] for b in alert["blocks"] if b.get("fields") for f in b["fields"]]
        print(indent(f"Pat writes; alert in Alice's DM: {alert['text']} | "
                     + " | ".join(field.replace(chr(10), ": ") for field in fields)))
        zoho.advance(2)
        zoho.convert_lead(pat)
        zoho.advance(2)
        print("    In Zoho CRM the lead is converted into a contact. Next CRM sync:")
        print(indent(f"Zoho CRM sync: {sync_zoho(stack.services).summary()}"))
        with session_scope(stack.engine) as session:
            contact = session.exec(select(Contact).where(Contact.email == "pat.kim@zylker.example")).one()
            alerts = session.exec(select(Alert).where(Alert.contact_id == contact.id)).all()
            print(indent(f"Pat is now {'a lead' if contact.is_lead else 'a contact'} (same record), "
                         f"with {len(alerts)} alert in their history"))

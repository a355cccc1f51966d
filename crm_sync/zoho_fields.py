"""Zoho CRM's records as the import core's (`crm_store.records`): which fields are read, what each becomes, and
the Zoho names of the core's fields for the problems an admin reads."""
from __future__ import annotations

from typing import Any

from crm_store.records.results import RecordKind

__all__ = ["FIELDS", "KINDS", "LIST_PARAMS", "MAPPERS", "MODULES", "ZOHO_FIELD", "contact_record", "deal_record",
           "lead_record"]

# Leads after Contacts: a lead converted in Zoho is listed as a new contact first, which takes the lead over
# (`crm_store.leads`); the converted lead read next then changes nothing, or moves the lead into the existing
# contact it was converted to.
MODULES = ("Contacts", "Leads", "Deals")
KINDS = {"Contacts": RecordKind.CONTACTS, "Leads": RecordKind.LEADS, "Deals": RecordKind.DEALS}
# Zoho hides converted leads from `GET /Leads` unless asked: the sync must see them to follow the conversion.
LIST_PARAMS = {"Leads": {"converted": "both"}}
FIELDS = {
    "Contacts": ("Email", "Secondary_Email", "First_Name", "Last_Name", "Account_Name", "Phone", "Owner",
                 "Modified_Time"),
    "Leads": ("Email", "Secondary_Email", "First_Name", "Last_Name", "Company", "Phone", "Owner", "Lead_Status",
              "Modified_Time"),
    "Deals": ("Deal_Name", "Stage", "Closing_Date", "Amount", "Contact_Name", "Owner", "Modified_Time"),
}
# The core's field names as Zoho calls them, for problems an admin reads.
ZOHO_FIELD = {
    "email": "Email", "secondary_email": "Secondary_Email", "first_name": "First_Name", "last_name": "Last_Name",
    "company": "Account_Name", "phone": "Phone", "owner_email": "Owner", "external_id": "id",
    "name": "Deal_Name", "stage": "Stage", "closing_date": "Closing_Date", "amount": "Amount",
    "contact_external_id": "Contact_Name", "contact_email": "Contact_Name",
    "lead_status": "Lead_Status", "converted_contact_external_id": "$converted_detail",
}


def contact_record(zoho: dict[str, Any]) -> dict[str, Any]:
    """A Zoho contact as the import core's record."""
    record: dict[str, Any] = {
        "external_id": zoho.get("id"),
        "email": zoho.get("Email"),
        "secondary_email": zoho.get("Secondary_Email"),
        "first_name": zoho.get("First_Name"),
        "last_name": zoho.get("Last_Name"),
        "company": _lookup_name(zoho.get("Account_Name")),
        "phone": zoho.get("Phone"),
    }
    _owner(zoho, record)
    return record


def deal_record(zoho: dict[str, Any]) -> dict[str, Any]:
    """A Zoho deal as the import core's record."""
    contact = zoho.get("Contact_Name")
    record: dict[str, Any] = {
        "external_id": zoho.get("id"),
        "name": zoho.get("Deal_Name"),
        "stage": zoho.get("Stage"),
        "closing_date": zoho.get("Closing_Date"),
        "amount": zoho.get("Amount"),
        "contact_external_id": contact.get("id") if isinstance(contact, dict) else None,
    }
    _owner(zoho, record)
    return record


def _lookup_name(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value


def _owner(zoho: dict[str, Any], record: dict[str, Any]) -> None:
    owner = zoho.get("Owner")
    if owner is None:
        record["owner_email"] = None
    elif isinstance(owner, dict) and owner.get("email"):
        record["owner_email"] = owner["email"]
    # An owner Zoho shows without an email (field permissions) leaves the stored owner as it is.


def lead_record(zoho: dict[str, Any]) -> dict[str, Any]:
    """A Zoho lead as the import core's record (its conversion is read apart: `_Run.conversion_of`)."""
    record: dict[str, Any] = {
        "external_id": zoho.get("id"),
        "email": zoho.get("Email"),
        "secondary_email": zoho.get("Secondary_Email"),
        "first_name": zoho.get("First_Name"),
        "last_name": zoho.get("Last_Name"),
        "company": zoho.get("Company"),
        "phone": zoho.get("Phone"),
        "lead_status": zoho.get("Lead_Status"),
    }
    _owner(zoho, record)
    return record


MAPPERS = {"Contacts": contact_record, "Leads": lead_record, "Deals": deal_record}

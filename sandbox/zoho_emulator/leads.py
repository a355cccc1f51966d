"""Leads and their conversion, as Zoho CRM does them.

A lead (`Email`, `Secondary_Email`, `First_Name`, `Last_Name`, `Company`, `Phone`, `Lead_Status`,
`Owner`) is converted with `POST /crm/v7/Leads/{id}/actions/convert` (or `convert_lead()` in a test):
Zoho creates a Contact from the lead (or takes the one named in `Contacts`), an account from its
`Company` (or the one named in `Accounts`), and a Deal when `Deals` is given; it answers
`{"data": [{"code": "SUCCESS", "details": {"Contacts": {name, id}, "Deals": {name, id} | null,
"Accounts": {name, id} | null}, "message": "Successfully converted", "status": "success"}]}`.

The lead is not deleted: it is marked converted (`$converted: true`, `Modified_Time` bumped) and from
then on Zoho hides it. `GET /Leads` lists non-converted leads only unless `converted=true` (only the
converted ones) or `converted=both`; `GET /Leads/{id}` answers 204 for a converted lead unless
`converted=true` is given; it is not in `/Leads/deleted`. `$converted_detail` (`{"convert_user",
"contact", "account", "deal", "converted_time"}`, `{}` before conversion) comes with the single-record
read only, not in listings. Converting it again: 400 `ID_ALREADY_CONVERTED`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from . import errors
from .errors import ZohoError

if TYPE_CHECKING:
    from .server import ZohoEmulator, _Record

CONVERTED_FILTERS = ("false", "true", "both")


def converted_filter(query: Mapping[str, str], module: str) -> str:
    """Which leads a listing shows: `false` (Zoho's default), `true` or `both`; other modules: `both`."""
    if module != "Leads":
        return "both"
    value = query.get("converted", "false").lower()
    if value not in CONVERTED_FILTERS:
        error = errors.invalid_data("converted")
        error.details["supported_values"] = list(CONVERTED_FILTERS)
        raise error
    return value


def shown(record: "_Record", converted: str) -> bool:
    if converted == "both":
        return True
    return (record.converted is not None) == (converted == "true")


def _id_of(value: Any) -> str | None:
    """Zoho takes a related record as `{"id": "…"}` (or, in older versions, the id itself)."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return None if value in (None, "") else str(value)


def parse_convert_body(body: Any) -> dict[str, Any]:
    """The options of a convert request, from `{"data": [{...}]}`."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list) or len(body["data"]) != 1 \
            or not isinstance(body["data"][0], Mapping):
        raise errors.invalid_body()
    options = body["data"][0]
    deal = options.get("Deals")
    if deal is not None and not isinstance(deal, Mapping):
        raise errors.invalid_data("Deals")
    return {"contact_id": _id_of(options.get("Contacts")), "account_id": _id_of(options.get("Accounts")),
            "assign_to": _id_of(options.get("assign_to")), "deal": dict(deal) if deal else None,
            "overwrite": bool(options.get("overwrite", False))}


def convert(zoho: "ZohoEmulator", lead: "_Record", *, contact_id: str | None = None, account_id: str | None = None,
            deal: Mapping[str, Any] | None = None, assign_to: str | None = None, overwrite: bool = False,
            convert_user: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Convert `lead` (called with the emulator's lock held); returns the answer's `details`."""
    if lead.converted is not None:
        raise errors.already_converted(lead.id)
    fields = lead.fields
    owner = fields.get("Owner") or zoho.default_owner
    if assign_to is not None:
        owner = zoho._user_by_id(assign_to)
        if owner is None:
            raise _invalid_related("assign_to", assign_to)
    if deal is not None:
        for required in ("Deal_Name", "Closing_Date", "Stage"):
            if not deal.get(required):
                raise errors.mandatory_not_found(required)

    account = None
    if account_id is not None:
        account = zoho._account_by_id(account_id)
        if account is None:
            raise _invalid_related("Accounts", account_id)
    elif fields.get("Company"):
        account = zoho._account(fields["Company"])

    if contact_id is not None:
        contact = zoho._records["Contacts"].get(contact_id)
        if contact is None:
            raise _invalid_related("Contacts", contact_id)
        if overwrite and account is not None:
            zoho.edit_record("Contacts", contact_id, Account_Name=account)
    else:
        contact_id = zoho.add_record("Contacts", {
            "Email": fields.get("Email"), "Secondary_Email": fields.get("Secondary_Email"),
            "First_Name": fields.get("First_Name"), "Last_Name": fields.get("Last_Name"),
            "Phone": fields.get("Phone"), "Account_Name": account,
        }, owner=owner)
    contact_fields = zoho._records["Contacts"][contact_id].fields
    contact_name = " ".join(p for p in (contact_fields.get("First_Name"), contact_fields.get("Last_Name")) if p)

    deal_ref = None
    if deal is not None:
        deal_fields = dict(deal)
        deal_fields.setdefault("Amount", None)
        deal_fields["Contact_Name"] = {"name": contact_name, "id": contact_id}
        deal_fields["Account_Name"] = account
        deal_id = zoho.add_record("Deals", deal_fields, owner=owner)
        deal_ref = {"name": str(deal["Deal_Name"]), "id": deal_id}

    now = zoho.now()
    user = dict(convert_user or zoho.default_owner)
    lead.converted = {
        "convert_user": {"name": user["name"], "id": user["id"]},
        "contact": contact_id,
        "account": account["id"] if account else None,
        "deal": deal_ref["id"] if deal_ref else None,
        "converted_time": now,
    }
    lead.modified = now
    zoho._versions["Leads"] += 1
    return {"Contacts": {"name": contact_name, "id": contact_id}, "Deals": deal_ref,
            "Accounts": dict(account) if account else None}


def _invalid_related(api_name: str, record_id: str) -> ZohoError:
    return ZohoError(400, "INVALID_DATA", "the related id given seems to be invalid",
                     {"api_name": api_name, "id": record_id})


def converted_detail(zoho: "ZohoEmulator", lead: "_Record") -> dict[str, Any]:
    if lead.converted is None:
        return {}
    detail = dict(lead.converted)
    detail["converted_time"] = zoho.format_time(detail["converted_time"])
    return detail

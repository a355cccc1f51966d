"""The Zoho emulator's Users API (roles, managers) and Leads module (paging, changes, deletion,
conversion) over real HTTP, with plain `requests` as a Zoho client calls them."""
from __future__ import annotations

import pytest
import requests

from sandbox.zoho_emulator import Fault, ZohoEmulator
from tests.support.zoho_emulator import CLIENT_ID, CLIENT_SECRET, START, get, grant

LEAD_FIELDS = "Email,Secondary_Email,First_Name,Last_Name,Company,Phone,Lead_Status,Owner,Modified_Time"
USERS_SCOPE = "ZohoCRM.modules.ALL,ZohoCRM.users.READ"


@pytest.fixture
def zoho():
    with ZohoEmulator() as emulator:
        emulator.register_client(CLIENT_ID, CLIENT_SECRET)
        emulator.set_time(START)
        yield emulator


@pytest.fixture
def auth(zoho):
    token = grant(zoho, refresh_token=zoho.issue_refresh_token(CLIENT_ID, USERS_SCOPE)).json()["access_token"]
    return {"Authorization": f"Zoho-oauthtoken {token}"}


def users(zoho, auth, headers=None, **params):
    return requests.get(f"{zoho.api_url}/crm/v7/users", params=params, headers={**auth, **(headers or {})},
                        timeout=10)


def team(zoho):
    """A small sales organisation: a VP, a manager reporting to her, two reps reporting to him."""
    zoho.add_user("vp@sales.example", "Vera Vp", role="VP Sales", profile="Administrator")
    zoho.add_user("mgr@sales.example", "Max Manager", role="Sales Manager", reporting_to="vp@sales.example")
    zoho.add_user("ann@sales.example", "Ann Rep", reporting_to="mgr@sales.example")
    zoho.add_user("bob@sales.example", "Bob Rep", reporting_to="mgr@sales.example", status="disabled")


# --------------------------------------------------------------------------- Users API


def test_users_carry_role_profile_and_manager(zoho, auth):
    team(zoho)
    answer = users(zoho, auth, type="AllUsers")
    assert answer.status_code == 200
    body = answer.json()
    by_email = {u["email"]: u for u in body["users"]}
    assert list(by_email) == ["owner@crm.example", "vp@sales.example", "mgr@sales.example", "ann@sales.example",
                              "bob@sales.example"]
    assert body["info"] == {"per_page": 200, "count": 5, "page": 1, "more_records": False}
    ann, mgr = by_email["ann@sales.example"], by_email["mgr@sales.example"]
    assert (ann["first_name"], ann["last_name"], ann["full_name"], ann["status"]) == ("Ann", "Rep", "Ann Rep",
                                                                                      "active")
    assert ann["role"] == {"name": "Sales Rep", "id": ann["role"]["id"]} and ann["role"]["id"].isdigit()
    assert ann["profile"]["name"] == "Standard" and by_email["vp@sales.example"]["profile"]["name"] == "Administrator"
    # Zoho names the manager field Reporting_To: {name, id} of the user one reports to, or null.
    assert ann["Reporting_To"] == {"name": "Max Manager", "id": mgr["id"]}
    assert mgr["Reporting_To"]["id"] == by_email["vp@sales.example"]["id"]
    assert by_email["vp@sales.example"]["Reporting_To"] is None
    assert ann["Modified_Time"] == "2026-11-20T12:00:00+00:00" and ann["id"].isdigit()
    # Records' Owner is the same user.
    lead = zoho.add_lead("pat@prospect.example", owner="ann@sales.example")
    assert zoho.record("Leads", lead)["Owner"] == {"name": "Ann Rep", "id": ann["id"], "email": "ann@sales.example"}
    assert users(zoho, auth).json()["info"]["count"] == 5  # AllUsers is the default type


@pytest.mark.parametrize("kind, emails", [
    ("ActiveUsers", ["owner@crm.example", "vp@sales.example", "mgr@sales.example", "ann@sales.example",
                     "new@sales.example"]),
    ("DeactiveUsers", ["bob@sales.example"]),
    ("AdminUsers", ["owner@crm.example", "vp@sales.example"]),
    ("DeletedUsers", ["gone@sales.example"]),
    ("NotConfirmedUsers", ["new@sales.example"]),
    ("CurrentUser", ["owner@crm.example"]),
])
def test_each_type_lists_its_users(zoho, auth, kind, emails):
    team(zoho)
    zoho.add_user("gone@sales.example", status="deleted")
    zoho.add_user("new@sales.example", confirm=False)  # invited, not yet confirmed
    assert [u["email"] for u in users(zoho, auth, type=kind).json()["users"]] == emails


def test_users_page_and_answer_what_changed(zoho, auth):
    team(zoho)
    first = users(zoho, auth, per_page=2, page=1).json()
    second = users(zoho, auth, per_page=2, page=3).json()
    assert (first["info"]["more_records"], first["info"]["count"]) == (True, 2)
    assert (second["info"]["more_records"], [u["email"] for u in second["users"]]) == (False, ["bob@sales.example"])
    assert users(zoho, auth, per_page=2, page=4).status_code == 204
    assert users(zoho, auth, per_page=201).json()["details"] == {"param_name": "per_page"}
    assert users(zoho, auth, type="Everyone").json()["code"] == "INVALID_DATA"

    # If-Modified-Since: the users changed after it (a new manager, a new role), else 304.
    since = {"If-Modified-Since": "2026-11-20T12:00:00+00:00"}
    assert users(zoho, auth, since).status_code == 304
    zoho.advance(60)
    changed = zoho.edit_user("ann@sales.example", reporting_to="vp@sales.example", role="Senior Rep")
    assert changed["Modified_Time"] == "2026-11-20T12:01:00+00:00"
    [ann] = users(zoho, auth, since).json()["users"]
    assert ann["role"]["name"] == "Senior Rep" and ann["Reporting_To"]["name"] == "Vera Vp"
    zoho.edit_user("ann@sales.example", reporting_to=None)
    assert users(zoho, auth, since).json()["users"][0]["Reporting_To"] is None

    single = requests.get(f"{zoho.api_url}/crm/v7/users/{ann['id']}", headers=auth, timeout=10).json()
    assert single["users"][0]["email"] == "ann@sales.example"
    assert requests.get(f"{zoho.api_url}/crm/v7/users/42", headers=auth, timeout=10).status_code == 400


def test_the_users_api_needs_its_scope(zoho):
    modules_only = grant(zoho).json()["access_token"]  # ZohoCRM.modules.ALL, as the CRM sync's grant
    refused = users(zoho, {"Authorization": f"Zoho-oauthtoken {modules_only}"})
    assert refused.status_code == 401 and refused.json()["code"] == "OAUTH_SCOPE_MISMATCH"
    assert users(zoho, {}).json()["code"] == "AUTHENTICATION_FAILURE"


def test_a_reporting_loop_is_refused(zoho):
    team(zoho)
    with pytest.raises(ValueError, match="reporting loop"):
        zoho.edit_user("vp@sales.example", reporting_to="ann@sales.example")


def test_faults_reach_the_users_api(zoho, auth):
    zoho.inject(Fault(path="/crm/v7/users*", count=1, status=429, retry_after=4))
    limited = users(zoho, auth)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "4"
    assert users(zoho, auth).status_code == 200
    assert [c.status for c in zoho.calls_to("users")] == [429, 200]
    assert zoho.served_ids("users", "users") == [zoho.default_owner["id"]]


# --------------------------------------------------------------------------- Leads


def test_leads_list_page_and_change_like_contacts(zoho, auth):
    owner = zoho.add_user("ann@sales.example", "Ann Rep")
    ids = []
    for n in range(5):
        ids.append(zoho.add_lead(f"lead{n}@prospect.example", first_name=f"L{n}", last_name="Lead",
                                 company="Prospect", phone="+1 555 0100", lead_status="Not Contacted",
                                 owner="ann@sales.example"))
        zoho.advance(1)
    first = get(zoho, "Leads", auth, fields=LEAD_FIELDS, per_page=2, sort_by="Modified_Time", sort_order="asc")
    body = first.json()
    assert [r["id"] for r in body["data"]] == ids[:2] and body["info"]["more_records"] is True
    record = body["data"][0]
    assert record == {"id": ids[0], "Email": "lead0@prospect.example", "Secondary_Email": None, "First_Name": "L0",
                      "Last_Name": "Lead", "Company": "Prospect", "Phone": "+1 555 0100",
                      "Lead_Status": "Not Contacted", "Owner": owner, "Modified_Time": "2026-11-20T12:00:00+00:00",
                      "$converted": False}
    rest = get(zoho, "Leads", auth, fields="Email", per_page=2, page_token=body["info"]["next_page_token"]).json()
    assert [r["id"] for r in rest["data"]] == ids[2:4]
    assert get(zoho, "Leads", auth).json()["code"] == "REQUIRED_PARAM_MISSING"

    since = {"If-Modified-Since": "2026-11-20T12:00:10+00:00"}
    assert get(zoho, "Leads", auth, since, fields="Email").status_code == 304
    zoho.advance(60)
    zoho.edit_record("Leads", ids[3], Lead_Status="Contacted")
    [changed] = get(zoho, "Leads", auth, since, fields="Email,Lead_Status").json()["data"]
    assert (changed["id"], changed["Lead_Status"]) == (ids[3], "Contacted")


def test_deleted_leads(zoho, auth):
    lead = zoho.add_lead("gone@prospect.example", first_name="Gone", last_name="Lead")
    zoho.advance(5)
    zoho.delete_record("Leads", lead)
    [deleted] = get(zoho, "Leads/deleted", auth, type="all").json()["data"]
    assert (deleted["id"], deleted["display_name"], deleted["type"]) == (lead, "Gone Lead", "recycle")
    assert get(zoho, "Leads", auth, fields="Email").status_code == 204


def test_converting_a_lead_makes_a_contact_and_hides_the_lead(zoho, auth):
    zoho.add_user("ann@sales.example", "Ann Rep")
    lead = zoho.add_lead("pat@prospect.example", first_name="Pat", last_name="Boyle", company="Zylker",
                         phone="+1 555 0199", secondary_email="pat@zylker.example", owner="ann@sales.example")
    other = zoho.add_lead("sam@prospect.example", first_name="Sam")
    zoho.advance(60)
    answer = requests.post(f"{zoho.api_url}/crm/v7/Leads/{lead}/actions/convert", headers=auth, timeout=10, json={
        "data": [{"overwrite": True, "notify_lead_owner": True,
                  "Deals": {"Deal_Name": "Zylker pilot", "Closing_Date": "2026-12-15", "Stage": "Qualification",
                            "Amount": 12000}}]})
    assert answer.status_code == 200
    [result] = answer.json()["data"]
    assert (result["code"], result["status"], result["message"]) == ("SUCCESS", "success", "Successfully converted")
    contact_id = result["details"]["Contacts"]["id"]
    assert result["details"]["Contacts"] == {"name": "Pat Boyle", "id": contact_id}
    assert result["details"]["Accounts"]["name"] == "Zylker"
    deal_id = result["details"]["Deals"]["id"]

    # The contact it became, its deal, and both are "modified since" for an incremental sync.
    since = {"If-Modified-Since": "2026-11-20T12:00:30+00:00"}
    [contact] = get(zoho, "Contacts", auth, since, fields="Email,Secondary_Email,First_Name,Last_Name,Phone,"
                                                         "Account_Name,Owner").json()["data"]
    assert (contact["id"], contact["Email"], contact["Secondary_Email"]) == (contact_id, "pat@prospect.example",
                                                                           "pat@zylker.example")
    assert contact["Account_Name"] == result["details"]["Accounts"] and contact["Owner"]["email"] == "ann@sales.example"
    [deal] = get(zoho, "Deals", auth, since, fields="Deal_Name,Contact_Name,Stage,Amount").json()["data"]
    assert deal == {"id": deal_id, "Deal_Name": "Zylker pilot", "Contact_Name": {"name": "Pat Boyle", "id": contact_id},
                    "Stage": "Qualification", "Amount": 12000}

    # The lead stays, converted, and Zoho hides it unless asked for converted leads.
    assert [r["id"] for r in get(zoho, "Leads", auth, fields="Email").json()["data"]] == [other]
    [converted] = get(zoho, "Leads", auth, since, fields="Email", converted="true").json()["data"]
    assert converted == {"id": lead, "Email": "pat@prospect.example", "$converted": True}
    assert "$converted_detail" not in converted  # a listing does not carry it
    assert {r["id"] for r in get(zoho, "Leads", auth, fields="Email", converted="both").json()["data"]} == {lead, other}
    assert get(zoho, "Leads", auth, fields="Email", converted="maybe").json()["details"]["param_name"] == "converted"
    assert get(zoho, "Leads/deleted", auth).status_code == 204

    assert get(zoho, f"Leads/{lead}", auth).status_code == 204
    [single] = get(zoho, f"Leads/{lead}", auth, converted="true").json()["data"]
    assert single["$converted"] is True
    assert single["$converted_detail"] == {"convert_user": {"name": "CRM Owner", "id": zoho.default_owner["id"]},
                                           "contact": contact_id, "account": result["details"]["Accounts"]["id"],
                                           "deal": deal_id, "converted_time": "2026-11-20T12:01:00+00:00"}
    assert single["Modified_Time"] == "2026-11-20T12:01:00+00:00"
    [not_yet] = get(zoho, f"Leads/{other}", auth).json()["data"]
    assert not_yet["$converted"] is False and not_yet["$converted_detail"] == {}

    again = requests.post(f"{zoho.api_url}/crm/v7/Leads/{lead}/actions/convert", headers=auth, timeout=10,
                          json={"data": [{}]})
    assert (again.status_code, again.json()["code"]) == (400, "ID_ALREADY_CONVERTED")


def test_a_lead_converted_into_an_existing_contact(zoho, auth):
    contact = zoho.add_contact("pat@zylker.example", first_name="Pat", last_name="Boyle")
    lead = zoho.add_lead("pat@prospect.example", first_name="Pat", last_name="Boyle")
    details = zoho.convert_lead(lead, contact_id=contact)
    assert details == {"Contacts": {"name": "Pat Boyle", "id": contact}, "Deals": None, "Accounts": None}
    assert len(zoho.records("Contacts")) == 1
    assert zoho.record("Leads", lead)["$converted_detail"]["contact"] == contact


def test_conversion_errors_answer_like_zoho(zoho, auth):
    lead = zoho.add_lead("pat@prospect.example")

    def convert(lead_id, body):
        answer = requests.post(f"{zoho.api_url}/crm/v7/Leads/{lead_id}/actions/convert", headers=auth, timeout=10,
                               data=body if isinstance(body, str) else None,
                               json=None if isinstance(body, str) else body)
        return answer.status_code, answer.json()["code"]

    assert convert("42", {"data": [{}]}) == (400, "INVALID_DATA")
    assert convert(lead, "not json") == (400, "INVALID_DATA")
    assert convert(lead, {"data": [{"Contacts": {"id": "42"}}]}) == (400, "INVALID_DATA")
    assert convert(lead, {"data": [{"Deals": {"Deal_Name": "No stage", "Closing_Date": "2026-12-01"}}]}) == (
        400, "MANDATORY_NOT_FOUND")
    assert zoho.record("Leads", lead)["$converted"] is False  # nothing half done
    assert requests.get(f"{zoho.api_url}/crm/v7/Contacts/{lead}/actions/convert", headers=auth,
                        timeout=10).status_code == 404


def test_faults_and_calls_reach_the_leads_endpoints(zoho, auth):
    lead = zoho.add_lead("pat@prospect.example")
    zoho.inject(Fault(path="/crm/v7/Leads*", count=1, status=401))
    assert get(zoho, "Leads", auth, fields="Email").json()["code"] == "INVALID_TOKEN"
    assert [r["id"] for r in get(zoho, "Leads", auth, fields="Email").json()["data"]] == [lead]
    zoho.inject(Fault(path="/crm/v7/Leads/*/actions/convert", count=1, status="drop"))
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{zoho.api_url}/crm/v7/Leads/{lead}/actions/convert", headers=auth, json={"data": [{}]},
                      timeout=10)
    assert zoho.record("Leads", lead)["$converted"] is False
    assert zoho.served_ids("Leads") == [lead]
    assert [c.endpoint for c in zoho.calls_to("convert")] == ["convert"]


def test_seeded_users_and_leads():
    with ZohoEmulator() as zoho:
        zoho.seed_from({"users": [{"email": "ann@sales.example", "name": "Ann Rep",
                                   "reporting_to": "mgr@sales.example"},
                                  {"email": "mgr@sales.example", "name": "Max Manager", "role": "Sales Manager"}],
                        "leads": [{"email": "pat@prospect.example", "first_name": "Pat", "company": "Zylker",
                                   "owner": "ann@sales.example", "lead_status": "Contacted"}]})
        assert zoho.user("ann@sales.example")["Reporting_To"]["name"] == "Max Manager"
        assert zoho.user("mgr@sales.example")["role"]["name"] == "Sales Manager"
        [lead] = zoho.records("Leads")
        assert (lead["Company"], lead["Lead_Status"], lead["Owner"]["email"]) == ("Zylker", "Contacted",
                                                                                  "ann@sales.example")

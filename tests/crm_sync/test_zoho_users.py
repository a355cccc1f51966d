"""Roles and managers from Zoho's Users API (SPEC §1 Roles): `role.name` and `Reporting_To` into the CRM users,
in the Zoho sync, over real HTTP against the emulator; a grant without the users scope leaves them alone."""
from __future__ import annotations

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.models import CrmUser
from crm_sync import run_zoho_sync
from tests.support.zoho_sync import CLIENT_ID, make_config


def roles(engine) -> dict[str, tuple[str | None, str | None]]:
    with session_scope(engine) as session:
        users = session.exec(select(CrmUser)).all()
        email = {u.id: u.email for u in users}
        return {u.email: (u.role, email.get(u.manager_id)) for u in users}


def test_users_roles_and_reporting_lines_are_synced_and_follow_edits(engine, zoho, client_for):
    zoho.add_user("vp@crm.example", "Vera VP", role="VP Sales")
    zoho.add_user("mgr@crm.example", "Max Manager", role="Sales Manager", reporting_to="vp@crm.example")
    zoho.add_user("rep@crm.example", "Ria Rep", role="Sales Rep", reporting_to="mgr@crm.example")
    zoho.add_user("gone@crm.example", "Gone", role="Sales Rep", status="deleted")
    config = make_config(zoho, sync_users=True,
                         refresh_token=zoho.issue_refresh_token(CLIENT_ID, "ZohoCRM.modules.ALL,ZohoCRM.users.READ"))
    result = run_zoho_sync(engine, config, client=client_for(config))
    assert result.ok and result.modules["Users"].problems == []
    found = roles(engine)
    assert found["rep@crm.example"] == ("Sales Rep", "mgr@crm.example")
    assert found["mgr@crm.example"] == ("Sales Manager", "vp@crm.example")
    assert found["vp@crm.example"] == ("VP Sales", None)
    assert "gone@crm.example" not in found
    zoho.edit_user("rep@crm.example", reporting_to="vp@crm.example", role="Senior Rep")
    again = run_zoho_sync(engine, config, client=client_for(config))
    assert again.ok and again.modules["Users"].updated == 1
    assert roles(engine)["rep@crm.example"] == ("Senior Rep", "vp@crm.example")


def test_without_the_users_scope_contacts_still_sync_and_the_reason_is_reported(engine, zoho, client_for):
    zoho.add_user("rep@crm.example", "Ria Rep", role="Sales Rep")
    zoho.add_record("Contacts", {"Email": "jane@acme.example", "Last_Name": "Doe"})
    config = make_config(zoho, sync_users=True)  # the default grant: ZohoCRM.modules.ALL only
    result = run_zoho_sync(engine, config, client=client_for(config))
    assert result.ok and result.modules["Contacts"].created == 1
    assert "not read" in str(result.modules["Users"].problems[0])
    assert roles(engine).get("rep@crm.example", (None, None)) == (None, None)

"""Scenes 17-18 (issue 20), for admins: a team onboarded with one command; an incident (Alice's Google access
revoked) told to the admins once; the overview."""
from __future__ import annotations

from crm_store.db import session_scope
from crm_store.sources import ChangeSource
from crm_store.user_records import apply_user_records
from crm_store.users import find_user_by_email, set_permissions
from testsupport.demo.cast import ALICE_GMAIL, BRUNO, CAROL
from testsupport.demo.reading import command, escaped_command, indent, readable
from testsupport.stack import TEAM

SALES_TEAM = {"U0DAN": "dan", "U0EVE": "eve", "U0FAY": "fay"}


def show_admin_overview(stack) -> None:
    for slack_id, name in SALES_TEAM.items():
        stack.slack.add_user(TEAM, slack_id, email=f"{name}@mailmagnet.example", real_name=name.title())
    with session_scope(stack.engine) as session:  # `mailmagnet users import`: the CRM's users, roles, managers
        apply_user_records(session, list(enumerate(
            [{"email": f"{name}@mailmagnet.example", "role": "Sales Rep", "manager_email": "bruno@mailmagnet.example"}
             for name in SALES_TEAM.values()])), source=ChangeSource.CSV)
        set_permissions(session, find_user_by_email(session, "bruno@mailmagnet.example"), is_admin=True)
    stack.slack.add_usergroup(TEAM, "sales", [*SALES_TEAM, CAROL])
    print("\n17. Bruno onboards the sales team at once: /gmail admin grant @sales")
    print(indent(readable(escaped_command(stack, BRUNO, "admin grant @sales"))))
    print(indent("DM to Dan: " + stack.slack.dms("U0DAN")[-1]["text"]))
    stack.gmail.revoke_access(ALICE_GMAIL)
    stack.gmail.expire_access_tokens(ALICE_GMAIL)
    stack.run("sync")
    stack.services.jobs.tell_admins()
    print("\n18. Alice removes MailMagnet's access in her Google account; after the next sync Bruno is told once:")
    print(indent("DM to Bruno: " + stack.slack.dms(BRUNO)[-1]["text"]))
    print("    Bruno: /gmail admin status")
    print(indent(command(stack, BRUNO, "admin status")))

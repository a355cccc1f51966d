"""A small CRM and a few reps for the contact view, compose and sharing tests, driven through the real server."""
from __future__ import annotations

import json

from sqlmodel import select

from crm_store.db import session_scope
from crm_store.mailboxes import share_with
from crm_store.models import AuditLog, CrmUser
from handlers.blocks.ids import ActionId
from tests.support.slack import shown_text
from testsupport.stack import REP, REP_GMAIL

CONTACTS = (
    "email,secondary_email,first_name,last_name,company,phone,owner_email,external_id\n"
    "jane@acme.example,jane.doe@acme-holdings.example,Jane,Doe,Acme,+1 555 0100,owner@crm.example,C1\n"
    "john@doe-industries.example,,John,Doe,Doe Industries,,,C2\n"
    "bob@globex.example,,Bob,Smith,Globex,,,C3\n"
)
DEALS = (
    "name,contact_external_id,stage,closing_date,amount,owner_email,external_id\n"
    "Acme renewal,C1,Negotiation,2099-01-15,12500,dealer@crm.example,D1\n"
    "Globex pilot,C3,Closed Won,2026-02-01,500,,D2\n"
)
JANE = "jane@acme.example"


def contact_command(stack, text: str, user: str = REP, command: str = "/contact") -> dict:
    """`/contact <text>`: the answer that replaced "looking…"."""
    response = stack.driver.slash_command(user, command, text)
    assert response.status == 200, response.body
    posts = stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.response_url)
                                          if p.get("replace_original")], timeout=20)
    assert len(stack.slack.response_url_posts(response.response_url)) == 2  # "looking…", then the answer
    return posts[-1]


def buttons(post: dict, action_id: str) -> list[dict]:
    found = []
    for block in post.get("blocks") or []:
        for element in (block.get("elements") or []) + [block.get("accessory") or {}]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                found.append(element)
    return found


def ephemeral_of(stack, user: str, post: dict) -> dict:
    """The ephemeral message a response_url post became (what the user can click on)."""
    messages = [m for m in stack.slack.ephemerals(user) if m.get("response_url_key") == post["key"]]
    return messages[-1]


def click(stack, user: str, post: dict, action_id: str, value: str | None = None) -> list[dict]:
    """Click a button of an ephemeral answer; returns the posts the click's response_url received."""
    message = ephemeral_of(stack, user, post)
    element = buttons(message, action_id)[0] if value is None else {"value": value}
    response = stack.driver.block_action(user, action_id, value=element.get("value"), message=message)
    assert response.status == 200
    return stack.slack.wait_for(lambda: stack.slack.response_url_posts(response.payload["response_url"]), timeout=20)


def open_email(stack, user: str, value: str, *, message: dict | None = None, view: dict | None = None) -> dict:
    """Click "Open" (in a message or a view); returns the detail modal once filled in."""
    before = len(stack.slack.view_calls)
    kwargs = {"view": view} if view is not None else {"message": message}
    response = stack.driver.block_action(user, ActionId.EMAIL_OPEN.value, value=value, **kwargs)
    assert response.status == 200
    calls = stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:] if c["method"] == "views.update"
                                          and c["user_id"] == user], timeout=20)
    return calls[-1]["view"]


def email_lines(post: dict) -> list[str]:
    """The text of each listed email, in order."""
    return [b["text"]["text"] for b in post.get("blocks") or [] if (b.get("block_id") or "").startswith("email_")]


def open_values(post: dict) -> list[dict]:
    return [json.loads(b["value"]) for b in buttons(post, ActionId.EMAIL_OPEN.value)]


def audit_rows(stack) -> list[AuditLog]:
    with session_scope(stack.engine) as session:
        rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
        for row in rows:
            session.expunge(row)
        return rows


def share(stack, owner_email: str, viewer_email: str) -> None:
    with session_scope(stack.engine) as session:
        owner = session.exec(select(CrmUser).where(CrmUser.email == owner_email)).one()
        viewer = session.exec(select(CrmUser).where(CrmUser.email == viewer_email)).one()
        share_with(session, owner, viewer)


def text_of(post: dict) -> str:
    return shown_text(post)


def mail_from_jane(stack, subject: str, *, gmail: str = REP_GMAIL, body: str | None = None, **kwargs) -> str:
    return stack.gmail.insert_message(gmail, sender=f"Jane Doe <{JANE}>", to=gmail, subject=subject,
                                      body=body or f"Body of {subject}", **kwargs)

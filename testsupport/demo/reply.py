"""Scenes 12-13 (F7): Alice opens Jane's latest email (the owner sees the body) and replies from Slack, in the
thread, to the Reply-To; Bruno's audit log says who saw whose emails, with no content."""
from __future__ import annotations

import json

from handlers.blocks.compose import BODY_BLOCK, SUBJECT_BLOCK
from handlers.blocks.ids import ActionId
from testsupport.demo.cast import ALICE, ALICE_GMAIL, BRUNO, NAMES
from testsupport.demo.reading import command, final_answer, indent, people


def show_reply_from_slack(stack) -> None:
    print("\n12. Alice opens Jane's latest email (the owner sees the body) and replies from Slack")
    response = stack.driver.slash_command(ALICE, "/contact", "jane.doe@acme.example")
    post = final_answer(stack, response)
    message = [m for m in stack.slack.ephemerals(ALICE) if m.get("response_url_key") == post["key"]][-1]
    opened = next(e for b in message["blocks"] if (b.get("block_id") or "").startswith("email_")
                  for e in [b["accessory"]])
    detail = _view_after(stack, lambda: stack.driver.block_action(ALICE, ActionId.EMAIL_OPEN.value,
                                                                  value=opened["value"], message=message))
    body = next(b["text"]["text"] for b in detail["blocks"] if (b.get("text") or {}).get("type") == "plain_text")
    print(indent(f"email detail, body: {body}"))
    compose = _view_after(stack, lambda: stack.driver.block_action(ALICE, ActionId.EMAIL_REPLY.value,
                                                                   value=opened["value"], view=detail))
    print(indent(people("reply modal: " + " ".join(b["text"]["text"] for b in compose["blocks"]
                                                   if b.get("type") == "section").replace("\n", " "), NAMES)))
    stack.driver.view_submission(ALICE, compose, values={
        SUBJECT_BLOCK: {"subject": {"type": "plain_text_input", "value": "Re: Renewal: can we sign before the 28th?"}},
        BODY_BLOCK: {"body": {"type": "plain_text_input", "value": "Hi Sam, final version attached. Best, Alice"}}})
    sent = stack.slack.wait_for(lambda: stack.gmail.sent_messages(ALICE_GMAIL), timeout=20)[-1]
    original = stack.gmail.message(ALICE_GMAIL, json.loads(opened["value"])["g"])
    print(indent(f"sent through Alice's Gmail: To: {sent['to']} | In-Reply-To: {sent['headers']['In-Reply-To']} | "
                 f"same thread: {sent['threadId'] == original['threadId']}"))
    confirmation = stack.slack.wait_for(lambda: [m for m in stack.slack.dms(ALICE) if "Sent your reply" in
                                                 (m.get("text") or "")], timeout=20)[-1]
    print(indent(f"DM to Alice: {confirmation['text']}"))

    print("\n13. Bruno (admin): /gmail admin audit -> who saw whose emails (no content in the log)")
    print(indent(people(command(stack, BRUNO, "admin audit"), NAMES)))


def _view_after(stack, click) -> dict:
    """The modal as MailMagnet updated it after `click` (a button in a message or in the modal)."""
    before = len(stack.slack.view_calls)
    click()
    return stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:]
                                         if c["method"] == "views.update"], timeout=20)[-1]["view"]

"""The reply modal opened from an alert's Reply button (SPEC F6)."""
from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from usecases.wording import escape

REPLY_CALLBACK = "alert_reply_modal"
SUBJECT_BLOCK, SUBJECT_ACTION = "reply_subject", "subject"
BODY_BLOCK, BODY_ACTION = "reply_body", "body"


def loading_view() -> dict:
    return View(type="modal", callback_id=REPLY_CALLBACK, title="Reply", close="Cancel",
                blocks=[SectionBlock(text=MarkdownTextObject(text=":hourglass_flowing_sand: Loading the email…"))]
                ).to_dict()


def refusal_view(text: str) -> dict:
    """What the modal shows when the reply cannot be written (not the clicker's mailbox, a stale button…)."""
    return View(type="modal", callback_id=REPLY_CALLBACK, title="Reply", close="Close",
                blocks=[SectionBlock(text=MarkdownTextObject(text=f":no_entry: {text}"[:3000]))]).to_dict()


def reply_view(metadata: dict, *, to: str, mailbox: str, subject: str) -> dict:
    return View(
        type="modal", callback_id=REPLY_CALLBACK, title="Reply", submit="Send", close="Cancel",
        private_metadata=json.dumps(metadata),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"*To:* {escape(to)}\n*From:* {escape(mailbox)}")),
            InputBlock(block_id=SUBJECT_BLOCK, label="Subject",
                       element=PlainTextInputElement(action_id=SUBJECT_ACTION, initial_value=subject[:150],
                                                     max_length=250)),
            InputBlock(block_id=BODY_BLOCK, label="Message",
                       element=PlainTextInputElement(action_id=BODY_ACTION, multiline=True, max_length=3000)),
            ContextBlock(elements=[MarkdownTextObject(text="Sent from your Gmail, in the same thread.")]),
        ],
    ).to_dict()


def submitted_reply(view: dict) -> tuple[str, str]:
    values = view["state"]["values"]
    subject = values[SUBJECT_BLOCK][SUBJECT_ACTION].get("value") or ""
    body = values[BODY_BLOCK][BODY_ACTION].get("value") or ""
    return subject, body

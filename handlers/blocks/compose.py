"""The compose modal (SPEC F6): a new email from `/email`, or a reply from an alert or an email's detail.

A reply shows its recipient (the original's Reply-To, else From, read from Gmail); a new email offers the
contact's addresses to pick from. Both have a subject and a message, and are sent from the rep's own Gmail.
"""
from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from handlers.blocks.ids import COMPOSE_ACTIONS, CallbackId, ComposeField
from usecases.compose import Draft, SentEmail
from handlers.blocks.wording import escape

COMPOSE_CALLBACK = CallbackId.COMPOSE_MODAL.value
RECIPIENTS_SHOWN = 10  # a reply's To in the modal: these many, then how many more (a section holds 3,000 characters)
LEGACY_REPLY_CALLBACK = "alert_reply_modal"  # modals opened by an older version of the alert's Reply
TO_BLOCK, TO_ACTION = ComposeField.TO.value, COMPOSE_ACTIONS[ComposeField.TO]
SUBJECT_BLOCK, SUBJECT_ACTION = ComposeField.SUBJECT.value, COMPOSE_ACTIONS[ComposeField.SUBJECT]
BODY_BLOCK, BODY_ACTION = ComposeField.BODY.value, COMPOSE_ACTIONS[ComposeField.BODY]
FIELD_BLOCKS = {"to": TO_BLOCK, "subject": SUBJECT_BLOCK, "body": BODY_BLOCK}


def loading_view(title: str = "Reply", text: str = "Loading the email…") -> dict:
    return View(type="modal", callback_id=COMPOSE_CALLBACK, title=title, close="Cancel",
                blocks=[SectionBlock(text=MarkdownTextObject(text=f":hourglass_flowing_sand: {text}"))]).to_dict()


def notice_view(text: str, title: str = "MailMagnet") -> dict:
    """What replaces a loading modal when the use case refused (the text is a use case's sentence)."""
    return View(type="modal", callback_id=COMPOSE_CALLBACK, title=title[:24], close="Close",
                blocks=[SectionBlock(text=MarkdownTextObject(text=text[:3000]))]).to_dict()


def compose_view(draft: Draft) -> dict:
    if draft.is_reply:
        metadata = {"a": draft.account_id, "g": draft.reply_to_gmail_id}
        head = [SectionBlock(text=MarkdownTextObject(
            text=f"*To:* {_recipients_line(draft.reply_labels)}\n*From:* {escape(draft.mailbox)}"[:3000]))]
        note = "Sent from your Gmail, in the same thread."
        if len(draft.reply_labels) > RECIPIENTS_SHOWN:
            note = (f"The email asks for replies to {len(draft.reply_labels)} addresses (its Reply-To): yours goes "
                    f"to all {len(draft.reply_labels)}. " + note)
    else:
        metadata = {"a": draft.account_id, "c": draft.contact_ids}
        options = [Option(value=r.address, label=r.label[:75]) for r in draft.recipients if len(r.address) <= 150]
        head = [
            InputBlock(block_id=TO_BLOCK, label="To", element=StaticSelectElement(
                action_id=TO_ACTION, placeholder="Choose an address", options=options[:100],
                initial_option=options[0] if len(options) == 1 else None)),
            SectionBlock(text=MarkdownTextObject(text=f"*From:* {escape(draft.mailbox)}")),
        ]
        note = "Sent from your Gmail: it will be in your Sent folder."
        if draft.more_contacts:
            note += " More contacts match than are listed: type more of the name to narrow it down."
    blocks = head + [
        InputBlock(block_id=SUBJECT_BLOCK, label="Subject", optional=draft.is_reply,
                   element=PlainTextInputElement(action_id=SUBJECT_ACTION, initial_value=draft.subject[:150] or None,
                                                 max_length=250)),
        InputBlock(block_id=BODY_BLOCK, label="Message",
                   element=PlainTextInputElement(action_id=BODY_ACTION, multiline=True, max_length=3000)),
        ContextBlock(elements=[MarkdownTextObject(text=note)]),
    ]
    return View(type="modal", callback_id=COMPOSE_CALLBACK, title="Reply" if draft.is_reply else "New email",
                submit="Send", close="Cancel", private_metadata=json.dumps(metadata), blocks=blocks).to_dict()


def _recipients_line(labels: list[str]) -> str:
    shown = ", ".join(escape(label[:120]) for label in labels[:RECIPIENTS_SHOWN])
    more = len(labels) - RECIPIENTS_SHOWN
    return shown + (f" …and {more} more" if more > 0 else "")


def submitted(view: dict) -> tuple[dict, str | None, str, str]:
    """(private metadata, chosen address, subject, body) of a submitted compose modal."""
    values = (view.get("state") or {}).get("values") or {}
    to = ((values.get(TO_BLOCK, {}).get(TO_ACTION) or {}).get("selected_option") or {}).get("value")
    subject = (values.get(SUBJECT_BLOCK, {}).get(SUBJECT_ACTION) or {}).get("value") or ""
    body = (values.get(BODY_BLOCK, {}).get(BODY_ACTION) or {}).get("value") or ""
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    return metadata if isinstance(metadata, dict) else {}, to, subject, body


def field_errors(errors: dict[str, str], view: dict) -> dict[str, str]:
    """Errors keyed by the modal's own input blocks (Slack refuses others); what has no field goes under the
    message."""
    present = {block.get("block_id") for block in view.get("blocks") or []}
    shown: dict[str, str] = {}
    for name, text in errors.items():
        block = FIELD_BLOCKS.get(name, BODY_BLOCK)
        block = block if block in present else BODY_BLOCK
        shown[block] = (shown[block] + " " if block in shown else "") + text
    return {block: text[:300] for block, text in shown.items()}


def sent_message(sent: SentEmail) -> tuple[str, list[dict]]:
    what = "reply" if sent.reply else "email"
    text = f"Sent your {what} to {escape(sent.to)}"
    line = (f":white_check_mark: Sent your {what} to {escape(sent.to)}"
            + (f": “{escape(sent.subject)}”" if sent.subject else "") + f". <{sent.gmail_url}|Open in Gmail>")
    return text, [SectionBlock(text=MarkdownTextObject(text=line[:3000])).to_dict()]

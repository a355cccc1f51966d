"""MailMagnet alerts (SPEC F3) and digests: what the people in the channel may see, nothing more."""
from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)

from handlers.blocks.ids import AlertAction
from usecases.values import ALERT_EVENT_TYPE, DIGEST_EVENT_TYPE, AlertView, Hidden
from handlers.blocks.wording import escape as _escape, slack_date

MAX_DIGEST_ITEMS = 20
HIDDEN_WORDS = {
    Hidden.SUBJECT: "Subject hidden: the mailbox's sharing settings don't let everyone here see it.",
    Hidden.PREVIEW: "Preview hidden: everyone here may see subjects only.",
}


def _who(view: AlertView) -> str:
    return f"{view.contact_name} ({view.company})" if view.company else view.contact_name


def alert_text(view: AlertView) -> str:
    """Notification text: never the subject, which may not be everyone's to read on a lock screen. Slack renders
    it too (notifications, some clients), so the contact's CRM name and company are escaped like the blocks."""
    return f"New email from {'lead ' if view.is_lead else ''}{_escape(_who(view))}"


def alert_blocks(view: AlertView) -> list[dict]:
    contact = _escape(view.contact_name) + (f"\n{_escape(view.contact_email)}" if view.contact_email else "")
    fields = [
        MarkdownTextObject(text=f"*Contact*\n{contact}"),
        MarkdownTextObject(text=f"*Company*\n{_escape(view.company or '—')}"),
    ]
    if view.is_lead:
        fields += [
            MarkdownTextObject(text=f"*Lead status*\n{_escape(view.lead_status or '—')}"),
            MarkdownTextObject(text=f"*Owner*\n{_escape(view.owner or '—')}"),
        ]
    elif view.crm_details:
        fields += [
            MarkdownTextObject(text=f"*Deals*\n{_escape(view.deal_context or '—')}"),
            MarkdownTextObject(text=f"*Label*\n{_escape(view.category_label or 'none')}"),
        ]
    blocks = [
        SectionBlock(text=MarkdownTextObject(
            text=f":envelope_with_arrow: *New email from {'lead ' if view.is_lead else ''}{_escape(_who(view))}* "
                 f"to <@{view.rep_user_id}> · {slack_date(view.received_at)}")),
        SectionBlock(fields=fields),
    ]
    if view.subject is not None:
        content = f"*Subject:* {_escape(view.subject or '(no subject)')}"
        if view.snippet:
            content += f"\n>{_escape(view.snippet[:500])}"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=content[:3000])))
    if view.hidden is not None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=HIDDEN_WORDS[view.hidden])]))
    reference = json.dumps({"a": view.account_id, "g": view.gmail_id, "c": view.contact_id})
    blocks.append(ActionsBlock(block_id=f"alert_actions_{view.gmail_id}", elements=[
        ButtonElement(text="View contact", action_id=AlertAction.VIEW_CONTACT, value=reference),
        ButtonElement(text="Reply", action_id=AlertAction.REPLY, value=reference, style="primary"),
        ButtonElement(text="Open in Gmail", action_id=AlertAction.OPEN_GMAIL, url=view.gmail_url),
        ButtonElement(text="Mute contact", action_id=AlertAction.MUTE, value=reference, style="danger",
                      confirm=ConfirmObject(title="Mute this contact?",
                                            text=f"No more MailMagnet alerts for {_escape(view.contact_name)} from "
                                                 "this mailbox. Undo with `/gmail unmute`.",
                                            confirm="Mute", deny="Cancel")),
    ]))
    return [b.to_dict() for b in blocks]


def alert_metadata(view: AlertView) -> dict:
    return {"event_type": ALERT_EVENT_TYPE, "event_payload": view.metadata_payload}


def digest_blocks(views: list[AlertView]) -> tuple[str, list[dict]]:
    text = f"MailMagnet digest: {len(views)} email{'s' if len(views) != 1 else ''} from CRM contacts"
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=f":mailbox_with_mail: *{text}*"))]
    for view in views[:MAX_DIGEST_ITEMS]:
        line = f"• *{_escape(_who(view))}* · {slack_date(view.received_at)}"
        if view.is_lead:
            line += f" · lead, {_escape(view.lead_status or 'no status')}"
        elif view.crm_details and view.deal_context:
            line += f" · {_escape(view.deal_context)}"
        if view.subject is not None:
            line += f"\n   _{_escape(view.subject or '(no subject)')}_"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=line[:3000]),
                                   accessory=ButtonElement(text="Open", url=view.gmail_url,
                                                           action_id=AlertAction.OPEN_GMAIL)))
    if len(views) > MAX_DIGEST_ITEMS:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"…and {len(views) - MAX_DIGEST_ITEMS} more in Gmail.")]))
    blocks.append(DividerBlock())
    return text, [b.to_dict() for b in blocks]


def digest_metadata(views: list[AlertView], digest_key: str) -> dict:
    return {"event_type": DIGEST_EVENT_TYPE, "event_payload": {
        "digest": digest_key, "account_id": views[0].account_id, "gmail_ids": [v.gmail_id for v in views]}}

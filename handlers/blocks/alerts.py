"""MailMagnet alerts (SPEC F3) and digests: what the people in the channel may see, nothing more."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import NamedTuple

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


class _AlertTexts(NamedTuple):
    """Every text of an alert's blocks that depends on the alert, in full; None: that part is not shown."""

    header: str
    contact: str
    company: str
    details: tuple[str, str] | None  # the lead's status and owner, or the deals and label
    content: str | None  # subject and preview
    hidden: str | None
    block_id: str
    reference: str  # the buttons' value
    url: str
    mute_confirm: str


def _alert_texts(view: AlertView) -> _AlertTexts:
    details = None
    if view.is_lead:
        details = (f"*Lead status*\n{_escape(view.lead_status or '—')}", f"*Owner*\n{_escape(view.owner or '—')}")
    elif view.crm_details:
        details = (f"*Deals*\n{_escape(view.deal_context or '—')}", f"*Label*\n{_escape(view.category_label or 'none')}")
    content = None
    if view.subject is not None:
        content = f"*Subject:* {_escape(view.subject or '(no subject)')}"
        if view.snippet:
            content += f"\n>{_escape(view.snippet[:500])}"
        content = content[:3000]
    return _AlertTexts(
        header=f":envelope_with_arrow: *New email from {'lead ' if view.is_lead else ''}{_escape(_who(view))}* "
               f"to <@{view.rep_user_id}> · {slack_date(view.received_at)}",
        contact=f"*Contact*\n{_escape(view.contact_name)}"
                + (f"\n{_escape(view.contact_email)}" if view.contact_email else ""),
        company=f"*Company*\n{_escape(view.company or '—')}", details=details, content=content,
        hidden=HIDDEN_WORDS[view.hidden] if view.hidden is not None else None,
        block_id=f"alert_actions_{view.gmail_id}",
        reference=json.dumps({"a": view.account_id, "g": view.gmail_id, "c": view.contact_id}), url=view.gmail_url,
        mute_confirm=f"No more MailMagnet alerts for {_escape(view.contact_name)} from this mailbox. "
                     "Undo with `/gmail unmute`.")


def _alert_models(texts: _AlertTexts) -> list:
    fields = [MarkdownTextObject(text=texts.contact), MarkdownTextObject(text=texts.company)]
    fields += [MarkdownTextObject(text=text) for text in texts.details or ()]
    blocks = [SectionBlock(text=MarkdownTextObject(text=texts.header)), SectionBlock(fields=fields)]
    if texts.content is not None:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=texts.content)))
    if texts.hidden is not None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=texts.hidden)]))
    blocks.append(ActionsBlock(block_id=texts.block_id, elements=[
        ButtonElement(text="View contact", action_id=AlertAction.VIEW_CONTACT, value=texts.reference),
        ButtonElement(text="Reply", action_id=AlertAction.REPLY, value=texts.reference, style="primary"),
        ButtonElement(text="Open in Gmail", action_id=AlertAction.OPEN_GMAIL, url=texts.url),
        ButtonElement(text="Mute contact", action_id=AlertAction.MUTE, value=texts.reference, style="danger",
                      confirm=ConfirmObject(title="Mute this contact?", text=texts.mute_confirm, confirm="Mute",
                                            deny="Cancel")),
    ]))
    return blocks


# slack_sdk's models render and validate an alert's 23 objects in about 0.3 ms, a few percent of the push path's
# CPU budget (issue 17). They still do both, but once per shape of alert (which optional parts it shows), with a
# placeholder for each text; an alert's blocks are that JSON with its own texts put in place of the placeholders
# (whole values: a placeholder starts with a NUL, which no JSON text of ours does). slack_sdk drops empty texts
# and refuses some too long; an alert with an empty text, or one longer than slack_sdk allows where it checks, is
# built by the models themselves, so it renders, or fails, exactly as they make it.
def _slot(name: str) -> str:
    return f"\x00{name}\x00"


_SLOTS = _AlertTexts(
    header=_slot("header"), contact=_slot("contact"), company=_slot("company"),
    details=(_slot("details0"), _slot("details1")), content=_slot("content"), hidden=_slot("hidden"),
    block_id=_slot("block_id"), reference=_slot("reference"), url=_slot("url"), mute_confirm=_slot("mute_confirm"))
_LIMITS = (("header", SectionBlock.text_max_length), ("content", SectionBlock.text_max_length),
           ("block_id", ActionsBlock.block_id_max_length), ("reference", ButtonElement.value_max_length),
           ("url", ButtonElement.url_max_length), ("mute_confirm", ConfirmObject.text_max_length))


@lru_cache(maxsize=32)
def _template(shape: tuple[bool, ...]) -> list[dict]:
    """The blocks of an alert of this shape (which optional texts it has), with placeholders for its texts."""
    slots = _SLOTS._replace(**{name: None for name, present in zip(_AlertTexts._fields, shape) if not present})
    return [block.to_dict() for block in _alert_models(slots)]


def _filled(node, values: dict[str, str]):
    if isinstance(node, dict):
        return {key: _filled(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_filled(value, values) for value in node]
    if isinstance(node, str) and node[:1] == "\x00":
        return values[node]
    return node


def alert_blocks(view: AlertView) -> list[dict]:
    texts = _alert_texts(view)
    pieces = [text for text in texts if isinstance(text, str)] + list(texts.details or ())
    if "" in pieces or any(len(getattr(texts, name) or "") > limit for name, limit in _LIMITS):
        return [block.to_dict() for block in _alert_models(texts)]
    values = {_slot(name): value for name, value in zip(_AlertTexts._fields, texts)
              if isinstance(value, str)}
    if texts.details is not None:
        values |= {_SLOTS.details[0]: texts.details[0], _SLOTS.details[1]: texts.details[1]}
    return _filled(_template(tuple(text is not None for text in texts)), values)


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

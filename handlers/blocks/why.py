"""The answer to `/gmail why`. The reason quotes CRM data and what the user typed: all of it escaped."""
from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from handlers.blocks.wording import escape


def why_blocks(label: str | None, reason: str, message_status: list[str]) -> tuple[str, list[dict]]:
    title = f"Filed under *{escape(label)}*" if label else "Not filed under any label"
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=f"{title}\n{escape(reason)}"[:3000]))]
    if message_status:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=escape("\n".join(message_status))[:2000])]))
    return escape(f"{label or 'Not filed'}: {reason}")[:3000], [b.to_dict() for b in blocks]

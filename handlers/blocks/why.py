"""The answer to `/gmail why`."""
from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock


def why_blocks(label: str | None, reason: str, message_status: list[str]) -> tuple[str, list[dict]]:
    title = f"Filed under *{label}*" if label else "Not filed under any label"
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=f"{title}\n{reason}"[:3000]))]
    if message_status:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="\n".join(message_status)[:2000])]))
    return f"{label or 'Not filed'}: {reason}", [b.to_dict() for b in blocks]

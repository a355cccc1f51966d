"""A CRM contact card: details and deals (plain data in, blocks out). Everything from the CRM is escaped."""
from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from usecases.contacts import ContactCard
from usecases.wording import escape

DEAL_ICONS = {"open": ":large_blue_circle:", "won": ":trophy:", "lost": ":x:"}


def contact_card_blocks(card: ContactCard) -> tuple[str, list[dict]]:
    details = [f"*Email:* {escape(card.email)}"]
    if card.secondary_email:
        details.append(f"*Also:* {escape(card.secondary_email)}")
    if card.company:
        details.append(f"*Company:* {escape(card.company)}")
    if card.phone:
        details.append(f"*Phone:* {escape(card.phone)}")
    if card.owner:
        details.append(f"*Owner:* {escape(card.owner)}")
    details.append(f"*Label:* {escape(card.category_label or 'none')}")
    # A header is plain text: Slack shows it as typed, so it cannot mention anyone.
    blocks: list = [HeaderBlock(text=card.name[:150]), SectionBlock(text=MarkdownTextObject(text="\n".join(details)))]
    if card.deals:
        lines = [f"{DEAL_ICONS.get(d.status, '')} *{escape(d.name)}* · {escape(d.stage)}"
                 + (f" · closing {d.closing_date}" if d.closing_date else "")
                 + (f" · {escape(d.amount)}" if d.amount else "") for d in card.deals[:20]]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=("*Deals*\n" + "\n".join(lines))[:3000])))
    else:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="No deals yet.")]))
    return f"Contact: {card.name}", [b.to_dict() for b in blocks]

"""A CRM contact card: details and deals (plain data in, blocks out)."""
from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock


@dataclass
class DealLine:
    name: str
    stage: str
    closing_date: str | None
    amount: str | None
    status: str  # open / won / lost


@dataclass
class ContactCard:
    name: str
    email: str
    secondary_email: str | None
    company: str | None
    phone: str | None
    owner: str | None
    category_label: str | None
    deals: list[DealLine]


def contact_card_blocks(card: ContactCard) -> tuple[str, list[dict]]:
    details = [f"*Email:* {card.email}"]
    if card.secondary_email:
        details.append(f"*Also:* {card.secondary_email}")
    if card.company:
        details.append(f"*Company:* {card.company}")
    if card.phone:
        details.append(f"*Phone:* {card.phone}")
    if card.owner:
        details.append(f"*Owner:* {card.owner}")
    details.append(f"*Label:* {card.category_label or 'none'}")
    blocks: list = [HeaderBlock(text=card.name[:150]), SectionBlock(text=MarkdownTextObject(text="\n".join(details)))]
    if card.deals:
        icon = {"open": ":large_blue_circle:", "won": ":trophy:", "lost": ":x:"}
        lines = [f"{icon.get(d.status, '')} *{d.name}* · {d.stage}"
                 + (f" · closing {d.closing_date}" if d.closing_date else "")
                 + (f" · {d.amount}" if d.amount else "") for d in card.deals[:20]]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=("*Deals*\n" + "\n".join(lines))[:3000])))
    else:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="No deals yet.")]))
    return f"Contact: {card.name}", [b.to_dict() for b in blocks]

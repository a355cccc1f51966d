"""A CRM contact: the card, the emails exchanged with them, one email's detail, and the picker when several
contacts match (plain data in, blocks out). Everything from the CRM, Slack users or Gmail is escaped."""
from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from handlers.blocks.ids import ActionId, CallbackId
from handlers.blocks.wording import DEPTH_TITLES, escape, slack_date
from usecases.contact_emails import EmailLine, EmailPage, EmailsNote, MailboxTag, RecentEmails
from usecases.contacts import ContactCard, ContactChoices, ContactView, NoContact
from usecases.email_detail import EmailDetail
from usecases.values import AuditSurface

Reply = tuple[str, list[dict]]
EMAILS_NOTES = {
    EmailsNote.GMAIL_NOT_SET_UP: "Gmail is not set up on this MailMagnet server, so no emails can be shown.",
    EmailsNote.MAGNET_OFF: "Turn MailMagnet on to see your latest emails from CRM contacts here.",
}
DEAL_ICONS = {"open": ":large_blue_circle:", "won": ":trophy:", "lost": ":x:"}
BODY_CHUNK = 2900
HEADER_LIMIT = 200

# A second look-up (or "Show more") while the person's previous one is still being fetched (fanout.ViewInFlight).
STILL_LOOKING = (":hourglass_flowing_sand: I'm still looking up your previous request: one at a time, so that "
                 "everyone's mailboxes answer quickly. Try again once it has answered.")

USAGE = ("*Usage*\n• `/contact <email or name>` — a CRM contact's card and the latest emails exchanged with them "
         "in every mailbox you may see\n• `/email <contact email or name>` — write to a contact from your Gmail")


def _short(text: str, limit: int = HEADER_LIMIT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:3000]))


def usage(problem: str | None = None) -> Reply:
    text = (f"{problem}\n\n" if problem else "") + USAGE
    return text, [_section(text).to_dict()]


def looking(query: str) -> Reply:
    text = f":mag: Looking up “{escape(_short(query, 80))}”…"
    return text, [_section(text).to_dict()]


def notice(text: str) -> Reply:
    return text, [_section(text).to_dict()]


# -- the card ---------------------------------------------------------------------------------------

def card_blocks(card: ContactCard) -> list:
    details = [f"*Email:* {escape(card.email)}"]
    if card.secondary_email:
        details.append(f"*Also:* {escape(card.secondary_email)}")
    if card.company:
        details.append(f"*Company:* {escape(card.company)}")
    if card.phone:
        details.append(f"*Phone:* {escape(card.phone)}")
    if card.owner:
        details.append(f"*Owner:* {escape(card.owner)}")
    if card.is_lead:
        details.append(f"*Lead status:* {escape(card.lead_status or 'none')}")
    else:
        details.append(f"*Label:* {escape(card.category_label or 'none')}")
    # A header is plain text: Slack shows it as typed, so it cannot mention anyone.
    blocks: list = [HeaderBlock(text=(f"Lead: {card.name}" if card.is_lead else card.name)[:150]),
                    _section("\n".join(details))]
    if card.is_lead:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="A lead: no deals until it is converted.")]))
    elif card.deals:
        lines = [f"{DEAL_ICONS.get(d.status, '')} *{escape(d.name)}* · {escape(d.stage)}"
                 + (f" · closing {d.closing_date}" if d.closing_date else "")
                 + (f" · {escape(d.amount)}" if d.amount else "") for d in card.deals[:20]]
        blocks.append(_section("*Deals*\n" + "\n".join(lines)))
    else:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="No deals yet.")]))
    return blocks


# -- the emails -------------------------------------------------------------------------------------

def _mailbox(tag: MailboxTag) -> str:
    return "your mailbox" if tag.own else f"<@{tag.owner_slack_id}>'s mailbox"


def _where(tags: list[MailboxTag]) -> str:
    names = [_mailbox(tag) for tag in tags]
    return "in " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1])


def _hidden(tag: MailboxTag) -> str:
    return f"_subject hidden by <@{tag.owner_slack_id}>'s sharing settings_"


def email_line_blocks(line: EmailLine, index: int) -> list:
    icon = ":outbox_tray:" if line.sent else ":inbox_tray:"
    subject = (f"*{escape(_short(line.subject) or '(no subject)')}*" if line.subject is not None
               else _hidden(line.mailboxes[0]))
    people = f"{escape(_short(line.from_header, 120))} → {escape(_short(line.to_header, 120))}"
    if line.cc_header:
        people += f" (cc {escape(_short(line.cc_header, 80))})"
    text = f"{icon} {subject}\n{people}\n{slack_date(line.received_at)} · {_where(line.mailboxes)}"
    blocks: list = [SectionBlock(block_id=f"email_{index}", text=MarkdownTextObject(text=text[:3000]),
                                 accessory=ButtonElement(text="Open", action_id=ActionId.EMAIL_OPEN.value,
                                                         value=json.dumps(line.ref.value())))]
    if line.snippet:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"“{escape(_short(line.snippet, 300))}”")]))
    return blocks


def _unavailable(tags: list[MailboxTag]) -> str:
    names = ", ".join(_mailbox(tag) for tag in tags)
    return f":warning: Unavailable right now: {names}. Gmail did not answer in time; the others are shown."


def email_page_blocks(page: EmailPage, *, continued: bool = False) -> list:
    if continued:
        last = page.first_number + len(page.lines) - 1
        title = (f"*Older emails with {escape(page.contact_name)}* ({page.first_number}–{last})" if page.lines
                 else f"*No older emails with {escape(page.contact_name)}*")
    else:
        title = f"*Latest emails with {escape(page.contact_name)}*"
    blocks: list = [_section(title)]
    if page.note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=EMAILS_NOTES[page.note])]))
    elif not page.mailboxes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text="You may see nobody's emails with this contact: connect your own Gmail (`/gmail connect`); "
                 "colleagues' mailboxes show here as far as their sharing settings allow.")]))
    elif not page.lines and not page.unavailable:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text="No emails with this contact in the mailboxes you may see.")]))
    for index, line in enumerate(page.lines, start=page.first_number):
        blocks.extend(email_line_blocks(line, index))
    if page.unavailable:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_unavailable(page.unavailable))]))
    if page.lines and not continued:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"From {page.mailboxes} mailbox{'es' if page.mailboxes != 1 else ''} you may see, live from Gmail; "
                 "MailMagnet keeps no copy. Colleagues' emails show only what their sharing settings allow.")]))
    if page.more_id:
        blocks.append(ActionsBlock(block_id=f"contact_more_{page.first_number}", elements=[
            ButtonElement(text="Show more", action_id=ActionId.CONTACT_MORE.value, value=page.more_id)]))
    return blocks


def contact_view_blocks(view: ContactView) -> Reply:
    blocks = card_blocks(view.card) + [DividerBlock()] + email_page_blocks(view.emails)
    return f"Contact: {escape(view.card.name)}", [b.to_dict() for b in blocks[:50]]


def more_emails_blocks(page: EmailPage) -> Reply:
    return f"Older emails with {escape(page.contact_name)}", [b.to_dict() for b in email_page_blocks(page, continued=True)]


# -- several matches, none --------------------------------------------------------------------------

def choices_blocks(choices: ContactChoices, surface: AuditSurface) -> Reply:
    text = f"Several contacts match “{escape(_short(choices.query, 80))}”"
    blocks: list = [_section(f"Several contacts match “{escape(_short(choices.query, 80))}”: which one?")]
    for match in choices.matches:
        line = f"*{escape(match.name)}*" + (f" · {escape(match.company)}" if match.company else "")
        line += f"\n{escape(match.email)}"
        blocks.append(SectionBlock(block_id=f"pick_{match.id}", text=MarkdownTextObject(text=line),
                                   accessory=ButtonElement(text="Show", action_id=ActionId.CONTACT_PICK.value,
                                                           value=json.dumps({"c": match.id, "s": surface.value}))))
    if choices.more:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text="More contacts match: add a word (or use their email) to narrow it down.")]))
    return text, [b.to_dict() for b in blocks]


def no_contact_blocks(none: NoContact) -> Reply:
    text = f"No CRM contact matches “{escape(_short(none.query, 80))}”."
    line = f"No CRM contact matches “{escape(_short(none.query, 80))}”."
    if none.closest:
        names = ", ".join(f"*{escape(m.name)}*" + (f" ({escape(m.company)})" if m.company else "")
                          + f" {escape(m.email)}" for m in none.closest)
        line += f"\nClosest names: {names}"
    else:
        line += "\nTry part of their name, their company, or their email address."
    return text, [_section(line).to_dict()]


# -- one email (a modal) ----------------------------------------------------------------------------

def loading_detail() -> dict:
    return View(type="modal", callback_id=CallbackId.EMAIL_DETAIL_MODAL.value, title="Email", close="Close",
                blocks=[_section(":hourglass_flowing_sand: Opening the email…")]).to_dict()


def detail_notice(text: str) -> dict:
    return View(type="modal", callback_id=CallbackId.EMAIL_DETAIL_MODAL.value, title="Email", close="Close",
                blocks=[_section(text)]).to_dict()


def email_detail_view(detail: EmailDetail) -> dict:
    subject = (f"*{escape(_short(detail.subject, 250) or '(no subject)')}*" if detail.subject is not None
               else _hidden(detail.mailbox))
    fields = [f"*From*\n{escape(_short(detail.from_header))}", f"*To*\n{escape(_short(detail.to_header))}",
              f"*Date*\n{slack_date(detail.received_at)}", f"*Mailbox*\n{_mailbox(detail.mailbox)}"]
    if detail.cc_header:
        fields.insert(2, f"*Cc*\n{escape(_short(detail.cc_header))}")
    blocks: list = [_section(subject), SectionBlock(fields=[MarkdownTextObject(text=f) for f in fields])]
    if detail.body is not None:
        blocks.append(DividerBlock())
        body = detail.body.strip() or "(no text)"
        # Plain text: the message is shown as written, and nothing in it can mention anyone or link anywhere.
        for start in range(0, min(len(body), BODY_CHUNK * 5), BODY_CHUNK):
            blocks.append(SectionBlock(text=PlainTextObject(text=body[start:start + BODY_CHUNK], emoji=False)))
        if detail.body_truncated or len(body) > BODY_CHUNK * 5:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text="The rest is in Gmail.")]))
    elif detail.snippet:
        blocks.append(_section(f"“{escape(_short(detail.snippet, 500))}”"))
    buttons = []
    if detail.can_reply:
        buttons.append(ButtonElement(text="Reply", action_id=ActionId.EMAIL_REPLY.value, style="primary",
                                     value=json.dumps(detail.ref.value())))
    if detail.gmail_url:
        buttons.append(ButtonElement(text="Open in Gmail", action_id=ActionId.EMAIL_OPEN_GMAIL.value,
                                     url=detail.gmail_url))
    if buttons:
        blocks.append(ActionsBlock(block_id="email_actions", elements=buttons))
    if detail.mailbox.own:
        note = "From your mailbox, live from Gmail: MailMagnet keeps no copy."
    else:
        depth = DEPTH_TITLES.get(detail.level.depth_name, detail.level.depth_name).lower()
        note = (f"<@{detail.mailbox.owner_slack_id}>'s sharing settings let you see this email's "
                f"{'metadata' if depth == 'metadata' else depth + ' level'}; never its body. "
                "This view is recorded in MailMagnet's audit log.")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
    return View(type="modal", callback_id=CallbackId.EMAIL_DETAIL_MODAL.value, title="Email", close="Close",
                private_metadata=json.dumps(detail.ref.value()), blocks=blocks[:100]).to_dict()


# -- the App Home's recent customer emails ----------------------------------------------------------

def recent_emails_blocks(recent: RecentEmails | None) -> list:
    if recent is None:
        return []
    blocks: list = [DividerBlock(), _section("*Recent emails from your CRM contacts*")]
    if recent.note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=EMAILS_NOTES[recent.note])]))
    elif recent.unavailable:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=":warning: Unavailable right now: Gmail did not answer in time.")]))
    elif not recent.lines:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text="None yet. `/contact <name>` shows every email with a contact.")]))
    for index, line in enumerate(recent.lines, start=1):
        name = recent.contacts.get(line.ref.contact_id)
        section = email_line_blocks(line, index)
        if name:
            section.insert(0, ContextBlock(elements=[MarkdownTextObject(text=f"*{escape(name)}*")]))
        blocks.extend(section)
    return blocks

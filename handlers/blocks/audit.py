"""`/gmail admin audit`: who saw whose emails, newest first, with an "Older" button (plain data in, blocks out)."""
from __future__ import annotations

import json
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from handlers.blocks.ids import ActionId
from handlers.blocks.wording import slack_date
from usecases.audit import AuditPage, AuditRow
from usecases.values import AuditSurface
from handlers.blocks.wording import escape

SURFACE_WORDS = {AuditSurface.CONTACT_VIEW: "in /contact", AuditSurface.EMAIL_DETAIL: "opened in full",
                 AuditSurface.APP_HOME: "on the App Home", AuditSurface.SHORTCUT: "through the message shortcut",
                 AuditSurface.CHANNEL_ALERT: "in an alert"}
ROWS_PER_SECTION = 5


def _viewer(row: AuditRow, reader_team: str | None) -> str:
    """Who looked: the Slack user and workspace recorded with the view, and the CRM user (SPEC §1). A mention
    renders only in the reader's own workspace; elsewhere the ids are shown as they are."""
    crm_user = escape(row.viewer_email)
    if not row.viewer_slack_id:
        return f"{crm_user} (Slack user not recorded)"
    if row.viewer_team_id == reader_team:
        return f"<@{escape(row.viewer_slack_id)}> ({crm_user})"
    return (f"{crm_user} (Slack user `{escape(row.viewer_slack_id)}` of workspace "
            f"`{escape(row.viewer_team_id or '?')}`)")


def audit_line(row: AuditRow, reader_team: str | None) -> str:
    viewer = _viewer(row, reader_team)
    owner = (f"<@{row.mailbox_owner_slack_id}>'s mailbox ({escape(row.mailbox_address)})"
             if row.mailbox_owner_slack_id else f"{escape(row.mailbox_address)} (disconnected since)")
    where = SURFACE_WORDS.get(row.surface, escape(row.surface))
    if row.surface == AuditSurface.CHANNEL_ALERT and row.channel_id:
        where += f" in <#{row.channel_id}>"
    contact = f" with {escape(row.contact_name)}" if row.contact_name else ""
    return (f"{slack_date(row.viewed_at)} · {viewer} saw an email{contact} from {owner} {where} · "
            f"{escape(row.depth or '?')}")


def audit_blocks(page: AuditPage, *, user: str | None, since: datetime | None, own_team: str | None) -> tuple[str, list[dict]]:
    scope = [f"for <@{user}>" if user else None, f"since {slack_date(since)}" if since else None]
    title = "*MailMagnet audit log* " + " ".join(s for s in scope if s)
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=title.strip()))]
    if page.workspace is not None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text="As a Slack workspace admin you see views by this workspace's people and of its mailboxes.")]))
    if not page.rows:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="No views recorded" + (" (for these filters)."
                                                                                       if user or since else "."))))
    lines = [audit_line(row, page.reader_team) for row in page.rows]
    for start in range(0, len(lines), ROWS_PER_SECTION):
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(lines[start:start + ROWS_PER_SECTION])[:3000])))
    if page.older_than is not None:
        value = json.dumps({"u": user, "s": since.isoformat() if since else None, "b": page.older_than})
        blocks.append(ActionsBlock(block_id=f"audit_older_{page.older_than}", elements=[
            ButtonElement(text="Older", action_id=ActionId.AUDIT_OLDER.value, value=value)]))
    text = f"MailMagnet audit log: {len(page.rows)} view{'s' if len(page.rows) != 1 else ''}"
    return text, [b.to_dict() for b in blocks]

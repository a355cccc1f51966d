"""The admin overview (`/gmail admin status`, the App Home's admin section): one line per rep, problems first."""
from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from handlers.blocks.wording import escape, on_off, slack_date
from usecases.values import RepRow, RepState, TeamOverview

ORDER = [RepState.REVOKED, RepState.FAILING, RepState.NEVER_CONNECTED, RepState.CONNECTED, RepState.NOT_GRANTED]
STATE_WORDS = {
    RepState.REVOKED: "access revoked",
    RepState.FAILING: "failing",
    RepState.NEVER_CONNECTED: "never connected",
    RepState.CONNECTED: "connected",
    RepState.NOT_GRANTED: "not granted",
}
STATE_ICONS = {
    RepState.REVOKED: ":no_entry:",
    RepState.FAILING: ":red_circle:",
    RepState.NEVER_CONNECTED: ":white_circle:",
    RepState.CONNECTED: ":large_green_circle:",
    RepState.NOT_GRANTED: ":heavy_minus_sign:",
}
SECTION_CHARS = 2900


def summary(overview: TeamOverview) -> str:
    counts = [f"{overview.count(state)} {STATE_WORDS[state]}" for state in ORDER if overview.count(state)]
    reps = len(overview.rows)
    return f"{reps} CRM user{'s' if reps != 1 else ''}" + (f": {', '.join(counts)}" if counts else "")


def rep_line(row: RepRow) -> str:
    who = f"<@{row.slack_user_id}>" if row.slack_user_id else escape(row.name or row.email)
    parts = [f"{STATE_ICONS[row.state]} {who} {escape(row.email)}"]
    if row.role:
        parts[0] += f" ({escape(row.role)})"
    if row.state is RepState.REVOKED:
        parts.append(f"*access revoked* — Gmail {escape(row.mailbox or '')}, they must reconnect")
    elif row.state is RepState.FAILING:
        since = f" since {slack_date(row.failing_since)}" if row.failing_since else ""
        parts.append(f"*failing*{since}: {escape((row.last_error or 'unknown error')[:120])}")
    elif row.state is RepState.NEVER_CONNECTED:
        parts.append("granted, never connected")
    elif row.state is RepState.NOT_GRANTED:
        parts.append("no Mail Integration")
    else:
        parts.append(f"connected as {escape(row.mailbox or '')}")
    if row.mailbox:
        parts.append(f"last sync {slack_date(row.last_sync_at, never='never')}")
        parts.append(f"{row.quota_units_today} quota units today")
        parts.append(f"alerts {on_off(row.alerts_on)}, labels {on_off(row.labels_on)}")
    return " · ".join(parts)


def overview_blocks(overview: TeamOverview, *, max_sections: int = 40) -> list[dict]:
    """The overview as blocks: a summary, then the reps (problems first) in sections of lines."""
    where = "your workspace" if overview.workspace is not None else "the whole organisation"
    blocks = [HeaderBlock(text="Team overview").to_dict(),
              ContextBlock(elements=[MarkdownTextObject(text=f"{summary(overview)} — {where}")]).to_dict()]
    rows = sorted(overview.rows, key=lambda r: (ORDER.index(r.state), r.email))
    sections: list[str] = []
    current = ""
    shown = 0
    for row in rows:
        line = rep_line(row)
        if current and len(current) + len(line) + 1 > SECTION_CHARS:
            if len(sections) + 1 >= max_sections:
                break
            sections.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
        shown += 1
    if current:
        sections.append(current)
    blocks += [SectionBlock(text=MarkdownTextObject(text=text)).to_dict() for text in sections]
    if shown < len(rows):
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"…and {len(rows) - shown} more: `mailmagnet users list` lists everyone.")]).to_dict())
    if not rows:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text="No CRM user is linked to Slack yet. `/gmail admin grant @usergroup` onboards a team.")).to_dict())
    return blocks


def overview_reply(overview: TeamOverview) -> tuple[str, list[dict]]:
    return f"Team overview: {summary(overview)}", overview_blocks(overview)

"""Follow-up nudges (SPEC §3): who is waiting, on which deal, for how long; Reply, Snooze 1 day, Done."""
from __future__ import annotations

import json
from datetime import timedelta

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from handlers.blocks.ids import FollowupAction
from handlers.blocks.wording import escape
from usecases.values import FollowupNudge

FOLLOWUP_EVENT_TYPE = "mailmagnet_followup"


def waited_words(waited: timedelta) -> str:
    hours = int(waited.total_seconds() // 3600)
    if hours < 48:
        return f"{max(hours, 1)} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def _who(nudge: FollowupNudge) -> str:
    name = escape(nudge.contact_name)
    return f"{name} ({escape(nudge.company)})" if nudge.company else name


def followup_text(nudge: FollowupNudge) -> str:
    return f"{_who(nudge)} has been waiting {waited_words(nudge.waited)} for your reply"


def followup_blocks(nudge: FollowupNudge) -> list[dict]:
    if nudge.deal_name:
        deal = f"*Deal:* {escape(nudge.deal_name)} · {escape(nudge.deal_stage or '')}"
    else:
        deal = "*Lead:* no deals yet" if nudge.is_lead else "*Deal:* none"
    epoch = int(nudge.received_at.timestamp())
    value = json.dumps({"f": nudge.followup_id, "a": nudge.account_id})
    blocks = [
        SectionBlock(text=MarkdownTextObject(
            text=f":hourglass_flowing_sand: *{followup_text(nudge)}*\n{escape(nudge.contact_email)}\n{deal}")),
        ContextBlock(elements=[MarkdownTextObject(
            text=f"Their email came <!date^{epoch}^{{date_short_pretty}} at {{time}}|"
                 f"{nudge.received_at:%Y-%m-%d %H:%M} UTC> and nobody has replied in the thread since.")]),
        ActionsBlock(block_id=f"followup_{nudge.followup_id}", elements=[
            ButtonElement(text="Reply", action_id=FollowupAction.REPLY, value=value, style="primary"),
            ButtonElement(text="Snooze 1 day", action_id=FollowupAction.SNOOZE, value=value),
            ButtonElement(text="Done", action_id=FollowupAction.DONE, value=value),
            ButtonElement(text="Open in Gmail", action_id=FollowupAction.OPEN_GMAIL, url=nudge.gmail_url),
        ]),
    ]
    return [block.to_dict() for block in blocks]


def followup_metadata(nudge: FollowupNudge) -> dict:
    return {"event_type": FOLLOWUP_EVENT_TYPE, "event_payload": {"followup_id": nudge.followup_id}}


def followups_setting_words(enabled: bool, hours: int, working_hours: str) -> str:
    if not enabled:
        return "Follow-ups are *off*: no nudges about unanswered customer email."
    return (f"Follow-ups are *on*: a customer email left without your reply for {hours} working hours "
            f"({escape(working_hours)}, Monday to Friday, your time zone) gets one nudge in this DM.")


def snoozed_words() -> str:
    return "Snoozed: you'll be nudged again in a day if the thread is still unanswered."


def done_words() -> str:
    return "Marked done: no more nudges for this thread."

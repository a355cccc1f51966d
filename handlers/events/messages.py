"""What a person types in MailMagnet's Messages tab (message.im): answered with the commands, never silence.

The tab stays writable (app.yaml `messages_tab_read_only_enabled: false`): it is where alerts and digests
arrive, and people type "help" where the bot talks to them. MailMagnet keeps nothing of what is typed there
and logs none of it; it answers "help" (and greetings) with the commands, anything else with one line saying
where the commands are. Answers are throttled per DM (usecases/throttle.py: two at once, then one per 5 s): a
flood typed there gets a couple, the rest are dropped and counted (`mailmagnet_dm_answers_dropped_total`), so it never runs into Slack's
per-channel rate with retries sleeping on the listener threads.
"""
from __future__ import annotations

import logging

from slack_bolt import BoltContext
from slack_sdk import WebClient

from handlers.blocks.commands import dm_help, dm_pointer
from telemetry.metrics import DM_ANSWERS_DROPPED
from usecases.values import Services
from usecases.throttle import dm_answers

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"help", "?", "hi", "hello", "hey", "/gmail", "/gmail help", "commands"})


def typed_by_a_person_in_the_dm(event: dict) -> bool:
    """A new message a person wrote in the app's DM: not the bot's own posts (Slack sends those too), not an
    edit, deletion or join (subtypes), not another app's."""
    return (event.get("channel_type") == "im" and not event.get("subtype") and not event.get("bot_id")
            and bool(event.get("user")))


def answer_to(text: str) -> tuple[str, list[dict]]:
    words = " ".join((text or "").lower().split())[:40].strip(" .!")
    return dm_help() if words in HELP_WORDS else dm_pointer()


def message_in_the_dm(event: dict, client: WebClient, context: BoltContext, services: Services):
    if not dm_answers(services).allow((context.team_id or context.enterprise_id, event.get("channel"))):
        DM_ANSWERS_DROPPED.inc()
        return
    text, blocks = answer_to(event.get("text") or "")
    client.chat_postMessage(channel=event["channel"], text=text, blocks=blocks, thread_ts=event.get("thread_ts"))


def other_messages():
    pass

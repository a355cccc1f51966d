"""What a person reads in Slack, from what the Slack emulator recorded: the demo prints these lines."""
from __future__ import annotations

import re

from testsupport.stack import TEAM


def readable(post: dict) -> str:
    """What a person reads in Slack: the blocks' texts, else the fallback text."""
    lines = []
    for block in post.get("blocks") or []:
        for item in [block.get("text")] + list(block.get("fields") or []) + list(block.get("elements") or []):
            if isinstance(item, dict) and item.get("type") in ("mrkdwn", "plain_text") and item.get("text"):
                lines.append(item["text"])
    return "\n".join(lines) or post.get("text", "")


def command(stack, user_id: str, text: str) -> str:
    return readable(stack.command(user_id, text))


def escaped_command(stack, user_id: str, text: str) -> dict:
    """A command typed with a mention Slack escapes (`@sales` → `<!subteam^…|@sales>`)."""
    response = stack.driver.slash_command(user_id, "/gmail", text, escape=True)
    return stack.slack.wait_for(lambda: next(iter(stack.slack.response_url_posts(response.response_url)), None),
                                timeout=15)


def indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.strip().splitlines()[:24])


def final_answer(stack, response) -> dict:
    """The answer that replaced "looking…" in a /contact response_url."""
    return stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.response_url)
                                         if p.get("replace_original")], timeout=20)[-1]


def people(text: str, names: dict[str, str]) -> str:
    """Slack's markup as a person reads it: @names, dates, and &lt;/&gt;/&amp; as characters."""
    for user_id, name in names.items():
        text = text.replace(f"<@{user_id}>", f"@{name}")
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def email_lines(post: dict, names: dict[str, str]) -> str:
    """The emails a /contact answer lists, one line each (its preview, if shown, on the same line)."""
    lines = []
    for block in post.get("blocks") or []:
        if (block.get("block_id") or "").startswith("email_"):
            lines.append(" | ".join(block["text"]["text"].split("\n")))
        elif block.get("type") == "context" and lines and block["elements"][0]["text"].startswith("“"):
            lines[-1] += f"  {block['elements'][0]['text']}"
        elif block.get("type") == "context" and not lines:
            lines.append(block["elements"][0]["text"])
    return people("\n".join(lines) or "(no emails shown)", names)


def newest_dm(stack, user_id: str, event_type: str) -> dict:
    """The newest message of a kind (its metadata's event type: an alert, a follow-up) in the user's DM."""
    dm = stack.slack.dm_channel(TEAM, user_id)
    return [m for m in stack.slack.messages(dm) if (m.get("metadata") or {}).get("event_type") == event_type][-1]

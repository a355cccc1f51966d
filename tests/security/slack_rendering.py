"""What Slack renders of everything the bot sent, read back from the Slack emulator's recordings: for the
escaping attacks (a CRM record or an email carrying `<!channel>`, `<@U…>` or a disguised link)."""
from __future__ import annotations

import json
from typing import Any, Iterator

# Keys whose values Slack never shows as text (ids, button values, URLs a button opens, metadata) or that are
# not the message itself.
NOT_RENDERED = {"value", "url", "private_metadata", "action_id", "block_id", "callback_id", "external_id",
                "metadata", "channel", "user", "users", "ts", "thread_ts", "response_url", "trigger_id", "token",
                "view_id", "hash", "key", "time", "status", "error", "image_url", "unfurl_links", "unfurl_media",
                "response_type", "replace_original", "delete_original", "initial_conversation", "initial_user",
                "initial_channel", "team_id", "user_id", "include_num_members", "limit", "cursor", "oldest",
                "include_all_metadata", "method", "state", "id", "team", "app_id", "bot_id", "root_view_id",
                "previous_view_id", "type", "style", "emoji",
                # What an input starts with: the text the user edits and sends as typed (a reply's subject).
                "initial_value"}
# Slack mrkdwn that mentions, links or names a channel: the markup an attacker hides in CRM data or mail.
HOSTILE_MARKUP = ("<!channel", "<!here", "<!everyone", "<!subteam", "<@U0ATTACK", "<#C0EVIL", "<https://evil",
                  "<http://evil", "<mailto:evil")


def _decoded(value: Any) -> Any:
    """slack_sdk posts blocks and views as JSON strings in form bodies."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def rendered_strings(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) for every string of a payload Slack renders as mrkdwn or shows in a notification: plain_text
    objects are shown as typed (no mentions, no links), so they are left out."""
    node = _decoded(node)
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            return
        for key, value in node.items():
            if key in NOT_RENDERED:
                continue
            yield from rendered_strings(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from rendered_strings(item, f"{where}[{index}]")
    elif isinstance(node, str):
        yield where, node


def plain_strings(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every plain_text object: shown as typed, but still capped by Slack."""
    node = _decoded(node)
    if isinstance(node, dict):
        if node.get("type") == "plain_text" and isinstance(node.get("text"), str):
            yield where, node["text"]
            return
        for key, value in node.items():
            yield from plain_strings(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from plain_strings(item, f"{where}[{index}]")


def everything_sent(slack) -> Iterator[tuple[str, Any]]:
    """(what, payload) of every Web API call and every response_url post the emulator recorded."""
    for call in slack.calls:
        yield call.method, call.params
    for post in slack.response_url_posts():
        yield f"response_url {post['key'][:8]}", post.get("body")


def escaped_twice_shown(slack, extra: list[tuple[str, Any]] = ()) -> list[str]:
    """Text escaped twice (Gmail's HTML-escaped snippet escaped again): the reader would see `&lt;`."""
    found = []
    for what, payload in [*everything_sent(slack), *extra]:
        for path, text in rendered_strings(payload):
            if any(twice in text for twice in ("&amp;lt;", "&amp;gt;", "&amp;amp;")):
                found.append(f"{what} {path}: {text[:160]!r}")
    return found


def hostile_markup_shown(slack, extra: list[tuple[str, Any]] = ()) -> list[str]:
    """Each place where Slack would render markup hidden in CRM data or mail, as `what path: text`."""
    found = []
    for what, payload in [*everything_sent(slack), *extra]:
        for path, text in rendered_strings(payload):
            for markup in HOSTILE_MARKUP:
                if markup.lower() in text.lower():
                    found.append(f"{what} {path}: {text[:160]!r}")
                    break
    return found

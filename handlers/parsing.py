"""What a rep types after `/gmail`, as Slack sends it (the manifest sets should_escape: true).

Slack escapes mentions as `<@U123|name>`, channels as `<#C123|name>` and
e-mail addresses as `<mailto:a@b.example|a@b.example>`; people also type bare
`#name`, `C123` or `a@b.example`. Every parser returns plain values or raises
UsageError, which the dispatcher turns into a usage message.
"""
from __future__ import annotations

import itertools
import re

from usecases.settings import ChannelChoice
from usecases.values import InvalidInput, is_valid_address

_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]{2,30})(?:\|([^>]*))?>$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,30}$")
_CHANNEL_NAME = re.compile(r"^#([a-z0-9][a-z0-9._\-]{0,79})$")
_USERGROUP = re.compile(r"^<!subteam\^([A-Z0-9]{2,30})(?:\|([^>]*))?>$")
_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")
_CLOCK_RANGE = re.compile(r"^(\d{1,2}(?::\d{2})?)\s*(?:-|–|to)\s*(\d{1,2}(?::\d{2})?)$")

ON_WORDS = {"on", "enable", "enabled", "yes", "true"}
OFF_WORDS = {"off", "disable", "disabled", "no", "false"}


class UsageError(InvalidInput):
    """Input the dispatcher answers with the usage of `topic` (a subcommand, or None for all)."""

    def __init__(self, message: str, topic: str | None = None):
        super().__init__(message)
        self.topic = topic


def shown(text: str, limit: int = 40) -> str:
    """User input echoed back inside `code`: shortened, and unable to mention anyone or break formatting."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def on_off(args: list[str], topic: str) -> bool:
    if len(args) != 1:
        raise UsageError(f"`/gmail {topic}` takes `on` or `off`.", topic)
    word = args[0].lower()
    if word in ON_WORDS:
        return True
    if word in OFF_WORDS:
        return False
    raise UsageError(f"`{shown(args[0])}` is neither `on` nor `off`.", topic)


def mentioned_user(word: str, topic: str) -> str:
    """The Slack user id of an escaped mention."""
    match = _MENTION.match(word)
    if match:
        return match.group(1)
    if word.startswith("@"):
        raise UsageError(f"I could not tell who `{shown(word)}` is: pick the person from Slack's autocomplete "
                         "so the command carries a real mention.", topic)
    raise UsageError(f"`{shown(word)}` is not a mention of a Slack user (type `@` and pick someone).", topic)


def channel_choice(word: str, topic: str) -> ChannelChoice:
    match = _CHANNEL.match(word)
    if match:
        return ChannelChoice(match.group(1), match.group(2) or None)
    if _CHANNEL_ID.match(word):
        return ChannelChoice(word, None)
    match = _CHANNEL_NAME.match(word.lower())
    if match:
        return ChannelChoice(None, match.group(1))
    raise UsageError(f"`{shown(word)}` is not a channel: use `dm` or `#channel`.", topic)


def usergroup_id(word: str) -> str | None:
    """The id of an escaped user group mention (`<!subteam^S123|@sales>`), else None."""
    match = _USERGROUP.match(word)
    return match.group(1) if match else None


def email_address(word: str, topic: str) -> str:
    match = _MAILTO.match(word)
    address = (match.group(1) if match else word).strip().lower()
    if not is_valid_address(address) or len(address) > 320 or any(ord(c) < 32 or ord(c) == 127 for c in address):
        raise UsageError(f"`{shown(word)}` is not an e-mail address.", topic)
    return address


def clock_range(args: list[str], topic: str) -> tuple[str, str]:
    """'22:00-07:00' (also '22:00 - 07:00', '22 to 7') -> ('22:00', '07:00'), not yet validated as times."""
    match = _CLOCK_RANGE.match(" ".join(args))
    if not match:
        raise UsageError("Quiet hours look like `22:00-07:00` (your time zone), or `off`.", topic)
    return match.group(1), match.group(2)


# -- /contact, /email, the message shortcut, /gmail admin audit ---------------------------------------

# Message text is anyone's: every pattern below runs in linear time on any input (THREATS "Bounded work").
# A link holds no "<" (Slack escapes it as &lt;), so each attempt stops at the next "<" or ">"; a bare
# address must start where no address character precedes it (each run of them is tried once) and has
# bounded parts (RFC 5321: 64 characters before the @, labels of 63).
_MAILTO_ANYWHERE = re.compile(r"<mailto:([^|<>]+)(?:\|[^<>]*)?>")
_SLACK_LINK = re.compile(r"<([^|<>]*)(?:\|([^<>]*))?>")
_LOCAL_CHARS = r"A-Za-z0-9.!#$%&'*+/=?^_`{|}~-"
_BARE_ADDRESS = re.compile(rf"(?<![{_LOCAL_CHARS}])[{_LOCAL_CHARS}]{{1,64}}"
                           r"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
SCAN_LIMIT = 40_000  # characters of a message scanned for addresses: Slack's own limit on a message's text
ADDRESS_LIMIT = 20  # addresses taken from one message
_RELATIVE = re.compile(r"^(\d{1,4})([hdw])$")


def contact_query(text: str) -> str:
    """What someone typed after /contact or /email, as plain words: Slack's `<mailto:a|a>` becomes the address,
    other links their label, and its &amp;/&lt;/&gt; escapes the characters."""
    text = _MAILTO_ANYWHERE.sub(lambda m: m.group(1), text or "")
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())[:200]


def addresses_in(text: str) -> list[str]:
    """The e-mail addresses a Slack message mentions, in order: `<mailto:…>` links (Slack turns every address
    typed into one) and then bare addresses; at most ADDRESS_LIMIT, from its first SCAN_LIMIT characters."""
    text = (text or "")[:SCAN_LIMIT]
    linked = (m.group(1) for m in _MAILTO_ANYWHERE.finditer(text))
    bare = (m.group(0) for m in _BARE_ADDRESS.finditer(_MAILTO_ANYWHERE.sub(" ", text)))
    addresses: dict[str, None] = {}
    for candidate in itertools.chain(linked, bare):
        address = candidate.strip().strip(".").lower()
        if is_valid_address(address):
            addresses.setdefault(address)
            if len(addresses) >= ADDRESS_LIMIT:
                break
    return list(addresses)


def since_moment(word: str, topic: str, now=None):
    """`2026-01-31` (midnight UTC), `2026-01-31T09:00`, or `7d` / `24h` / `2w` ago."""
    from datetime import datetime, timedelta, timezone

    now = now or datetime.now(timezone.utc)
    relative = _RELATIVE.match(word.lower())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now - {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]
    try:
        moment = datetime.fromisoformat(word)
    except ValueError:
        raise UsageError(f"`{shown(word)}` is not a date: use `2026-01-31`, or `7d` for the last 7 days.", topic)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

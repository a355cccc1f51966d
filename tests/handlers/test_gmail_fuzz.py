"""1,000 random /gmail texts (unicode, very long, quotes, SQL-ish, mentions): each gets a helpful ephemeral reply,
and the server logs no unhandled exception (SPEC §9).

SQLite only (the module overrides `database_url`): the point is the parsing and the replies, which do not depend
on the database; the commands are sent 16 at a time to keep the run short.
"""
from __future__ import annotations

import logging
import random
from concurrent.futures import ThreadPoolExecutor


from testsupport.stack import REP, TEAM
from tests.support.fuzz import TRICKY, random_char
from tests.support.fuzz import database_url  # noqa: F401 - fixtures

ADMIN = "U900ADM"
TEXTS = 1000
SEED = 20240611

WORDS = ["connect", "disconnect", "status", "sharing", "magnet", "labels", "alerts", "quiet", "digest", "mute",
         "unmute", "share", "unshare", "admin", "help", "grant", "revoke", "policy", "link", "on", "off", "dm",
         "private", "public", "custom", "choice", "metadata", "subject", "full", "why"]


def random_text(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.08:
        return "".join(random_char(rng, 0x20, 0x2FFF) for _ in range(rng.randint(500, 3900)))  # very long
    if shape < 0.15:
        return "".join(random_char(rng, *rng.choice([(0x21, 0x7E), (0xA0, 0x1FAFF)]))
                       for _ in range(rng.randint(1, 60)))
    parts = [rng.choice(WORDS)] if rng.random() < 0.85 else []
    for _ in range(rng.randint(0, 4)):
        parts.append(rng.choice(WORDS + TRICKY + TRICKY))
    return rng.choice([" ", "  ", "\t"]).join(parts)


def test_random_texts_each_get_an_ephemeral_reply_and_no_exception(stack, caplog):
    caplog.set_level(logging.WARNING)
    stack.add_rep()
    stack.add_rep(ADMIN, "boss@crm.example", gmail=None, slack_admin=True)
    stack.slack.add_channel(TEAM, "C0SALES01", "sales", members=[REP, stack.slack.team(TEAM).bot_user_id])
    stack.connect()
    rng = random.Random(SEED)
    requests = [(rng.choice([REP, REP, REP, ADMIN]), random_text(rng)) for _ in range(TEXTS)]

    def send(request):
        user, text = request
        return stack.driver.slash_command(user, "/gmail", text)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(send, requests))
    assert [r.status for r in responses] == [200] * TEXTS

    def answered():
        return all(stack.slack.response_url_posts(r.response_url) for r in responses)

    stack.slack.wait_for(answered, timeout=30)
    for (user, text), response in zip(requests, responses):
        posts = stack.slack.response_url_posts(response.response_url)
        assert len(posts) == 1, text
        post = posts[0]
        assert post["status"] == 200, (text, post.get("error"))  # the emulator checks Block Kit limits
        assert post["response_type"] == "ephemeral" and post["text"], text
        assert "something went wrong" not in post["text"], text
    # An exception anywhere in the server is logged with its traceback (Bolt, waitress, our error handler).
    unhandled = [r for r in caplog.records if r.exc_info or "unhandled" in r.getMessage().lower()]
    assert unhandled == [], [r.getMessage() for r in unhandled[:5]]

"""Random `/contact` and `/email` texts (unicode, very long, quotes, SQL-ish, mentions, wildcards): each gets a
helpful answer — an ephemeral reply or, for `/email` naming a contact, the compose modal — and the server logs no
unhandled exception (SPEC §6, §9). SQLite only, as the /gmail fuzz test."""
from __future__ import annotations

import logging
import random
from concurrent.futures import ThreadPoolExecutor

from tests.support.contact_world import CONTACTS, DEALS, mail_from_jane
from tests.support.fuzz import TRICKY, database_url, random_char  # noqa: F401 - the SQLite-only fixture
from testsupport.stack import REP

TEXTS = 150
SEED = 20261201
WORDS = ["jane", "Jane Doe", "doe", "acme", "Acme", "globex", "bob", "smith", "jane@acme.example", "%", "_", "*",
         "jane.doe@acme-holdings.example", "john", "Doe Industries", "nobody", "@acme.example", "j", "e", "a%b"]


def random_text(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.06:
        return "".join(random_char(rng, 0x20, 0x2FFF) for _ in range(rng.randint(500, 3900)))
    if shape < 0.12:
        return "".join(random_char(rng, 0x21, 0x1FAFF) for _ in range(rng.randint(1, 60)))
    return " ".join(rng.choice(WORDS + TRICKY) for _ in range(rng.randint(0, 4)))


def test_random_contact_and_email_texts_each_get_an_answer_and_no_exception(stack, connected, caplog):
    caplog.set_level(logging.WARNING)
    stack.import_crm(CONTACTS, DEALS)
    mail_from_jane(stack, "Hello")
    rng = random.Random(SEED)
    requests = [(rng.choice(["/contact", "/email"]), random_text(rng)) for _ in range(TEXTS)]
    opened_before = len([c for c in stack.slack.view_calls if c["method"] == "views.open"])

    def send(request):
        command, text = request
        return stack.driver.slash_command(REP, command, text)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, requests))
    assert [r.status for r in responses] == [200] * TEXTS

    def settled():
        contact_done = all(stack.slack.response_url_posts(r.response_url)
                           and (len(stack.slack.response_url_posts(r.response_url)) == 1
                                or stack.slack.response_url_posts(r.response_url)[-1].get("replace_original"))
                           for (command, _), r in zip(requests, responses) if command == "/contact")
        unanswered = [r for (command, _), r in zip(requests, responses)
                      if command == "/email" and not stack.slack.response_url_posts(r.response_url)]
        opened = len([c for c in stack.slack.view_calls if c["method"] == "views.open"]) - opened_before
        return contact_done and opened == len(unanswered)

    stack.slack.wait_for(settled, timeout=60, interval=0.1)
    for (command, text), response in zip(requests, responses):
        for post in stack.slack.response_url_posts(response.response_url):
            assert post["status"] == 200, (command, text, post.get("error"))  # Block Kit limits hold
            assert post["response_type"] == "ephemeral" and post["text"], (command, text)
            assert "something went wrong" not in post["text"], (command, text)
    # The texts do find contacts: some /email opened the compose modal, some /contact showed a card (one look-up
    # per person at a time: with eight in flight, most /contacts are told "still looking", so it may be none).
    assert len([c for c in stack.slack.view_calls if c["method"] == "views.open"]) > opened_before
    found = any("Acme renewal" in str(stack.slack.response_url_posts(r.response_url))
                for (command, _), r in zip(requests, responses) if command == "/contact")
    if not found:
        answer = stack.driver.slash_command(REP, "/contact", "Jane Doe")
        stack.slack.wait_for(lambda: "Acme renewal" in str(stack.slack.response_url_posts(answer.response_url)),
                             timeout=20)
    unhandled = [r for r in caplog.records if r.exc_info or "unhandled" in r.getMessage().lower()]
    assert unhandled == [], [r.getMessage() for r in unhandled[:5]]

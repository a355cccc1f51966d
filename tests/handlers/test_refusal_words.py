"""Every refusal a use case or the store can raise has its words in handlers/blocks/refusals.py: a reason without
them would reach the user as the generic "MailMagnet cannot do that."."""
from __future__ import annotations

from handlers.blocks.refusals import CONNECT, REFUSALS, refusal_text
from usecases.values import NotLinked, Person, Refusal, StoreRefusal


def test_every_refusal_has_words():
    assert set(Refusal) | set(StoreRefusal) == set(REFUSALS)
    consent = {r for r in Refusal if r.name.startswith("CONSENT_") or r.name.startswith("MAILBOX_TAKEN")}
    assert consent == set(CONNECT)


def test_the_facts_become_escaped_words():
    admins = (Person("U1ADM", "Ada"), Person(None, "Bo <!channel>"))
    error = NotLinked(Refusal.NOT_LINKED, slack_email="me@x.example", granters=admins)
    assert str(error) == "not_linked"  # for logs: the reason's name, never a sentence
    assert refusal_text(error) == ("Your Slack account (me@x.example) is not linked to a CRM user. Ask <@U1ADM>, "
                                   "Bo &lt;!channel&gt; (MailMagnet admins) or a Slack workspace admin to add you "
                                   "with `/gmail admin grant @you`.")

"""Scenes 1-4: Alice may not connect until Bruno grants her the permission; she connects her Gmail (Google's
consent), her DM with MailMagnet answers "help", and she turns the alerts and the labels on."""
from __future__ import annotations

from testsupport.demo.cast import ALICE, ALICE_GMAIL, BRUNO
from testsupport.demo.reading import command, indent
from testsupport.stack import authorize_url_in


def show_connect(stack) -> None:
    print("\n1. Alice has no Mail Integration permission yet:")
    print(indent(command(stack, ALICE, "connect")))
    print(f"\n2. Bruno (Slack admin): /gmail admin grant <@{ALICE}>")
    print(indent(command(stack, BRUNO, f"admin grant <@{ALICE}|alice>")))

    print("\n3. Alice: /gmail connect -> Authenticate -> Google consent -> callback")
    status, _body = stack.follow_consent(authorize_url_in(stack.command(ALICE, "connect")), ALICE_GMAIL)
    dm = stack.slack.wait_for(lambda: stack.slack.dms(ALICE), timeout=15)[-1]
    print(f"      callback page: HTTP {status}; DM from MailMagnet: {dm['text']}")
    stack.driver.message_im(ALICE, "help")
    helped = stack.slack.wait_for(lambda: [m for m in stack.slack.dms(ALICE)
                                           if m.get("bot_id") and "commands work" in m.get("text", "")],
                                  timeout=15)[-1]
    print(f"      Alice types \"help\" in that DM; MailMagnet answers: {helped['text'].splitlines()[0]}")

    print("\n4. Alice: /gmail magnet on, then /gmail labels on")
    print(indent(command(stack, ALICE, "magnet on")))
    print(indent(command(stack, ALICE, "labels on")))
    stack.run("sync")

"""Scenes 5-9: mail arrives in Alice's Gmail; MailMagnet alerts her of each email from a CRM contact, the label
run files them, and /gmail why and /gmail status say what it did."""
from __future__ import annotations

from testsupport.demo.cast import ALICE, ALICE_GMAIL
from testsupport.demo.reading import command, indent

SENDERS = ['"Jane Doe" <jane.doe@acme.example>', "Bob Smith <bob.smith@globex.example>",
           "=?UTF-8?Q?Chlo=C3=A9_Martin?= <chloe.martin@initech.example>",
           "dave.jones@umbrella.example", "newsletter@unknown.example"]


def show_mail_alerted_and_filed(stack) -> None:
    print("\n5. Mail arrives in Alice's Gmail:")
    ids = {}
    for sender in SENDERS:
        ids[sender] = stack.mail(sender, f"Hello from {_address(sender)}", gmail=ALICE_GMAIL)
        print(f"      from {sender}")
    stack.run("sync")
    print("\n6. MailMagnet alerts in Alice's DM (one per email from a CRM contact):")
    for message in stack.slack.dms(ALICE):
        if (message.get("metadata") or {}).get("event_type") == "mailmagnet_alert":
            fields = next(b for b in message["blocks"] if b.get("fields"))["fields"]
            deal = fields[2]["text"].split("\n", 1)[1]
            print(f"      {message['text']} — {deal}")

    stack.run("labels")
    print("\n7. After the label run, in Gmail:")
    ours = set(stack.services.labels.__dict__.values())
    for sender, gmail_id in ids.items():
        names = stack.gmail.label_names(ALICE_GMAIL, gmail_id)
        where = ", ".join(sorted(n for n in names if n in ours)) or "left in the Inbox"
        print(f"      {_address(sender):36} -> {where}")

    print("\n8. Alice: /gmail why dave.jones@umbrella.example")
    print(indent(command(stack, ALICE, "why dave.jones@umbrella.example")))
    print("\n9. Alice: /gmail status")
    print(indent(command(stack, ALICE, "status")))


def _address(sender: str) -> str:
    return sender.split("<")[-1].rstrip(">")

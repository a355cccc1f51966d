"""Scenes 10-11 (F5-F6): a colleague's /contact under Alice's sharing settings: subjects only when she shares
her mailbox with the workspace that way; nothing under "custom" until she shares it with Carol by name."""
from __future__ import annotations

from testsupport.demo.cast import ALICE, ALICE_GMAIL, CAROL, NAMES
from testsupport.demo.reading import command, email_lines, final_answer, indent


def show_contact_view(stack) -> None:
    stack.add_rep(CAROL, "carol@mailmagnet.example", gmail=None)
    # Jane's latest email, which scene 12 answers (its Reply-To names her assistant).
    stack.gmail.insert_message(ALICE_GMAIL, sender='"Jane Doe" <jane.doe@acme.example>', to=ALICE_GMAIL,
                               subject="Renewal: can we sign before the 28th?",
                               body="Hi Alice, legal is fine with the draft. Please send the final version to my "
                                    "assistant, who handles signatures.\nThanks, Jane",
                               message_id_header="<renewal-42@acme.example>",
                               extra_headers={"Reply-To": "Sam Lee (for Jane Doe) <sam.lee@acme.example>"})

    print("\n10. Alice shares her mailbox with the workspace, subjects only: /gmail sharing public subject")
    print(indent(command(stack, ALICE, "sharing public subject")))
    _carol_looks(stack,
                 "    Carol (a CRM user, not Jane's owner): /contact Jane Doe -> subjects, never previews or bodies")
    print("\n11. Alice: /gmail sharing custom -> Carol is neither Jane's owner nor a deal owner, nor shared with")
    command(stack, ALICE, "sharing custom")
    _carol_looks(stack, "    Carol: /contact Jane Doe")
    print("    Alice: /gmail share @carol")
    command(stack, ALICE, f"share <@{CAROL}|carol>")
    _carol_looks(stack, "    Carol: /contact Jane Doe")


def _carol_looks(stack, title: str) -> None:
    response = stack.driver.slash_command(CAROL, "/contact", "Jane Doe")
    print(f"\n{title}")
    print(indent(email_lines(final_answer(stack, response), NAMES)))

"""bounded.*, contact_view.contended_*: work on hostile input stays bounded (THREATS "Bounded work", issue 16).

- `bounded.open_1mb_html_cpu_ms`: the CPU (`time.process_time`) Open spends turning a stranger's ~1 MB hostile
  HTML email into the text it shows, for the worst of several hostile shapes, each as the Gmail API hands it
  over (`format=full`); per shape in `bounded.open_cpu_ms_by_shape`. `bounded.open_1mb_html_e2e_cpu_ms`: the
  whole process's CPU for one Open through the stack (the signed click, the Gmail emulator serving 1.3 MB of
  JSON, our conversion, the modal) for the worst shape: an upper bound, emulators included.
- `bounded.shortcut_40k_ms`: the message shortcut's scan (message text to addresses) on 40,000 hostile
  characters, worst shape (wall time, best of 5).
- `contact_view.quiet_p95_ms`, `contact_view.contended_p95_ms`, `contact_view.contended_over_quiet`: a rep's own
  `/contact` (5 shared mailboxes, every Gmail call 200 ms, as in contact_view.py) alone, and while another
  user sends 20 `/contact`s at once; `contact_view.contended_unavailable` counts the mailboxes the rep's views
  showed as unavailable under contention.

`python -m benchmarks.bounded_work [open] [shortcut] [contention]` runs some parts only.
"""
from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from benchmarks.common import emit, median, percentile

MEGABYTE = 1_000_000
CONTACT = "jane@acme.example"
CONTACTS = ("email,first_name,last_name,company,owner_email,external_id\n"
            f"{CONTACT},Jane,Doe,Acme,owner@crm.example,C1\n")
HOSTILE_HTML = {
    "unclosed_divs": lambda n: "<div>" * (n // 5),
    "endless_comment": lambda n: "<!--" + "x" * n,
    "open_a_tags": lambda n: "<a " * (n // 3),
    "many_attributes": lambda n: "<a " + " ".join(f"{chr(97 + i % 26)}{i // 26}" for i in range(n // 5)) + ">",
    # the same, closed, again and again: every tag within the cap is read whole
    "attribute_flooded_tags": lambda n: ("<a " + " ".join(f"{chr(97 + i % 26)}{i // 26}" for i in range(12_000))
                                         + ">") * (n // 70_000),
    "huge_attribute": lambda n: '<a href="' + "x" * n + '">link</a>',
    "nested_tables": lambda n: "<table><tr><td>" * (n // 15),
    "nested_lists": lambda n: "<ul><li>" * (n // 8),
    "formatting_soup": lambda n: "<b><i><u><s>x" * (n // 13),
    "entity_flood": lambda n: "&lt;" * (n // 4),
    "entities_without_semicolon": lambda n: "&amp" * (n // 4),
    "endless_script": lambda n: "<script>" * (n // 8),
    "lt_flood": lambda n: "<" * n,
    "br_flood": lambda n: "<br" * (n // 3),
    "close_tags": lambda n: "</p" * (n // 3),
}
HOSTILE_TEXT = {
    "local_part_run": "a" * 40_000,
    "dotted_run": "a." * 20_000,
    "at_run": "a@" * 20_000,
    "domain_without_dot": "x@" + "b" * 39_998,
    "dotted_domain": "x@" + "b." * 19_999,
    "unclosed_mailto": "<mailto:" * 5_000,
    "lt_run": "<" * 40_000,
    "many_addresses": "".join(f"u{i}@x{i}.example " for i in range(2_500))[:40_000],
    "many_mailto_links": "".join(f"<mailto:u{i}@x.example|u{i}@x.example> " for i in range(1_000))[:40_000],
}


def hostile_email(shape: str, size: int = MEGABYTE) -> bytes:
    message = EmailMessage()
    message["From"] = f"Jane Doe <{CONTACT}>"
    message["To"] = "rep@gmail.example"
    message["Subject"] = f"Hostile {shape}"
    message.set_content(f"<html><body><p>Visible start</p>{HOSTILE_HTML[shape](size)}<p>Last line</p></body></html>",
                        subtype="html")
    return bytes(message)


def open_conversion() -> dict:
    """Our CPU per shape on the payload Gmail's format=full returns."""
    from gmail.messages import body_text
    from sandbox.gmail_emulator.mime import parse_raw, payload_of
    from usecases.email_detail import BODY_LIMIT

    by_shape = {}
    for shape in HOSTILE_HTML:
        payload = payload_of(parse_raw(hostile_email(shape)))
        started = time.process_time()
        body_text(payload, BODY_LIMIT)
        by_shape[shape] = round((time.process_time() - started) * 1000, 1)
    worst = max(by_shape, key=by_shape.get)
    return {"open_1mb_html_cpu_ms": by_shape[worst], "open_worst_shape": worst, "open_cpu_ms_by_shape": by_shape,
            "open_html_bytes": MEGABYTE, "open_shapes": len(by_shape)}


def shortcut_scan() -> dict:
    from handlers.parsing import addresses_in
    from handlers.shortcuts.message import message_text

    by_shape = {}
    for shape, text in HOSTILE_TEXT.items():
        message = {"text": text, "blocks": [{"type": "rich_text", "elements": [{"type": "text", "text": text}]}]}
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            addresses_in(message_text(message))
            runs.append((time.perf_counter() - started) * 1000)
        by_shape[shape] = round(min(runs), 2)
    worst = max(by_shape, key=by_shape.get)
    return {"shortcut_40k_ms": by_shape[worst], "shortcut_worst_shape": worst, "shortcut_ms_by_shape": by_shape}


# -- through the stack ---------------------------------------------------------------------------------

ATTACKER, VICTIM = "U0ATTACK", "U0VICTIM"
MAILBOXES = 5
GMAIL_LATENCY_MS = 200
SAMPLES = 20
BURST = 20


def seed_shared_mailboxes(stack) -> list[str]:
    from datetime import datetime, timedelta, timezone

    stack.import_crm(CONTACTS)
    stack.add_rep(ATTACKER, "attacker@crm.example", gmail=None)
    stack.add_rep(VICTIM, "victim@crm.example", gmail=None)
    start = datetime.now(timezone.utc) - timedelta(days=30)
    gmails = []
    for n in range(MAILBOXES):
        user, gmail = f"U0REP{n}", f"rep{n}@gmail.example"
        stack.add_rep(user, f"rep{n}@crm.example", gmail=gmail)
        stack.connect(user, gmail)
        stack.update_mailbox(gmail, sharing="public", sharing_depth="full")
        stack.gmail.add_messages_bulk(gmail, [dict(sender=f"Jane Doe <{CONTACT}>", to=gmail, subject=f"Renewal {n}-{i}",
                                                   body="About the renewal.", date=start + timedelta(hours=i))
                                              for i in range(30)])
        gmails.append(gmail)
    return gmails


def final(stack, response, timeout: float = 60) -> dict:
    return stack.slack.wait_for(lambda: [p for p in stack.slack.response_url_posts(response.response_url)
                                         if p.get("replace_original")], timeout=timeout, interval=0.005)[-1]


def victims_view(stack) -> tuple[float, bool]:
    started = time.time()
    response = stack.driver.slash_command(VICTIM, "/contact", CONTACT)
    answer = final(stack, response)
    return (answer["time"] - started) * 1000, "Unavailable" in str(answer.get("blocks"))


def contended_view(stack) -> tuple[float, bool]:
    responses = []
    lock = threading.Lock()

    def fire():
        response = stack.driver.slash_command(ATTACKER, "/contact", CONTACT)
        with lock:
            responses.append(response)

    burst = [threading.Thread(target=fire) for _ in range(BURST)]
    for thread in burst:
        thread.start()
    elapsed, unavailable = victims_view(stack)
    for thread in burst:
        thread.join()
    for response in responses:  # the next sample starts from a quiet pool
        final(stack, response, timeout=120)
    return elapsed, unavailable


def contention() -> dict:
    from testsupport.stack import start_stack

    with tempfile.TemporaryDirectory() as workdir:
        stack = start_stack(f"sqlite:///{Path(workdir) / 'bench.db'}")
        try:
            seed_shared_mailboxes(stack)
            stack.gmail.set_latency(GMAIL_LATENCY_MS)
            for _ in range(3):  # code loaded, each thread's Gmail client built, connections open
                victims_view(stack)
            quiet = [victims_view(stack)[0] for _ in range(SAMPLES)]
            contended = [contended_view(stack) for _ in range(SAMPLES)]
        finally:
            stack.gmail.set_latency(0)
            stack.stop()
    quiet_p95 = percentile(quiet, 95)
    contended_p95 = percentile([c[0] for c in contended], 95)
    return {"quiet_p95_ms": round(quiet_p95, 1), "quiet_p50_ms": round(median(quiet), 1),
            "contended_p95_ms": round(contended_p95, 1),
            "contended_p50_ms": round(median([c[0] for c in contended]), 1),
            "contended_over_quiet": round(contended_p95 / quiet_p95, 2),
            "contended_unavailable": sum(1 for c in contended if c[1]),
            "contended_samples": SAMPLES, "contended_burst": BURST, "contended_gmail_latency_ms": GMAIL_LATENCY_MS,
            "target_contended_over_quiet": 1.5}


def open_through_stack() -> dict:
    """The whole process's CPU for one Open of the worst shape, through the signed click and both emulators."""
    from handlers.blocks.ids import ActionId
    from testsupport.stack import REP, REP_GMAIL, start_stack

    by_shape = {}
    with tempfile.TemporaryDirectory() as workdir:
        stack = start_stack(f"sqlite:///{Path(workdir) / 'bench.db'}")
        try:
            stack.import_crm(CONTACTS)
            stack.add_rep()
            stack.connect()
            for shape in HOSTILE_HTML:
                gmail_id = stack.gmail.deliver_raw(REP_GMAIL, hostile_email(shape))
                value = '{"a": %d, "g": "%s", "c": 1}' % (stack.account_id(REP_GMAIL), gmail_id)
                before = len(stack.slack.view_calls)
                started = time.process_time()
                stack.driver.block_action(REP, ActionId.EMAIL_OPEN.value, value=value)
                stack.slack.wait_for(lambda: [c for c in stack.slack.view_calls[before:]
                                              if c["method"] == "views.update"], timeout=600, interval=0.005)
                by_shape[shape] = round((time.process_time() - started) * 1000, 1)
        finally:
            stack.stop()
    worst = max(by_shape, key=by_shape.get)
    return {"open_1mb_html_e2e_cpu_ms": by_shape[worst], "open_e2e_worst_shape": worst}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    parts = set(argv) or {"open", "shortcut", "contention"}
    bounded: dict = {}
    if "open" in parts:
        bounded.update(open_conversion())
        bounded.update(open_through_stack())
        bounded["target_open_1mb_html_cpu_ms"] = 1000
    if "shortcut" in parts:
        bounded.update(shortcut_scan())
        bounded["target_shortcut_40k_ms"] = 50
    if bounded:
        emit("bounded", bounded)
    if "contention" in parts:
        emit("contact_view", contention())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""sync.*: Gmail quota units of the sync pipeline (SPEC §8), counted by the emulator with Google's costs.

- zero_change_units: a sync run of a mailbox with nothing new.
- units_per_new_message: a sync run that picks up 500 new messages from contacts, with MailMagnet
  and labels on (both subscribers share the one fetch), divided by 500.
"""
from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.common import emit
from testsupport.stack import REP_GMAIL, start_stack

NEW_MESSAGES = 500
CONTACTS = "email,first_name,company,external_id\n" + "".join(
    f"contact{i}@customer{i}.example,Contact{i},Customer {i},C{i}\n" for i in range(50))
DEALS = "name,contact_external_id,stage,closing_date,external_id\n" + "".join(
    f"Deal {i},C{i},{'Closed Won' if i % 2 else 'Proposal'},2099-01-01,D{i}\n" for i in range(50))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(f"sqlite:///{Path(tmp) / 'bench.db'}", scheduler=True, start_scheduler=False)
        try:
            stack.add_rep()
            stack.import_crm(CONTACTS, DEALS)
            stack.connect_with_magnet(labels=True)
            stack.run("sync")  # backfill of the (empty) Inbox

            stack.gmail.reset_counters()
            stack.run("sync")
            zero_change = stack.gmail.quota_units(REP_GMAIL)
            zero_calls = [c.method for c in stack.gmail.calls]

            now = datetime.now(timezone.utc)
            stack.gmail.add_messages_bulk(REP_GMAIL, [
                {"sender": f"Contact {i % 50} <contact{i % 50}@customer{i % 50}.example>", "to": REP_GMAIL,
                 "subject": f"Message {i}", "body": "Hello", "date": now} for i in range(NEW_MESSAGES)])
            stack.gmail.reset_counters()
            outcomes = stack.run("sync")
            units = stack.gmail.quota_units(REP_GMAIL)
            by_method: dict[str, int] = {}
            for call in stack.gmail.calls:
                by_method[call.method] = by_method.get(call.method, 0) + call.units
            alerts = len([c for c in stack.slack.calls_to("chat.postMessage") if c.ok and "mailmagnet_alert" in json.dumps(c.params.get("metadata") or {})])
            new = sum(o.sync.new_messages for o in outcomes if o.sync)
        finally:
            stack.stop()
    emit("sync", {
        "zero_change_units": zero_change,
        "zero_change_calls": zero_calls,
        "new_messages": new,
        "units_for_new_messages": units,
        "units_per_new_message": round(units / NEW_MESSAGES, 3),
        "units_by_method": by_method,
        "alerts_posted": alerts,
        "target_zero_change_units": 2,
        "target_units_per_new_message": 5.2,
    })


if __name__ == "__main__":
    main()

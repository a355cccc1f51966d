"""What a fleet scenario is judged by (testsupport/fleet.py's `Fleet` mixes these in): the outcome counters read
from the emulators' own records, the replicas' logs and the write log the fleet's PostgreSQL trigger keeps."""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from telemetry.failpoints import POINTS, read_hits

TEAM = "T0001"
LABELS = {"closing": "Deals Closing This Month", "open": "Open Deals", "won": "Customers"}


@dataclass
class Outcome:
    messages: int
    lost: int
    duplicated: int
    misfiled: int
    unhandled: int
    done_twice: int
    hits: dict[str, int]
    kills: int = 0
    settled_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def counters(self) -> tuple[int, int, int, int, int]:
        return self.lost, self.duplicated, self.misfiled, self.unhandled, self.done_twice

    def as_dict(self) -> dict:
        return {"messages": self.messages, "lost": self.lost, "duplicated": self.duplicated,
                "misfiled": self.misfiled, "unhandled": self.unhandled, "done_twice": self.done_twice,
                "kills": self.kills, "settled_seconds": self.settled_seconds, "hits": dict(self.hits)}




class FleetChecks:
    """The checks, on the fleet's attributes: `sent` (mail that must be alerted and filed), `filed` (mail that was
    there before and must only be filed), `category`, `crm_changes`, `mailboxes`, `gmail`, `slack`, `engine`,
    `replicas`."""

    def alerted(self) -> Counter:
        """(mailbox, gmail id) -> how many posts in the rep's DM carry it (alerts and digests)."""
        seen: Counter = Counter()
        for mailbox, (_, user_id) in self.mailboxes.items():
            for message in self.slack.messages(self.slack.dm_channel(TEAM, user_id)):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == "mailmagnet_alert":
                    seen[(mailbox, payload.get("gmail_id"))] += 1
                elif metadata.get("event_type") == "mailmagnet_digest":
                    for gmail_id in payload.get("gmail_ids") or []:
                        seen[(mailbox, gmail_id)] += 1
        return seen

    def misfiled(self, keys=None) -> list[tuple[str, str]]:
        """Messages (all, or those of `keys`) whose labels are not what SPEC §4 says for the CRM as it stands."""
        return [(mailbox, gmail_id) for mailbox, gmail_id, _ in self.misfiled_details(keys)]

    def misfiled_details(self, keys=None) -> list[tuple[str, str, str]]:
        """(mailbox, gmail id, what is wrong: the contact, the label wanted, the labels Gmail has)."""
        ours = set(LABELS.values())
        wrong = []
        messages = {**self.sent, **self.filed}  # a copy: the traffic thread may add meanwhile
        for mailbox, gmail_id in (messages if keys is None else keys):
            contact = messages[(mailbox, gmail_id)]
            labels = self.gmail.label_names(mailbox, gmail_id)
            if contact is None:
                right = "INBOX" in labels and not labels & ours
            else:
                right = labels & ours == {LABELS[self.category[contact]]} and "INBOX" not in labels
            if not right:
                wanted = LABELS[self.category[contact]] if contact else "INBOX only"
                changes = [change for change in self.crm_changes if change[1] == contact][-3:]
                wrong.append((mailbox, gmail_id, f"from {contact or 'a stranger'}: wanted {wanted}, "
                                                 f"has {sorted(labels)}; last CRM changes {changes}"))
        return wrong

    def stored_state(self, mailbox: str, gmail_id: str) -> dict:
        """What the product's database says of one message (to say why it is misfiled)."""
        account_id = self.mailboxes[mailbox][0]
        with self.engine.connect() as connection:
            row = connection.execute(sa.text(
                "SELECT from_address, filed_category, filed_at, needs_filing, in_inbox FROM mailbox_messages "
                "WHERE account_id = :a AND gmail_id = :g"), {"a": account_id, "g": gmail_id}).mappings().first()
            account = connection.execute(sa.text(
                "SELECT * FROM gmail_accounts WHERE id = :a"), {"a": account_id}).mappings().first()
            deals = connection.execute(sa.text(
                "SELECT d.stage, d.closing_date, d.updated_at FROM deals d JOIN contacts c ON c.id = d.contact_id "
                "WHERE c.email = :f"), {"f": row["from_address"] if row else ""}).all() if row else []
        keep = ("history_id", "next_label_run_at", "labels_enabled", "lease_owner", "lease_expires_at",
                "last_label_run_at", "label_cursor")
        return {"message": dict(row) if row else None, "deals": [tuple(d) for d in deals],
                "account": {k: v for k, v in (account or {}).items() if k in keep or "label" in k}}

    def unalerted_details(self, keys, limit: int = 3) -> list[dict]:
        """Contact mail of `keys` with no post in Slack yet, and what the database says of it: its message row,
        its alert rows, and the mailbox's run state (to say why an alert is late)."""
        alerted = self.alerted()
        late = [key for key in keys if self.sent.get(key) is not None and key not in alerted][:limit]
        details = []
        for mailbox, gmail_id in late:
            state = self.stored_state(mailbox, gmail_id)
            with self.engine.connect() as connection:
                alerts = connection.execute(sa.text(
                    "SELECT channel, status, created_at, attempted_at, posted_at FROM alerts "
                    "WHERE account_id = :a AND gmail_id = :g"),
                    {"a": self.mailboxes[mailbox][0], "g": gmail_id}).all()
            details.append({"mailbox": mailbox, "gmail_id": gmail_id, "alerts": [tuple(map(str, a)) for a in alerts],
                            **state})
        return details

    def lost_and_duplicated(self) -> tuple[int, int]:
        alerted = self.alerted()
        expected = {key for key, contact in self.sent.items() if contact is not None}
        lost = len(expected - set(alerted))
        duplicated = sum(count - 1 for count in alerted.values() if count > 1)
        duplicated += sum(1 for key in alerted if key not in expected)  # an alert for a stranger's or old mail
        return lost, duplicated

    def unsettled(self, keys) -> int:
        """How many of these messages still lack their alert (contact mail) or their right labels."""
        alerted = self.alerted()
        unalerted = sum(1 for key in keys if self.sent.get(key) is not None and key not in alerted)
        return unalerted + len(self.misfiled(keys))

    def settled(self) -> bool:
        lost, _ = self.lost_and_duplicated()
        return lost == 0 and not self.misfiled()

    def wait_settled(self, timeout: float) -> float | None:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.settled():
                return round(time.monotonic() - started, 1)
            time.sleep(0.5)
        return None

    def unhandled(self) -> tuple[int, list[str]]:
        """Exceptions that escaped: output that is no log record (a thread's traceback), and Flask's unhandled ones."""
        count, samples = 0, []
        for path in sorted(self.workdir.glob("*.log")):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    if line.startswith("Traceback") or line.startswith("Exception in thread"):
                        count += 1
                        samples.append(f"{path.name}: {line}")
                    continue
                if isinstance(record, dict) and str(record.get("message", "")).startswith("Exception on "):
                    count += 1
                    samples.append(f"{path.name}: {record.get('message')}")
        return count, samples[:5]

    def done_twice(self) -> tuple[int, list[str]]:
        """Writes to a mailbox's rows by one replica while another live replica held its lease."""
        owner_of = {pid: name for r in self.replicas for pid, name in r.incarnations.items()}
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT kind, account_id, writer, holder, holder_expires, at FROM fleet_writes "
                "WHERE holder IS NOT NULL AND holder_expires >= at")).all()
        twice = []
        for kind, account_id, writer, holder, _, at in rows:
            try:
                holder_name = owner_of.get(int(holder.split(":")[1]))
            except (IndexError, ValueError):
                holder_name = None
            if writer.startswith("fleet-") and holder_name is not None and holder_name != writer:
                twice.append(f"{kind} of mailbox {account_id} written by {writer} while {holder_name} held it ({at})")
        return len(twice), twice[:5]

    def outcome(self, settle_timeout: float) -> Outcome:
        settled_in = self.wait_settled(settle_timeout)
        lost, duplicated = self.lost_and_duplicated()
        unhandled, unhandled_samples = self.unhandled()
        twice, twice_samples = self.done_twice()
        hits = read_hits(self.hit_log)
        misfiled_samples = [f"misfiled {mailbox} {gmail_id}: {why}; stored: {self.stored_state(mailbox, gmail_id)}"
                            for mailbox, gmail_id, why in self.misfiled_details()[:5]]
        return Outcome(messages=len(self.sent), lost=lost, duplicated=duplicated, misfiled=len(self.misfiled()),
                       unhandled=unhandled, done_twice=twice, hits={p: hits.get(p, 0) for p in POINTS},
                       kills=self.kills, settled_seconds=settled_in,
                       notes=unhandled_samples + twice_samples + misfiled_samples)


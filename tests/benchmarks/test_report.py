"""The README's performance table comes from results.json: every SPEC §8 key, its target, whether it is met."""
from __future__ import annotations

from benchmarks import report


def test_the_table_says_what_was_measured_and_whether_it_meets_its_target(tmp_path):
    results = {
        "machine": {"cpu_count": 2, "cpu": "Test CPU", "python": "3.11.9", "date": "2026-12-01"},
        "slack": {"ack_p99_ms": 31.5, "ack_p50_ms": 8.0, "commands": 1000, "concurrency": 20,
                  "reply_p99_ms": 612.0},
        "labels": {"month_turn": {"units": 102_000, "required_units": 102_000, "seconds": 26.1,
                                  "db_cpu_ms_per_mailbox": 9.6, "mailboxes": 1000, "filed_messages_per_mailbox": 2000},
                   "ratio_vs_stateful_inbox_5000": 3.22},
    }
    rows = {line.split("|")[1].strip(): line for line in report.table(results).splitlines() if line.startswith("| `")}

    assert report.table(results).startswith("Measured on 2 cores (Test CPU), Python 3.11.9, 2026-12-01.")
    assert rows["`slack.ack_p99_ms`"].endswith("| 31.5 | p50 8; samples 1,000; in flight 20 | yes |")
    assert rows["`slack.reply_p99_ms`"].endswith("| 612 |  | **no** |")
    assert "102,000 units (required 102,000)" in rows["`labels.month_turn`"]
    assert "not measured" in rows["`alerts.e2e_push_p99_ms`"]
    assert {f"`{key}`" for key, *_ in report.ROWS} <= set(rows)

    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{report.BEGIN}\nold table\n{report.END}\nafter\n")
    report.write_readme(results, readme)
    text = readme.read_text()
    assert "old table" not in text and text.startswith("before\n") and text.endswith(f"{report.END}\nafter\n")
    assert "| `slack.ack_p99_ms` | ≤ 50 | 31.5 |" in text

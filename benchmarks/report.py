"""The README's performance table, generated from `benchmarks/results.json` so the two never disagree.

`python -m benchmarks.report` prints it; `--write-readme` replaces the table between the README's
`<!-- bench:begin -->` and `<!-- bench:end -->` markers (`make bench` does this after every full run).
Every key of SPEC §8 with its target, the measured figure and what it was measured beside.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).parent
README = HERE.parent / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

Results = dict[str, dict[str, Any]]


def _get(results: Results, key: str) -> Any:
    area, _, name = key.partition(".")
    return results.get(area, {}).get(name)


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}".removesuffix(".0")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_num(item) for item in value)
    return str(value)


def _beside(results: Results, *pairs: tuple[str, str]) -> str:
    """`label value` for each key present, joined: the context a figure was measured in."""
    return "; ".join(f"{label} {_num(_get(results, key))}" for label, key in pairs if _get(results, key) is not None)


# (key, target, passes, context): context names the keys shown beside the figure.
Row = tuple[str, str, Callable[[Any], bool] | None, tuple[tuple[str, str], ...]]
ROWS: list[Row] = [
    ("categories.sqlite_ms_per_1000_senders", "≤ 50", lambda v: v <= 50,
     (("raw statement", "categories.sqlite_raw_ms_per_1000_senders"), ("contacts", "categories.contacts"),
      ("deals", "categories.deals"))),
    ("categories.postgres_ms_per_1000_senders", "≤ 50", lambda v: v <= 50,
     (("raw statement", "categories.postgres_raw_ms_per_1000_senders"),)),
    ("categories.project_over_raw", "≤ 1.2", lambda v: v <= 1.2,
     (("PostgreSQL", "categories.postgres_project_over_raw"),)),
    ("sync.zero_change_units", "≤ 2", lambda v: v <= 2, ()),
    ("sync.units_per_new_message", "≤ 5.2", lambda v: v <= 5.2, (("messages", "sync.new_messages"),)),
    ("followups.extra_units_per_message", "0", lambda v: v == 0,
     (("units on", "followups.units_on"), ("Inbox-only history", "followups.units_inbox_history"),
      ("emails", "followups.customer_emails"))),
    ("labels.zero_change_units", "≤ 2", lambda v: v <= 2, ()),
    ("labels.naive_over_ours", "≥ 20", lambda v: v >= 20,
     (("ours", "labels.incremental_units"), ("naive", "labels.naive_units"))),
    ("labels.ratio_vs_stateful_inbox_50", "≥ 1", lambda v: v >= 1, ()),
    ("labels.ratio_vs_stateful_inbox_500", "≥ 1", lambda v: v >= 1, ()),
    ("labels.ratio_vs_stateful_inbox_5000", "≥ 1", lambda v: v >= 1,
     (("ours", "labels.incremental_units"), ("stateful", "labels.stateful_units"))),
    ("slack.ack_p99_ms", "≤ 50", lambda v: v <= 50,
     (("p50", "slack.ack_p50_ms"), ("samples", "slack.commands"), ("in flight", "slack.concurrency"))),
    ("slack.reply_p99_ms", "≤ 500", lambda v: v <= 500,
     (("p50", "slack.reply_p50_ms"), ("floor", "slack.reply_floor_ms"), ("Gmail latency", "slack.gmail_latency_ms"),
      ("Slack latency", "slack.slack_latency_ms"), ("users.info per command", "slack.users_info_calls_per_command"))),
    ("alerts.push_latency_p99_ms", "≤ 1,000", lambda v: v <= 1000,
     (("p50", "alerts.push_latency_p50_ms"), ("samples", "alerts.push_samples"))),
    ("alerts.poll_overhead_p99_ms", "≤ 500", lambda v: v <= 500,
     (("p50", "alerts.poll_overhead_p50_ms"), ("samples", "alerts.poll_samples"),
      ("reported as the max", "alerts.poll_overhead_p99_is_max"))),
    ("contact_view.p95_ms", "≤ 1,500", lambda v: v <= 1500,
     (("p50", "contact_view.p50_ms"), ("floor", "contact_view.floor_ms"), ("alone p50", "contact_view.solo_p50_ms"),
      ("viewers at once", "contact_view.viewers_at_once"), ("Slack latency", "contact_view.slack_latency_ms"),
      ("samples", "contact_view.samples"))),
    ("bounded.open_1mb_html_cpu_ms", "< 1,000", lambda v: v < 1000,
     (("worst shape", "bounded.open_worst_shape"), ("shapes", "bounded.open_shapes"),
      ("whole Open, emulators included", "bounded.open_1mb_html_e2e_cpu_ms"))),
    ("bounded.shortcut_40k_ms", "< 50", lambda v: v < 50, (("worst shape", "bounded.shortcut_worst_shape"),)),
    ("contact_view.contended_over_quiet", "≤ 1.5", lambda v: v <= 1.5,
     (("contended p95", "contact_view.contended_p95_ms"), ("quiet p95", "contact_view.quiet_p95_ms"),
      ("burst", "contact_view.contended_burst"), ("unavailable", "contact_view.contended_unavailable"))),
    ("sync.units_per_new_message_trickle", "≤ 7.2", lambda v: v <= 7.2, (("messages", "sync.trickle_messages"),)),
    ("gmail.units_per_idle_mailbox_day", "≤ 300", lambda v: v <= 300, ()),
    ("alerts.e2e_push_p99_ms", "≤ 1,500", lambda v: v <= 1500,
     (("p50", "alerts.e2e_push_p50_ms"), ("floor", "alerts.e2e_floor_ms"), ("samples", "alerts.e2e_push_samples"),
      ("polled mailboxes", "alerts.e2e_polled_mailboxes"))),
    ("scale.cycle_seconds_10000_mailboxes", "≤ 60", lambda v: v <= 60,
     (("unbatched baseline", "scale.baseline_unbatched_seconds_per_10000"),
      ("history.list in /batch", "scale.history_calls_in_batch_10000"),
      ("back to back", "scale.seconds_per_cycle_back_to_back_10000"))),
    ("scale.rss_mb_10000_mailboxes", "≤ 300", lambda v: v <= 300,
     (("slope MB/cycle", "scale.rss_mb_slope_per_cycle_10000"), ("cycles", "scale.cycles_measured_10000"),
      ("new messages per cycle", "scale.new_messages_per_cycle_10000"),
      ("alerts per cycle", "scale.alerts_per_cycle_10000"), ("filed per cycle", "scale.filed_per_cycle_10000"))),
    ("scale.cycle_seconds_1000_mailboxes", "≤ 10", lambda v: v <= 10,
     (("PostgreSQL", "scale.postgres_cycle_seconds_1000_mailboxes"),)),
    ("scale.rss_mb_1000_mailboxes", "≤ 250", lambda v: v <= 250,
     (("PostgreSQL", "scale.postgres_rss_mb_1000_mailboxes"),)),
    ("capacity.messages_per_second", "≥ 50", lambda v: v >= 50,
     (("p99 ms there", "capacity.p99_ms_at_capacity"), ("first failing rate", "capacity.first_failing_rate"),
      ("polled mailboxes", "capacity.polled_mailboxes"), ("database", "capacity.database"),
      ("load average", "capacity.load_avg_1m_at_capacity"))),
    ("capacity.cpu_over_minimal", "≤ 1.5", lambda v: v <= 1.5,
     (("serve ms/alert", "capacity.serve_cpu_ms_per_alert"), ("minimal ms/alert", "capacity.minimal_cpu_ms_per_alert"),
      ("at messages/s", "capacity.cpu_measured_at_rate"), ("without polling", "capacity.cpu_over_minimal_push_only"),
      ("over the minimal script keeping its rows in SQLite", "capacity.cpu_over_minimal_with_store"))),
    ("capacity.overload_recovery_seconds", "≤ 60", lambda v: v <= 60,
     (("lost", "capacity.overload_lost"), ("duplicated", "capacity.overload_duplicated"),
      ("overload messages/s", "capacity.overload_rate"), ("then", "capacity.overload_normal_rate"),
      ("recovered", "capacity.overload_recovered"))),
    ("reliability.kill_points_incidents", "0", lambda v: v == 0,
     (("lost", "reliability.kill_points_lost"),
      ("duplicated", "reliability.kill_points_duplicated"), ("misfiled", "reliability.kill_points_misfiled"),
      ("unhandled", "reliability.kill_points_unhandled"), ("done twice", "reliability.kill_points_done_twice"),
      ("messages", "reliability.kill_points_messages"), ("kills", "reliability.kill_points_kills"))),
    ("reliability.random_kills_incidents", "0", lambda v: v == 0,
     (("lost", "reliability.random_kills_lost"),
      ("duplicated", "reliability.random_kills_duplicated"), ("misfiled", "reliability.random_kills_misfiled"),
      ("unhandled", "reliability.random_kills_unhandled"), ("done twice", "reliability.random_kills_done_twice"),
      ("messages", "reliability.random_kills_messages"), ("kills", "reliability.random_kills_kills"))),
    ("reliability.faults_incidents", "0", lambda v: v == 0,
     (("lost", "reliability.faults_lost"),
      ("duplicated", "reliability.faults_duplicated"), ("misfiled", "reliability.faults_misfiled"),
      ("unhandled", "reliability.faults_unhandled"), ("done twice", "reliability.faults_done_twice"),
      ("messages", "reliability.faults_messages"), ("kills", "reliability.faults_kills"))),
    ("reliability.postgres_restart_incidents", "0", lambda v: v == 0,
     (("lost", "reliability.postgres_restart_lost"),
      ("duplicated", "reliability.postgres_restart_duplicated"), ("misfiled", "reliability.postgres_restart_misfiled"),
      ("unhandled", "reliability.postgres_restart_unhandled"),
      ("done twice", "reliability.postgres_restart_done_twice"),
      ("messages", "reliability.postgres_restart_messages"), ("kills", "reliability.postgres_restart_kills"))),
    ("reliability.zoho_faults_incidents", "0", lambda v: v == 0,
     (("lost", "reliability.zoho_faults_lost"),
      ("duplicated", "reliability.zoho_faults_duplicated"), ("misfiled", "reliability.zoho_faults_misfiled"),
      ("unhandled", "reliability.zoho_faults_unhandled"), ("done twice", "reliability.zoho_faults_done_twice"),
      ("messages", "reliability.zoho_faults_messages"), ("kills", "reliability.zoho_faults_kills"))),
    ("reliability.rate_limit_incidents", "0", lambda v: v == 0,
     (("lost", "reliability.rate_limit_lost"),
      ("duplicated", "reliability.rate_limit_duplicated"), ("misfiled", "reliability.rate_limit_misfiled"),
      ("unhandled", "reliability.rate_limit_unhandled"), ("done twice", "reliability.rate_limit_done_twice"),
      ("messages", "reliability.rate_limit_messages"), ("backfilled", "reliability.rate_limit_backfill_messages"),
      ("moved by the month turn", "reliability.rate_limit_month_turn_filed"),
      ("refused by the limit", "reliability.rate_limit_refused"), ("after the turn (403)", "reliability.rate_limit_refused_after_turn"),
      ("refused after", "reliability.rate_limit_refused_after"),
      ("settled after the turn s", "reliability.rate_limit_settled_after_turn_seconds"))),
    ("reliability.overload_incidents", "0", lambda v: v == 0,
     (("lost", "reliability.overload_lost"),
      ("duplicated", "reliability.overload_duplicated"), ("misfiled", "reliability.overload_misfiled"),
      ("unhandled", "reliability.overload_unhandled"), ("done twice", "reliability.overload_done_twice"),
      ("messages", "reliability.overload_messages"), ("asked/s", "reliability.overload_offered_per_second"),
      ("sent/s", "reliability.overload_sent_per_second"), ("burst s", "reliability.overload_burst_seconds"),
      ("drained in s", "reliability.overload_drain_seconds"))),
    ("reliability.kill_points_min_hits", "≥ 5", lambda v: v >= 5,
     (("incidents over all scenarios", "reliability.incidents"), ("replicas", "reliability.replicas"))),
    ("soak.incidents", "0", lambda v: v == 0,
     (("lost", "soak.lost"), ("duplicated", "soak.duplicated"), ("misfiled", "soak.misfiled"),
      ("unhandled", "soak.unhandled"), ("done twice", "soak.done_twice"), ("messages", "soak.messages"),
      ("mailboxes", "soak.mailboxes"), ("replicas", "soak.replicas"), ("seconds", "soak.seconds"))),
    ("soak.processes_flat", "true", lambda v: v is True,
     (("second half", "soak.processes_flat_second_half"), ("RSS max MB", "soak.rss_mb_max"),
      ("RSS slope MB/h", "soak.rss_mb_slope_per_hour"),
      ("second half", "soak.rss_mb_slope_per_hour_second_half"), ("descriptors max", "soak.open_fds_max"),
      ("DB connections max", "soak.db_connections_max"), ("series not flat", "soak.not_flat"),
      ("load average", "soak.load_avg_1m_range"))),
    ("db.bytes_per_mailbox_day", "—", None, (("PostgreSQL", "db.postgres_bytes_per_mailbox_day"),)),
    ("db.sqlite_unseen_p99_ms_10m_rows", "—", None,
     (("raw", "db.sqlite_unseen_raw_p99_ms_10m_rows"), ("PostgreSQL", "db.postgres_unseen_p99_ms_10m_rows"),
      ("PostgreSQL raw", "db.postgres_unseen_raw_p99_ms_10m_rows"))),
    ("db.sqlite_categories_p99_ms_10m_rows", "—", None,
     (("raw", "db.sqlite_categories_raw_p99_ms_10m_rows"),
      ("PostgreSQL", "db.postgres_categories_p99_ms_10m_rows"),
      ("PostgreSQL raw", "db.postgres_categories_raw_p99_ms_10m_rows"))),
    ("crm.api_records_per_second", "—", None, (("Zoho sync", "crm.zoho_records_per_second"),)),
    ("crm.refile_latency_default_max_seconds", "—", None,
     (("mean", "crm.refile_latency_default_mean_seconds"), ("work", "crm.refile_work_seconds"))),
]


def _month_turn(results: Results) -> str | None:
    turn = _get(results, "labels.month_turn")
    if not isinstance(turn, dict):
        return None
    return (f"| `labels.month_turn` | the calls it must make | {_num(turn.get('units'))} units "
            f"(required {_num(turn.get('required_units'))}); {_num(turn.get('seconds'))} s; "
            f"DB CPU {_num(turn.get('db_cpu_ms_per_mailbox'))} ms per mailbox | "
            f"{_num(turn.get('mailboxes'))} mailboxes × {_num(turn.get('filed_messages_per_mailbox'))} filed | "
            f"{'yes' if turn.get('units') == turn.get('required_units') else 'no'} |")


def table(results: Results) -> str:
    machine = results.get("machine", {})
    lines = [f"Measured on {machine.get('cpu_count', '?')} cores ({machine.get('cpu', 'unknown CPU')}), "
             f"Python {machine.get('python', '?')}, {machine.get('date', '?')}.", "",
             "| key | target | measured | beside it | met |", "|---|---|---|---|---|"]
    for key, target, passes, context in ROWS:
        value = _get(results, key)
        if value is None:
            lines.append(f"| `{key}` | {target} | not measured | | |")
            continue
        met = "" if passes is None else ("yes" if passes(value) else "**no**")
        lines.append(f"| `{key}` | {target} | {_num(value)} | {_beside(results, *context)} | {met} |")
        if key == "labels.ratio_vs_stateful_inbox_5000" and (row := _month_turn(results)):
            lines.append(row)
    return "\n".join(lines)


def write_readme(results: Results, readme: Path = README) -> None:
    text = readme.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n" + table(results) + "\n" + text[end:])


def main(argv: list[str]) -> int:
    results = json.loads((HERE / "results.json").read_text())
    if "--write-readme" in argv:
        write_readme(results)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

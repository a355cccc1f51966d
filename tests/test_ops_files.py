"""ops/prometheus-alerts.yml and ops/grafana-dashboard.json (issue 19) name only metrics MailMagnet serves, and are
valid: checked with promtool (`check rules`, the rules' unit tests, and the dashboard's queries as recording rules)
when it is installed (Debian's `prometheus` package; .ci/run installs it), else structurally in Python."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from telemetry import metrics

OPS = Path(__file__).resolve().parents[1] / "ops"
ALERTS = OPS / "prometheus-alerts.yml"
DASHBOARD = OPS / "grafana-dashboard.json"
PROMTOOL = shutil.which("promtool")
METRIC = re.compile(r"\b(mailmagnet_[a-z0-9_]+)\b")
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
REQUIRED_ALERTS = {
    "MailMagnetMailboxFailing": "mailmagnet_mailbox_oldest_sync_age_seconds",
    "MailMagnetSyncStale": "mailmagnet_mailbox_oldest_sync_age_seconds",
    "MailMagnetZohoSyncFailing": "mailmagnet_crm_sync_failing",
    "MailMagnetGmailQuotaNearUserLimit": "mailmagnet_gmail_mailbox_peak_units_per_second",
}


def served_metric_names() -> set[str]:
    """Every series name /metrics can show: the registered metrics and the scrape-time gauges (fed dummy state)."""
    registry = metrics.server_registry(
        metrics.WorkGauges(lambda: 0, lambda: {"this_replica": 0}),
        metrics.OpsGauges(lambda: {"connected": (1, 0.0), "failing": (1, 0.0)}, lambda: {"zoho": (0.0, True)}))
    names = set()
    for family in registry.collect():
        names.add(family.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                    "summary": ("_sum", "_count")}.get(family.type, ())
        names.update(family.name + suffix for suffix in suffixes)
    return names


def balanced(expr: str) -> bool:
    """Brackets pair up outside string literals: the least a PromQL expression must do."""
    closing = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quoted = None
    for character in expr:
        if quoted:
            quoted = None if character == quoted else quoted
        elif character in "\"'`":
            quoted = character
        elif character in "([{":
            stack.append(character)
        elif character in closing:
            if not stack or stack.pop() != closing[character]:
                return False
    return not stack and quoted is None


def alert_rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]


def test_the_alert_rules_are_well_formed_and_name_only_served_metrics():
    document = yaml.safe_load(ALERTS.read_text())
    assert document["groups"] and all(group.get("name") and group.get("rules") for group in document["groups"])
    served = served_metric_names()
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= set(REQUIRED_ALERTS)
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule
        assert rule["expr"].strip() and balanced(rule["expr"]), rule["alert"]
        assert DURATION.match(str(rule.get("for", "0s"))), rule["alert"]
        assert rule["labels"].get("severity") in ("info", "warning", "critical"), rule["alert"]
        assert rule["annotations"].get("summary") and rule["annotations"].get("description"), rule["alert"]
        named = set(METRIC.findall(rule["expr"]))
        assert named and named <= served, (rule["alert"], named - served)
    for alert, metric in REQUIRED_ALERTS.items():
        assert metric in next(rule["expr"] for rule in rules if rule["alert"] == alert)


def test_the_dashboard_panels_query_only_served_metrics():
    board = json.loads(DASHBOARD.read_text())
    assert board["title"] and board["panels"]
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
    for panel in board["panels"]:
        assert panel["title"] and panel["targets"] and {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
    served = served_metric_names()
    for title, expr in dashboard_queries():
        named = set(METRIC.findall(expr))
        assert named and named <= served and balanced(expr), (title, named - served)
    shown = {name for _, expr in dashboard_queries() for name in METRIC.findall(expr)}
    # What the alerts watch is on the dashboard too.
    assert set(REQUIRED_ALERTS.values()) <= shown


def test_the_removed_duplicate_counter_is_gone():
    assert "mailmagnet_crm_sync_errors_total" not in served_metric_names()
    assert "mailmagnet_crm_sync_runs_total" in served_metric_names()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_checks_the_rules_and_runs_their_unit_tests():
    check = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run([PROMTOOL, "test", "rules", "prometheus-alerts.test.yml"], cwd=OPS, capture_output=True,
                           text=True, timeout=60)
    assert tests.returncode == 0, tests.stdout + tests.stderr


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_parses_every_dashboard_query(tmp_path):
    # Grafana's interval variable stands for a duration; as recording rules, promtool parses each query.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"mailmagnet_dashboard:query_{n}", "expr": expr.replace("$__rate_interval", "5m")}
        for n, (_, expr) in enumerate(dashboard_queries())]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    check = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr

"""`make bench` writes results.json after every script, so a later script reads an earlier one's figures of the
same run (reliability's overload is twice this run's capacity)."""
from __future__ import annotations

import json

from benchmarks import run_all


def test_each_write_puts_this_runs_figures_over_the_last_run(tmp_path, monkeypatch):
    out = tmp_path / "results.json"
    monkeypatch.setattr(run_all, "OUT", out)
    base = {"capacity": {"first_failing_rate": 20.0, "messages_per_second": 10.0}, "soak": {"incidents": 0},
            "machine": {"cpu": "old", "seconds_by_script": {"soak": 1800.0}}}
    results = {"machine": {"cpu": "new"}, "capacity": {"first_failing_rate": 100.0, "messages_per_second": 80.0}}
    run_all.write(results, {"capacity": 641.3}, base)
    written = json.loads(out.read_text())
    assert written["capacity"] == {"first_failing_rate": 100.0, "messages_per_second": 80.0}
    assert written["soak"] == {"incidents": 0}  # not run this time: the last run's stands
    assert written["machine"] == {"cpu": "new", "seconds_by_script": {"capacity": 641.3}}
    assert base["capacity"]["first_failing_rate"] == 20.0  # the base is not changed by a write

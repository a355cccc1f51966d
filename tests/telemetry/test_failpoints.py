"""telemetry/failpoints.py: a no-op unless named, the grammar, the shared hit log, and a real SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from telemetry import failpoints
from telemetry.failpoints import POINTS, configure, failpoint, parse, read_hits


@pytest.fixture(autouse=True)
def restore():
    yield
    configure("")


def test_the_grammar():
    assert parse("") == {}
    assert parse(" slack.post_accepted=kill@3 , labels.batch_modified=kill,lease.held=count ,") == {
        "slack.post_accepted": 3, "labels.batch_modified": 1, "lease.held": failpoints.COUNT}


@pytest.mark.parametrize("spec", ["slack.post_acepted=kill@1", "lease.held", "lease.held=kill@0", "lease.held=kill@x",
                                  "lease.held=stop@1", "lease.held=kill@", "lease.held=kill@²"])
def test_a_typo_is_refused_naming_the_item(spec):
    with pytest.raises(ValueError, match="MAILMAGNET_FAILPOINTS"):
        parse(spec)


def test_a_bad_value_stops_start_up_with_one_line(monkeypatch):
    from bot.settings import SettingsError, get_settings

    monkeypatch.setenv("MAILMAGNET_FAILPOINTS", "lease.hold=kill@1")
    with pytest.raises(SettingsError, match="mailmagnet_failpoints|MAILMAGNET_FAILPOINTS"):
        get_settings.__wrapped__()


def test_unnamed_points_do_nothing_and_write_nothing(tmp_path):
    log = tmp_path / "hits"
    active = configure("lease.held=count", str(log))
    for name in POINTS:
        if name != "lease.held":
            failpoint(name)
    assert not log.exists() and sum(active.hits.values()) == 0
    failpoint("lease.held")
    failpoint("lease.held")
    assert active.hits == {"lease.held": 2}
    assert read_hits(log) == {"lease.held": 2}


def test_the_process_is_killed_at_the_chosen_hit_and_the_log_counts_across_processes(tmp_path):
    log = tmp_path / "hits"
    script = ("from telemetry.failpoints import failpoint\n"
              "for i in range(5):\n"
              "    failpoint('sync.committed')\n"
              "    print(i, flush=True)\n")
    env = {**os.environ, "MAILMAGNET_FAILPOINTS": "sync.committed=kill@3,lease.held=count",
           "MAILMAGNET_FAILPOINT_LOG": str(log)}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == -signal.SIGKILL
        assert done.stdout.split() == ["0", "1"]  # the third hit never returned
    assert read_hits(log) == {"sync.committed": 6}
    lines = log.read_text().splitlines()
    assert len({line.split()[1] for line in lines}) == 2  # two processes, each named by its pid

"""reliability.*: SPEC §9 at full size, with the real `serve` process and the emulators.

- kill9_*: `serve` SIGKILLed at 20 random moments during sync, alerting and filing, restarted each time;
- faults_*: 20% of Gmail calls fail (429, 403 rate limit, 500, 503, dropped connection) while 500
  messages arrive; then the faults stop.
Each reports alerts lost, alerts duplicated and messages not filed correctly (all must be 0).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import emit
from testsupport.chaos import fault_scenario, kill_scenario


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kills = kill_scenario(f"sqlite:///{Path(tmp) / 'kill.db'}", kills=20, messages=200, seed=20,
                              settle_timeout=120)
        faults = fault_scenario(f"sqlite:///{Path(tmp) / 'faults.db'}", messages=500, settle_timeout=180)
    figures = {f"kill9_{k}": v for k, v in kills.as_dict().items()}
    figures.update({f"faults_{k}": v for k, v in faults.as_dict().items() if k != "kills"})
    figures["faults_rate"] = 0.2
    emit("reliability", figures)


if __name__ == "__main__":
    main()

"""`make bench`: run every benchmark script, merge their JSON, write benchmarks/results.json."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from benchmarks import report

HERE = Path(__file__).parent
# Helpers and the capacity benchmark's minimal baseline: not benchmarks of their own.
SKIP = {"__init__.py", "common.py", "run_all.py", "report.py", "serve_process.py", "emulator_process.py",
        "minimal_push_path.py", "minimal_store.py"}


def machine() -> dict:
    """Where the figures come from: they are only comparable on the same kind of machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_count": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "date": date.today().isoformat()}


OUT = HERE / "results.json"


def write(results: dict, seconds: dict[str, float], base: dict) -> dict:
    """results.json as `base` with this run's figures so far over it."""
    existing = json.loads(json.dumps(base))
    for area, figures in results.items():
        existing.setdefault(area, {}).update(figures)
    existing["machine"]["seconds_by_script"] = dict(seconds)
    OUT.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    return existing


def main(argv: list[str]) -> int:
    only = set(argv)
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP and not p.name.startswith("_"))
    if only:
        scripts = [p for p in scripts if p.stem in only]
    results: dict = {"machine": machine()}
    seconds: dict[str, float] = {}
    failed = []
    base = json.loads(OUT.read_text()) if only and OUT.exists() else {}  # a partial run updates the last one
    for script in scripts:
        started = time.monotonic()
        print(f"== {script.stem}", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", f"benchmarks.{script.stem}"], cwd=HERE.parent,
                              stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            failed.append(script.stem)
            print(f"   {script.stem} failed with exit status {proc.returncode}", file=sys.stderr)
            continue
        for line in proc.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                for area, figures in json.loads(line).items():
                    results.setdefault(area, {}).update(figures)
        seconds[script.stem] = round(time.monotonic() - started, 1)
        print(f"   done in {seconds[script.stem]:.1f}s", file=sys.stderr)
        # Written after every script: a later one reads an earlier one's figures of this run (reliability's
        # overload is twice this run's capacity, not the last run's).
        write(results, seconds, base)
    existing = write(results, seconds, base)
    if not only and not failed:
        report.write_readme(existing)  # the README's table is this run, nothing older
    print(report.table(existing))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

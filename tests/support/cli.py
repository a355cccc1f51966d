"""The CLI as a user runs it: a real process, the database from DATABASE_URL."""
from __future__ import annotations

import os
import subprocess
import sys


def run_cli(database_url, *args, env=None):
    environment = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          env=environment, timeout=120)

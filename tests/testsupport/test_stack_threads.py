"""A loopback stack's stop leaves no thread behind: every test, benchmark and the demo start and stop many, and each
used to leave waitress's HTTP_THREADS task threads waiting forever (16 a stack)."""
from __future__ import annotations

import shutil
import threading
import time

import pytest

from testsupport.stack import REP, free_port, start_stack


def threads_left(before: set[threading.Thread], wait: float = 5.0) -> list[str]:
    """The threads started since `before` and still alive once those ending on their own have had `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        left = [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]
        if not left or time.monotonic() > deadline:
            return sorted(thread.name for thread in left)
        time.sleep(0.05)


@pytest.mark.parametrize("options", [
    {"scheduler": True, "metrics": True},  # HTTP, the scheduler running, /metrics on a port of its own
    {"scheduler": True, "socket_mode": True},
], ids=["http", "socket_mode"])
def test_a_stopped_stack_leaves_no_thread_behind(sqlite_template, tmp_path, options):
    path = tmp_path / "mailmagnet.db"
    shutil.copy(sqlite_template, path)
    before = set(threading.enumerate())
    metrics = {"metrics_port": free_port()} if options.pop("metrics", False) else {}
    stack = start_stack(f"sqlite:///{path}", **options, **metrics)
    try:
        stack.add_rep()
        stack.connect_with_magnet()
        stack.mail("jane@acme.example", "About the renewal")
        stack.run("sync")
        assert stack.command(REP, "status")
        assert len(set(threading.enumerate()) - before) > 16  # the stack did run its threads
    finally:
        stack.stop()
    assert threads_left(before) == []

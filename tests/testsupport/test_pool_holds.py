"""The watch for a thread holding two pooled connections at once (testsupport/pool_holds.py), which every test
stack's stop applies."""
from __future__ import annotations

import threading

import pytest

from testsupport.pool_holds import NestedCheckouts


def test_a_second_connection_taken_while_holding_one_fails_the_check_and_says_where(engine):
    watch = NestedCheckouts(engine)
    with engine.connect():
        with engine.connect():
            pass
    with pytest.raises(AssertionError, match="second pooled connection") as failed:
        watch.check()
    assert "test_pool_holds.py" in str(failed.value)


def test_connections_one_after_the_other_and_on_other_threads_pass(engine):
    watch = NestedCheckouts(engine)
    for _ in range(3):
        with engine.connect():
            pass
    with engine.connect():
        other = threading.Thread(target=lambda: engine.connect().close())
        other.start()
        other.join()
    watch.check()
    assert watch.found == []


def test_a_known_path_is_counted_apart_and_does_not_fail_the_check(engine):
    watch = NestedCheckouts(engine, known=(("tests/testsupport/test_pool_holds.py", "second_connection"),))

    def second_connection():
        with engine.connect():
            pass

    with engine.connect():
        second_connection()
    watch.check()
    assert watch.known_found == 1

"""The SQLite write gate: writers take turns in this process, Slack requests first; readers never wait."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm_store import processed_requests
from crm_store.db import create_db_engine, session_scope
from crm_store.models import ProcessedSlackRequest
from crm_store.sqlite_gate import WriteGate, gate_for, is_write, writes_first


@pytest.fixture
def sqlite_file(tmp_path, sqlite_template) -> Path:
    path = tmp_path / "gate.db"
    shutil.copy(sqlite_template, path)
    return path


@pytest.fixture
def engine(sqlite_file):
    engine = create_db_engine(f"sqlite:///{sqlite_file}")
    yield engine
    engine.dispose()


def wait_until(condition, what: str) -> None:
    done = threading.Event()
    for _ in range(2000):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError(f"never happened: {what}")


def claimed_in_order(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT key FROM processed_slack_requests ORDER BY rowid")).scalars())


def test_which_statements_take_the_gate():
    assert is_write("INSERT INTO x VALUES (1)") and is_write("  update x set a = 1") and is_write("DELETE FROM x")
    assert is_write("WITH gone AS (SELECT 1) DELETE FROM x")  # unknown shapes count as writes
    assert not is_write("SELECT 1") and not is_write("  select * from x") and not is_write("PRAGMA user_version")


def test_a_slack_request_writes_before_background_writers_that_queued_earlier(engine, sqlite_file):
    gate = gate_for(str(sqlite_file.resolve()))
    holding, release = threading.Event(), threading.Event()

    def holder():
        with engine.begin() as connection:
            connection.execute(sa.insert(ProcessedSlackRequest.__table__).values(key="holder",
                                                                                 created_at=sa.func.now()))
            holding.set()
            release.wait(10)

    def background():
        processed_requests.claim(engine, "background")

    def slack_request():
        writes_first()
        processed_requests.claim(engine, "slack")

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    assert holding.wait(10)
    for target in (background, slack_request):  # the background writer queues first
        thread = threading.Thread(target=target)
        thread.start()
        threads.append(thread)
        wait_until(lambda n=len(threads) - 1: gate.waiting == n, "the writer queued")
    release.set()
    for thread in threads:
        thread.join(10)
    assert claimed_in_order(engine) == ["holder", "slack", "background"]


def test_readers_do_not_wait_for_the_writer_holding_the_gate(engine):
    processed_requests.claim(engine, "before")
    with engine.begin() as connection:
        connection.execute(sa.delete(ProcessedSlackRequest.__table__))  # holds the gate until the block ends
        seen = []
        reader = threading.Thread(target=lambda: seen.append(processed_requests.seen(engine, "before")))
        reader.start()
        reader.join(10)
        assert seen == [True]  # the reader's snapshot, read while the write was still open


def test_a_failed_transaction_gives_the_gate_back(engine):
    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            session.add(ProcessedSlackRequest(key="rolled back", created_at=sa.func.now()))
            session.flush()
            raise RuntimeError("the use case failed")
    other = threading.Thread(target=processed_requests.claim, args=(engine, "next"))
    other.start()
    other.join(10)
    assert not other.is_alive() and claimed_in_order(engine) == ["next"]


def test_writers_take_turns_in_the_order_they_queued_slack_requests_first():
    gate = WriteGate()
    assert gate.acquire()
    order: list[str] = []
    woken = threading.Semaphore(0)

    def writer(name: str, first: bool = False) -> None:
        if first:
            writes_first()
        assert gate.acquire(10)
        order.append(name)
        woken.release()
        gate.release()

    threads = []
    for name, first in (("b1", False), ("b2", False), ("slack", True), ("b3", False)):
        thread = threading.Thread(target=writer, args=(name, first))
        thread.start()
        threads.append(thread)
        wait_until(lambda n=len(threads): gate.waiting == n, "the writer queued")
    gate.release()
    for thread in threads:
        thread.join(10)
    assert order == ["slack", "b1", "b2", "b3"]
    assert gate.waiting == 0 and gate.acquire(0.1)  # free again once the queue is empty
    gate.release()


def test_a_writer_whose_wait_runs_out_leaves_the_queue_and_the_next_one_still_gets_the_gate():
    gate = WriteGate()
    assert gate.acquire()
    results: dict[str, bool] = {}
    impatient = threading.Thread(target=lambda: results.__setitem__("impatient", gate.acquire(0.05)))
    impatient.start()
    impatient.join(10)
    assert results == {"impatient": False} and gate.waiting == 0
    patient = threading.Thread(target=lambda: results.__setitem__("patient", gate.acquire(10)))
    patient.start()
    wait_until(lambda: gate.waiting == 1, "the writer queued")
    gate.release()
    patient.join(10)
    assert results["patient"] is True

"""SQLite's WAL checkpoints: never inside a commit that holds the write gate, on the checkpointer's thread instead."""
from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm_store import sqlite_checkpoints
from crm_store.db import create_db_engine
from crm_store.sqlite_checkpoints import Checkpointer

# SQLite's own default: a commit that takes the log past this many pages checkpoints it (with fsyncs).
AUTOCHECKPOINT_PAGES = 1000


@pytest.fixture
def sqlite_file(tmp_path, sqlite_template) -> Path:
    path = tmp_path / "checkpoints.db"
    shutil.copy(sqlite_template, path)
    return path


@pytest.fixture
def engine(sqlite_file):
    engine = create_db_engine(f"sqlite:///{sqlite_file}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
    yield engine
    engine.dispose()


@pytest.fixture
def no_background_checkpoints(monkeypatch):
    """The process's checkpointer thread looks but does nothing, so the test sees only what the commits did."""
    monkeypatch.setattr(sqlite_checkpoints.checkpointer, "run_due", lambda: 0)


def write_pages(engine, commits: int) -> None:
    for _ in range(commits):
        with engine.begin() as connection:  # one page and more per commit
            connection.execute(sa.text("INSERT INTO blobs (body) VALUES (randomblob(4000))"))


def log_frames(path: Path) -> tuple[int, int, int]:
    """A PASSIVE checkpoint's answer, run here: (busy, frames in the log, frames copied back)."""
    with sqlite3.connect(path) as connection:
        return tuple(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())


def test_commits_of_a_gated_engine_never_checkpoint(engine, sqlite_file, no_background_checkpoints):
    with engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA wal_autocheckpoint")).scalar() == 0
    write_pages(engine, 2 * AUTOCHECKPOINT_PAGES)
    # Every frame the commits wrote is still in the log: no commit copied it back (with SQLite's default, the log
    # would have been started again after about 1,000 pages and hold fewer).
    _, frames, _ = log_frames(sqlite_file)
    assert frames >= 2 * AUTOCHECKPOINT_PAGES


def test_the_checkpointer_copies_a_log_that_changed_and_only_then(engine, sqlite_file, no_background_checkpoints):
    ours = Checkpointer(every=3600)  # its thread sleeps: the test drives it
    ours.watch(str(sqlite_file.resolve()))
    write_pages(engine, 50)
    assert ours.run_due() == 1
    busy, frames, copied = sqlite_checkpoints.checkpoint(str(sqlite_file))
    assert busy == 0 and frames == copied  # all copied back: the next writer starts the log again
    assert ours.run_due() == 0  # nothing written since: nothing to do
    write_pages(engine, 1)
    assert ours.run_due() == 1


def test_the_process_checkpointer_checkpoints_a_gated_engines_log(engine, sqlite_file, monkeypatch):
    done: list[tuple] = []
    checkpoint = sqlite_checkpoints.checkpoint

    def noted(database: str):
        answer = checkpoint(database)
        if database == str(sqlite_file.resolve()):
            done.append(answer)
        return answer

    monkeypatch.setattr(sqlite_checkpoints, "checkpoint", noted)
    write_pages(engine, 50)
    wait = threading.Event()
    for _ in range(200):  # its thread looks every CHECK_SECONDS
        if done:
            break
        wait.wait(0.1)
    else:
        raise AssertionError("the process's checkpointer never checkpointed the engine's file")
    busy, frames, copied = done[0]
    assert busy == 0 and frames and frames == copied  # its look may come before all 50 were written


def test_a_file_that_is_gone_is_forgotten_and_never_made_again(tmp_path):
    path = tmp_path / "gone.db"
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
    (tmp_path / "gone.db-wal").write_bytes(b"")
    ours = Checkpointer(every=3600)
    ours.watch(str(path))
    path.unlink()
    (tmp_path / "gone.db-wal").unlink()
    assert ours.run_due() == 0
    assert ours.watching() == set() and not path.exists()
    assert sqlite_checkpoints.checkpoint(str(path)) is None and not path.exists()

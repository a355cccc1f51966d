"""testsupport/pgcluster.py: a cluster of its own that a scenario can restart and kill under its clients."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from testsupport.pgcluster import require_cluster


def test_a_cluster_of_its_own_survives_restart_and_kill_with_its_data():
    cluster = require_cluster()
    try:
        engine = sa.create_engine(cluster.create_database("scenario"), pool_pre_ping=True)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE kept (n int)")
            connection.exec_driver_sql("INSERT INTO kept VALUES (1)")
        cluster.stop()
        assert not cluster.accepts_connections()
        with pytest.raises(OperationalError):
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        cluster.start()
        cluster.kill()
        assert not cluster.accepts_connections()
        cluster.start()
        with engine.connect() as connection:  # the pool's dead connections are replaced (pre-ping)
            assert connection.exec_driver_sql("SELECT n FROM kept").scalar() == 1
        engine.dispose()
    finally:
        cluster.destroy()
    assert not cluster.root.exists()

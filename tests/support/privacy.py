"""Everything the database holds, as bytes, to search for what must never be stored."""
from __future__ import annotations

import os


def database_bytes(stack, database_url) -> bytes:
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        stack.engine.dispose()
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
    dump = []
    with stack.engine.connect() as connection:
        tables = [r[0] for r in connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            dump.extend(str(row) for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'))
    return "\n".join(dump).encode()

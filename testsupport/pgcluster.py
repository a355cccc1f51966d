"""A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary directory, `pg_ctl` on a free
port, so a scenario can stop, restart or SIGKILL the database under running replicas (SPEC §9).

    with PgCluster.create() as cluster:
        url = cluster.create_database("fleet")
        cluster.restart()

Run as root, the server runs as the `postgres` user (`runuser -u postgres --`): PostgreSQL refuses to run as root.
When the binaries are missing, `PgCluster.create()` raises `PgUnavailable`; `require_cluster()` turns that into a
pytest skip, except under `CI=true` where a missing PostgreSQL must fail the run instead of hiding it.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARIES = ("initdb", "pg_ctl", "postgres")


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries here (or no `postgres` user to run them as root)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_bindir() -> Path:
    """Where initdb, pg_ctl and postgres are: PG_BINDIR, the PATH, or Debian's /usr/lib/postgresql/<n>/bin."""
    candidates = [os.environ.get("PG_BINDIR")]
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in filter(None, candidates):
        if all((Path(candidate) / name).exists() for name in BINARIES):
            return Path(candidate)
    raise PgUnavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres); set PG_BINDIR")


class PgCluster:
    def __init__(self, bindir: Path, root: Path, port: int):
        self.bindir, self.root, self.port = bindir, root, port
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.logfile = root / "postgres.log"
        self._as_postgres = os.geteuid() == 0

    @classmethod
    def create(cls, *, port: int | None = None) -> "PgCluster":
        """initdb a new cluster (trust authentication, user `postgres`, loopback only) and start it."""
        bindir = find_bindir()
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root and there is no `postgres` user to run PostgreSQL as") from None
        root = Path(tempfile.mkdtemp(prefix="mm-pgcluster-"))
        cluster = cls(bindir, root, port or free_port())
        cluster.socket_dir.mkdir()
        if cluster._as_postgres:
            root.chmod(0o755)
            for path in (root, cluster.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        cluster._run("initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                     "--no-sync", "--no-instructions")
        with open(cluster.data / "postgresql.conf", "a") as conf:
            # A test cluster: durability against power loss is not what is tested (a process kill loses nothing
            # committed either way), and a replica fleet needs more than the default 100 connections.
            conf.write(f"\nport = {cluster.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{cluster.socket_dir}'\nfsync = off\nsynchronous_commit = off\n"
                       "full_page_writes = off\nmax_connections = 300\nshared_buffers = 64MB\n")
        cluster.start()
        return cluster

    def _run(self, binary: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.bindir / binary), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"{binary} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}\n"
                               f"{self.log_tail()}")
        return done

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: disconnect every client, then shut down cleanly; `immediate`: as a crash would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, *, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster (its children then exit); `start` recovers from the write-ahead log."""
        pid = self.postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self._alive(pid):
                time.sleep(0.05)
        # Children of a killed postmaster notice within a moment and exit; start refuses while they hold memory.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self._run("pg_ctl", "-D", str(self.data), "status",
                                                        check=False).returncode == 0:
            time.sleep(0.1)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # a zombie child of ours counts as gone
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split(") ", 1)[1][:1] != "Z"
        except OSError:
            return False

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    # -- databases ---------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def require_cluster() -> PgCluster:
    """A started cluster, or a pytest skip when PostgreSQL is not installed — a failure under CI=true."""
    import pytest

    try:
        return PgCluster.create()
    except PgUnavailable as missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and no PostgreSQL to run the fleet on: {missing}")
        pytest.skip(str(missing))

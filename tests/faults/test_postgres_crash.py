"""PostgreSQL crashes under a running daemon (issue "Step 10").

The test starts its OWN throwaway cluster (``initdb`` into a temporary folder, trust
authentication, 127.0.0.1 on a free port; as the ``postgres`` user when the test runs as
root, since PostgreSQL refuses to run as root), never the shared server. A real daemon
(``python -m monitor -v run --config FILE``, a fresh interpreter) backfills the world of
:mod:`tests.faults.daemon_world` into it; meanwhile the cluster is stopped with
``pg_ctl stop -m immediate`` (a crash: no shutdown checkpoint, clients cut off, crash
recovery at the next start) whenever the backfill has made progress since the last
restart, and started again 1.5 s later, twice. The daemon must survive (the same
process all along, the failed polls logged), recover by itself on its next polls, finish
the backfill, and leave the rows of an uninterrupted run (SQLite, same world), then stop
cleanly on SIGTERM.

Skipped, with the reason, where no cluster can be started: the PostgreSQL 15 binaries are
missing, or the test runs as root and there is no ``postgres`` user to run them as.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from faults.conftest import FaultTally
from faults.daemon_world import (
    assert_rows_match,
    backfill_done,
    read_rows,
    start_cli_process,
    write_staging,
    write_world,
)
from monitor.cli import main

pytestmark = pytest.mark.slow

PG_BIN = Path(os.environ.get("MONITOR_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
OUTAGES = 2
OUTAGE_S = 1.5
#: Longest wait for the daemon to get on (start, progress, recovery), seconds.
PATIENCE_S = 90.0


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster run by ``user``."""

    data: Path
    port: int
    user: str | None  # None: the current (non-root) user

    def _run(self, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              cwd="/")

    def start(self) -> None:
        proc = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data.parent / "pg.log"),
                         "-w", "-t", "60", "-o",
                         f"-p {self.port} -c listen_addresses=127.0.0.1 "
                         f"-k {self.data.parent} -c fsync=off", "start")
        assert proc.returncode == 0, proc.stdout + proc.stderr + self.log()

    def crash(self) -> None:
        proc = self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def log(self) -> str:
        path = self.data.parent / "pg.log"
        return path.read_text(errors="replace")[-3000:] if path.is_file() else ""

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A fresh cluster with a ``watch`` database, removed afterwards."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (set MONITOR_TEST_PG_BIN)")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run a cluster as "
                        "(PostgreSQL refuses to run as root)")
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to start PostgreSQL as 'postgres'")
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="faults-pg-"))
    base.chmod(0o755)
    if user is not None:
        os.chown(base, entry.pw_uid, entry.pw_gid)
    pg = Cluster(base / "data", _free_port(), user)
    try:
        init = pg._run("initdb", "-D", str(pg.data), "-U", "postgres", "-A", "trust",
                       "--no-sync", "-E", "UTF8")
        if init.returncode != 0:
            pytest.skip(f"initdb failed: {init.stderr.strip()[-500:]}")
        pg.start()
        created = pg._run("createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                          "postgres", "watch")
        assert created.returncode == 0, created.stderr
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # the database is down or starting: look again
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_daemon_survives_postgres_crashes_and_finishes_the_backfill(
        cluster: Cluster, tmp_path: Path, faults: FaultTally) -> None:
    staging = write_staging(tmp_path / "staging")
    ref_cfg = write_world(tmp_path / "reference", staging,
                          f"sqlite:///{tmp_path / 'reference' / 'watch.db'}")
    assert main(["run", "--once", "--config", str(ref_cfg)]) == 0
    reference = read_rows(f"sqlite:///{tmp_path / 'reference' / 'watch.db'}")

    url = cluster.url("watch")
    cfg = write_world(tmp_path / "world", staging, url)
    log = tmp_path / "world" / "daemon.log"
    daemon = start_cli_process(["-v", "run", "--config", str(cfg)], log)
    crashes = 0
    try:
        def epochs() -> int:
            return len(read_rows(url)["epochs"])

        seen = 0
        for _ in range(OUTAGES):
            # Mid-backfill where possible: after progress since the last restart (or, once
            # everything is in, at once: an outage under an idle daemon).
            _wait(lambda s=seen: epochs() > s or backfill_done(read_rows(url), reference),
                  PATIENCE_S, "progress of the backfill")
            seen = epochs()
            cluster.crash()
            crashes += 1
            time.sleep(OUTAGE_S)
            assert daemon.poll() is None, "the daemon died with the database:\n" + \
                log.read_text()[-3000:]
            cluster.start()
        _wait(lambda: backfill_done(read_rows(url), reference), PATIENCE_S,
              "the backfill to complete after the crashes")
        assert daemon.poll() is None, log.read_text()[-3000:]
        assert_rows_match(read_rows(url), reference)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)
    text = log.read_text(errors="replace")
    failed_polls = len(re.findall(r"monitor\.service\.daemon: poll \S+: failed after", text))
    faults.injected("postgres stop -m immediate", crashes)
    faults.measured("postgres crashes survived", crashes)
    faults.measured("postgres: failed polls logged", failed_polls)
    faults.wedged(0 if backfill_done(read_rows(url), reference) else 1)
    assert crashes == OUTAGES and failed_polls >= 1 and "daemon stopped" in text

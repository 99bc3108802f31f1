"""``kill -9`` at random moments of a running daemon, at least 50 times (issue "Step 10").

The world is :mod:`tests.faults.daemon_world` (two targets; ``up`` raises WATCH then
WARNING, two recipients each: four e-mails in the dry-run folder). One uninterrupted
``run --once`` of a fresh copy is the reference; its wall time ``T`` is the backfill's
duration.

A *campaign* takes another fresh copy and runs the daemon (``run --config FILE``, the real
command line in a real process, see :func:`~tests.faults.daemon_world.run_cli`) over and
over, each life ended by ``SIGKILL`` after a delay drawn from a seeded
:class:`random.Random`, uniform over ``[0.05 s, T / 2]``: each life gets a little further
into the backfill, so the kills land all over it (listing, copying, series writes,
scoring, alerts, quicklooks, queued deliveries, e-mails written and not yet marked sent).
A campaign ends when the database shows the backfill complete (every epoch scored, every
alert raised, nothing left in the outbox); campaigns follow one another until 50 kills
have been made. Each campaign is then run once more, uninterrupted (``run --once``, which
must exit 0 and change nothing) and compared with the reference:

* the same products, epochs, scores (to 1e-6), alerts (exactly once each: same epochs,
  kinds and levels) and deliveries (all sent), and the same series files (to 1e-6);
* every expected e-mail at least once: the dry-run folder holds one file per
  ``Message-ID``, with the reference's subjects and recipients; a message written again
  after a kill (the window between the write and ``mark_delivery_sent``) is counted as a
  duplicate from the daemon's log lines;
* one quicklook per alert, and no temporary file left behind.

Runs on SQLite, and on PostgreSQL (a fresh schema per campaign) when
``MONITOR_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faults.conftest import FaultTally
from faults.daemon_world import (
    TARGETS,
    assert_rows_match,
    backfill_done,
    dry_run_writes,
    fork_server,
    message_ids,
    orphan_temp_files,
    read_rows,
    run_cli,
    write_staging,
    write_world,
)
from monitor.config import load_settings
from monitor.service.series_files import load_state, series_path

pytestmark = pytest.mark.slow

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
#: Kills a run makes at least (over as many campaigns as it takes).
MIN_KILLS = 50
#: On PostgreSQL (each life is slower to start), fewer kills keep the suite in its time;
#: the 50 of a run are those of SQLite.
MIN_KILLS_BY_BACKEND = {"sqlite": MIN_KILLS, "postgresql": 10}
#: Lives after which a campaign that has not completed counts as wedged.
MAX_LIVES = 150
SEED = 10_2024
#: Shortest delay before a kill, seconds.
MIN_DELAY_S = 0.05
#: Series compared to 1e-6.
FLOAT_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_staging(tmp_path_factory.mktemp("staging"))


@pytest.fixture(scope="module")
def server() -> ForkServerContext:
    return fork_server()


@dataclass
class Run:
    """What one world left: rows, series, e-mails, quicklooks, logs."""

    folder: Path
    db_url: str
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)
    kills: int = 0
    seconds: float = 0.0


def life(server: ForkServerContext, argv: list[str], log: Path, kill_after_s: float | None
         ) -> tuple[int | None, bool]:
    """One process running ``argv``; killed with SIGKILL after ``kill_after_s`` seconds
    (None: waits for it, at most 120 s). Returns (exit code, killed)."""
    child = server.Process(target=run_cli, args=(argv, str(log)))
    child.start()
    child.join(120.0 if kill_after_s is None else kill_after_s)
    killed = child.is_alive()
    if killed:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL, child.exitcode
    return child.exitcode, killed


def run_once(server: ForkServerContext, cfg: Path, log: Path) -> int | None:
    code, killed = life(server, ["-v", "run", "--once", "--config", str(cfg)], log, None)
    assert not killed, f"run --once did not finish in 120 s; see {log}"
    return code


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def reference(backend: str, tmp_path_factory: pytest.TempPathFactory, staging: Path,
              server: ForkServerContext,
              fresh_database: Callable[[str, Path], AbstractContextManager[str]]
              ) -> Iterator[Run]:
    """One uninterrupted ``run --once`` of a fresh world."""
    folder = tmp_path_factory.mktemp(f"reference_{backend}")
    with fresh_database(backend, folder) as url:
        cfg = write_world(folder, staging, url)
        ref = Run(folder, url, logs=[folder / "run.log"])
        t0 = time.perf_counter()
        assert run_once(server, cfg, ref.logs[0]) == 0, ref.logs[0].read_text()
        ref.seconds = time.perf_counter() - t0
        ref.rows = read_rows(url)
        yield ref


def campaign(server: ForkServerContext, folder: Path, staging: Path, db_url: str,
             reference: Run, rng: random.Random, max_delay_s: float) -> Run:
    """Kill the daemon of a fresh world until its backfill is complete."""
    cfg = write_world(folder, staging, db_url)
    run = Run(folder, db_url)
    t0 = time.perf_counter()
    for n in range(MAX_LIVES):
        log = folder / f"life{n:03d}.log"
        run.logs.append(log)
        delay = rng.uniform(MIN_DELAY_S, max_delay_s)
        code, killed = life(server, ["-v", "run", "--config", str(cfg)], log, delay)
        assert killed, f"the daemon exited by itself ({code}) after {delay:.2f} s: " \
                       f"{log.read_text()[-3000:]}"
        run.kills += 1
        if backfill_done(read_rows(db_url), reference.rows):
            break
    run.seconds = time.perf_counter() - t0
    # The restart that finds everything done: it must poll cleanly and change nothing.
    before = read_rows(db_url)
    run.logs.append(folder / "final.log")
    assert run_once(server, cfg, run.logs[-1]) == 0, run.logs[-1].read_text()[-3000:]
    run.rows = read_rows(db_url)
    assert run.rows == before, "a poll after the backfill changed the rows"
    return run


def assert_series_match(run: Run, reference: Run) -> None:
    for tid, frame, _, _ in TARGETS:
        dirs = [load_settings(r.folder / "monitor.toml", environ={}).watch.series_dir
                for r in (run, reference)]
        got, want = (load_state(series_path(d, tid, frame)) for d in dirs)
        assert got is not None and want is not None, tid
        assert (got.n_epochs, got.first_epoch, got.last_epoch) == \
            (want.n_epochs, want.first_epoch, want.last_epoch)
        np.testing.assert_allclose(got.cumulative_m, want.cumulative_m,
                                   atol=FLOAT_TOLERANCE, equal_nan=True)


def mail_keys(outbox: Path) -> dict[tuple[str, str], bool]:
    """(Subject, To) of every dry-run message -> whether it carries its PNG (or is a
    clearance, which has none)."""
    parse = BytesParser(policy=policy.default).parsebytes
    out = {}
    for path in sorted(outbox.glob("*.eml")) if outbox.is_dir() else []:
        msg = parse(path.read_bytes())
        has_png = any(p.get_content_type() == "image/png"
                      for p in msg.iter_attachments())  # type: ignore[attr-defined]
        out[(str(msg["Subject"]), str(msg["To"]))] = has_png
    return out


def test_random_kills_leave_every_alert_once_and_every_email_at_least_once(
        backend: str, reference: Run, staging: Path, server: ForkServerContext,
        tmp_path: Path, faults: FaultTally,
        fresh_database: Callable[[str, Path], AbstractContextManager[str]]) -> None:
    ref_mail = mail_keys(reference.folder / "outbox")
    assert len(reference.rows["alerts"]) == 2 and len(ref_mail) == 4, reference.rows
    assert all(ref_mail.values())
    rng = random.Random(SEED)
    max_delay_s = max(0.5, reference.seconds / 2)
    runs: list[Run] = []
    while sum(r.kills for r in runs) < MIN_KILLS_BY_BACKEND[backend]:
        folder = tmp_path / f"campaign{len(runs)}"
        with fresh_database(backend, folder) as url:
            run = campaign(server, folder, staging, url, reference, rng, max_delay_s)
            runs.append(run)
            if not backfill_done(run.rows, reference.rows):
                faults.wedged(1)
    kills = sum(r.kills for r in runs)
    faults.injected(f"kill -9 daemon ({backend})", kills)
    faults.measured(f"kills: campaigns ({backend})", len(runs))
    faults.measured(f"kills: seconds killing ({backend})", sum(r.seconds for r in runs))
    faults.measured(f"kills: reference backfill s ({backend})", reference.seconds)

    duplicates = lost = 0
    for run in runs:
        assert_rows_match(run.rows, reference.rows)
        assert_series_match(run, reference)
        outbox = run.folder / "outbox"
        mail = mail_keys(outbox)
        lost += len(set(ref_mail) - set(mail))
        assert set(mail) == set(ref_mail), (run.folder, sorted(mail), sorted(ref_mail))
        assert all(mail.values()), f"an alert e-mail lost its quicklook: {mail}"
        ids = message_ids(outbox)
        assert len(ids) == len(ref_mail)
        writes = dry_run_writes(run.logs)
        assert set(writes) == set(ids.values()), (writes, ids)
        duplicates += sum(n - 1 for n in writes.values())
        quicklooks = sorted(p.name for p in (run.folder / "quicklooks").iterdir())
        assert quicklooks == sorted(p.name for p in (reference.folder / "quicklooks")
                                    .iterdir())
        assert orphan_temp_files(run.folder) == []
    faults.duplicates(duplicates)
    faults.lost(lost)
    faults.measured(f"kills: duplicate e-mails ({backend})", duplicates)
    assert kills >= MIN_KILLS_BY_BACKEND[backend] and lost == 0


def test_the_sweep_removes_only_files_of_writers_that_are_gone(tmp_path: Path) -> None:
    """What a killed writer leaves (a file, or a working directory with its contents) is
    removed at the daemon's start; a live writer's temporary file or directory (this
    process's, or another running process's) and ordinary files whose names merely end
    like one are left."""
    from monitor.io.atomic import atomic_write, sweep_orphaned_temp_files

    dead = _dead_pid()
    (tmp_path / "series" / "alert_maps").mkdir(parents=True)
    orphans = [tmp_path / "series" / "alert_maps" / f".up_20240223.npz.{dead}.g2nx_whx.tmp",
               tmp_path / "cache" / f"x.geo.unw.tif.{dead}.abcd1234.part",
               tmp_path / "outbox" / f"alert-1-abc_localhost.eml.{dead}.part"]
    kept = [tmp_path / "series" / f".up.npz.{os.getpid()}.abcdefgh.tmp",
            tmp_path / "series" / f".up.npz.{os.getppid()}.abcdefgh.tmp",
            tmp_path / "series" / "notes.tmp", tmp_path / "cache" / "20240106.part",
            tmp_path / "series" / "up.npz"]
    for path in orphans + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    # The working directory of a PALSAR-2 product (tempfile.mkdtemp under the same rule),
    # killed with what it held; a live process's stays.
    work = tmp_path / "cache" / "P122F0650" / f".20240101_20240301.{dead}.k2_x9a.tmp"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "x.geo.unw.tif").write_bytes(b"x")
    live_work = tmp_path / "cache" / f".20240101_20240301.{os.getpid()}.abc.tmp"
    live_work.mkdir()
    (live_work / "x.tif").write_bytes(b"x")
    orphans.append(work)
    kept.append(live_work / "x.tif")
    with atomic_write(tmp_path / "series" / "live.npz") as fh:
        (live,) = [p for p in (tmp_path / "series").glob(".live.npz.*.tmp")]
        removed = sweep_orphaned_temp_files(tmp_path / "series", tmp_path / "cache",
                                            tmp_path / "outbox", tmp_path / "missing")
        assert sorted(removed) == sorted(orphans)
        assert live.is_file()
        fh.write(b"y")
    assert (tmp_path / "series" / "live.npz").read_bytes() == b"y"
    assert not any(p.exists() for p in orphans) and all(p.exists() for p in kept)


def _dead_pid() -> int:
    """The id of a process that has ended (a child that was started and reaped)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid

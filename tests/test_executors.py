"""Executors and concurrent targets (issue 17): every score and alert of a watch scored in
worker processes or on a Dask cluster is the in-process run's; a lost worker's task is run
again; a task that cannot run fails its product for a later poll; targets are polled at
once, one writer each.

The archive is synthetic (:func:`monitor.io.synth_archive.write_synthetic_archive`): two
frames of 128 x 128 pixels, 4 epochs 12 days apart, an inflating Mogi source under one,
watched by three targets (two share a frame, so they also fetch the same products at
once). The Dask cluster is a ``LocalCluster`` of 2 worker processes, one per module.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import executor_tasks
import pytest

import monitor.service.daemon as daemon_mod
import monitor.service.pipeline as pipeline_mod
from monitor.config import Settings, TargetSettings, settings_from_mapping
from monitor.domain import ProductStatus
from monitor.errors import ConfigError, ExecutorError, ExecutorTimeout
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.daemon import Daemon
from monitor.service.executors import (
    Executor,
    InlineExecutor,
    ProcessExecutor,
    TaskHandle,
    build_executor,
)
from monitor.service.pipeline import PollReport, poll_target
from monitor.store import Store, make_engine, upgrade

FRAME1 = "022D_04826_121209"
FRAME2 = "087A_05000_131313"
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
SIZE_PX = 128
TARGETS = (("a", FRAME1, 120.0, 14.0, 1.5), ("b", FRAME2, 121.0, 15.0, 1.5),
           ("c", FRAME1, 120.0, 14.0, 2.0))


class FixedClock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staging")
    inflating = SeriesScenario(n_epochs=4, onset=date(2024, 1, 18), rate_m_per_yr=1.5,
                               stratified_strength="none", decorrelate=False)
    quiet = SeriesScenario(n_epochs=4, onset=None, stratified_strength="none",
                           decorrelate=False)
    write_synthetic_archive(root, scenario=inflating, frame=FRAME1, volcano="synthetic",
                            size_px=SIZE_PX, centre_lonlat=(120.0, 14.0), seed=3)
    write_synthetic_archive(root, scenario=quiet, frame=FRAME2, volcano="synthetic",
                            size_px=SIZE_PX, centre_lonlat=(121.0, 15.0), seed=4)
    return root


def watch_settings(tmp: Path, staging: Path, executor: dict[str, Any],
                   db_url: str | None = None) -> Settings:
    """Three targets over a copy of the staged archive, with ``[executor]``."""
    shutil.copytree(staging, tmp / "archive", dirs_exist_ok=True)
    return settings_from_mapping({
        "database": {"url": db_url or f"sqlite:///{tmp / 'watch.db'}"},
        "watch": {"series_dir": str(tmp / "series"), "cache_dir": str(tmp / "cache"),
                  "quicklook_dir": str(tmp / "quicklooks"), "jitter_s": 0},
        "email": {"mode": "dry-run", "outbox_dir": str(tmp / "outbox")},
        "metrics": {"enabled": False}, "status_page": {"enabled": False},
        "feeds": {"enabled": False},
        # Alerts at the first qualifying step, so that the short series raises some.
        "alerts": {"combine": "cnn", "raise_after": 1},
        "archives": {"local": {"kind": "local", "root": str(tmp / "archive")}},
        "targets": [{"id": tid, "name": f"Target {tid}", "lon": lon, "lat": lat,
                     "radius_km": r, "archive": "local", "frames": [frame],
                     "recipients": ["observatory@example.org"]}
                    for tid, frame, lon, lat, r in TARGETS],
        "executor": executor,
    }, "test_executors")


Snapshot = tuple[dict[tuple[str, date], dict[str, Any]], list[tuple[Any, ...]]]


def snapshot(settings: Settings) -> Snapshot:
    """Every score (all its recorded fields but the time) and every alert."""
    store = Store(make_engine(settings.database.url))
    scores = {}
    for tid, *_ in TARGETS:
        for s in store.latest_scores(tid, 100):
            scores[(tid, s.epoch)] = {
                k: getattr(s, k) for k in (
                    "p_fused", "p_by_gain", "peak_row", "peak_col", "peak_lon", "peak_lat",
                    "lstt_p", "lstt_pe", "lstt_by_reference", "model_sha256", "params",
                    "p_fused_corrected", "p_by_gain_corrected", "lstt_p_corrected",
                    "correction_method", "correction", "signal")}
    alerts = sorted((a.target_id, a.epoch, a.kind, a.level, a.message)
                    for a in store.list_alerts())
    return scores, alerts


def run_watch(tmp: Path, staging: Path, model: LoadedModel, executor: dict[str, Any],
              db_url: str | None = None) -> tuple[Daemon, Snapshot]:
    """``run --once`` of the three targets with ``[executor]``; its daemon and records."""
    settings = watch_settings(tmp, staging, executor, db_url)
    upgrade(settings.database.url)
    daemon = Daemon(settings, "test_executors", clock=FixedClock(),
                    model_loader=lambda: model)
    try:
        outcomes = daemon.run_once()
    finally:
        daemon.stop()
    assert [o.target_id for o in outcomes] == [t[0] for t in TARGETS]
    assert all(o.ok for o in outcomes), [o.error or o.report for o in outcomes]
    return daemon, snapshot(settings)


@pytest.fixture(scope="module")
def inline_run(tmp_path_factory: pytest.TempPathFactory, staging: Path,
               model: LoadedModel) -> Snapshot:
    """The reference: every target polled in turn, scored in the polling thread."""
    _, snap = run_watch(tmp_path_factory.mktemp("inline"), staging, model,
                        {"kind": "inline", "workers": 1})
    scores, alerts = snap
    assert len(scores) == 3 * 3, "3 scored steps per target"
    assert alerts and {a[0] for a in alerts} >= {"a", "c"}, "the inflating frame alerts"
    assert any(s["correction_method"] is not None for s in scores.values()), \
        "some steps get a second look (its task runs on the workers too)"
    return snap


def assert_same(run: Snapshot, reference: Snapshot) -> None:
    scores, alerts = run
    ref_scores, ref_alerts = reference
    assert scores.keys() == ref_scores.keys()
    for key, ref in ref_scores.items():
        assert scores[key] == ref, key
    assert alerts == ref_alerts


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """A LocalCluster of 2 single-threaded worker processes; its scheduler's address."""
    distributed = pytest.importorskip("distributed")
    # Starting a LocalCluster writes Dask's worker environment (MALLOC_TRIM_THRESHOLD_,
    # one OpenMP/BLAS thread) into this process's os.environ; it is put back afterwards so
    # that later tests' subprocesses and pools do not inherit it.
    saved = dict(os.environ)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")
    try:
        yield str(cluster.scheduler_address)
    finally:
        try:  # a worker the nanny is still starting again (one was killed) is waited for:
            # closing the cluster under it can hang
            with distributed.Client(cluster, set_as_default=False) as client:
                client.wait_for_workers(2, timeout=60)
        finally:
            cluster.close(timeout=30)
            os.environ.clear()
            os.environ.update(saved)


# -- configuration ------------------------------------------------------------------------

def test_executor_settings_are_validated() -> None:
    assert settings_from_mapping({}).executor.kind == "inline"
    with pytest.raises(ConfigError, match=r"executor.dask_scheduler is required"):
        settings_from_mapping({"executor": {"kind": "dask"}})
    with pytest.raises(ConfigError, match=r"executor.dask_scheduler = 'host:8786'"):
        settings_from_mapping({"executor": {"kind": "dask", "dask_scheduler": "host:8786"}})
    for key, value in (("kind", "threads"), ("workers", -1), ("task_retries", 11),
                       ("task_timeout_s", 0), ("workers", True)):
        with pytest.raises(ConfigError, match=rf"executor.{key} = "):
            settings_from_mapping({"executor": {key: value}})
    ok = settings_from_mapping({"executor": {"kind": "dask", "workers": 3,
                                             "dask_scheduler": "tcp://10.0.0.5:8786"}})
    assert ok.executor.worker_count() == 3
    assert settings_from_mapping({}).executor.worker_count() >= 1  # 0: the cores


def test_unreachable_dask_scheduler_is_a_clear_error_naming_the_address(
        model: LoadedModel) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = settings_from_mapping({"executor": {
        "kind": "dask", "dask_scheduler": f"tcp://127.0.0.1:{port}",
        "dask_connect_timeout_s": 1}})
    t0 = time.monotonic()
    with pytest.raises(ExecutorError, match=rf"Dask scheduler at tcp://127.0.0.1:{port} "
                                            r"\(\[executor\] dask_scheduler\)"):
        build_executor(settings.executor, model)
    assert time.monotonic() - t0 < 15


# -- the same records from every executor --------------------------------------------------

@pytest.fixture
def kill_first_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The watch's first scoring task kills its worker process mid-task; the marker file
    that task leaves."""
    marker = tmp_path / "killed"
    monkeypatch.setattr(pipeline_mod, "score_raw", executor_tasks.KillOnce(str(marker)))
    return marker


@pytest.mark.slow
def test_process_pool_gives_every_score_and_alert_of_the_inline_run_a_worker_lost(
        tmp_path: Path, staging: Path, model: LoadedModel, inline_run: Snapshot,
        kill_first_task: Path, caplog: pytest.LogCaptureFixture) -> None:
    daemon, snap = run_watch(tmp_path, staging, model, {"kind": "process", "workers": 2})
    assert daemon.workers == 2
    assert kill_first_task.exists() and "worker process was lost; submitted again" \
        in caplog.text
    assert_same(snap, inline_run)


@pytest.mark.slow
def test_dask_cluster_gives_every_score_and_alert_of_the_inline_run_a_worker_lost(
        tmp_path: Path, staging: Path, model: LoadedModel, inline_run: Snapshot,
        dask_cluster: str, kill_first_task: Path) -> None:
    _, snap = run_watch(tmp_path, staging, model, {"kind": "dask", "workers": 3,
                                                   "dask_scheduler": dask_cluster})
    assert kill_first_task.exists(), "a worker was killed mid-task"
    assert_same(snap, inline_run)


# -- lost workers ---------------------------------------------------------------------------

def test_a_task_whose_worker_is_always_lost_is_reported_after_the_retries(
        tmp_path: Path, model: LoadedModel) -> None:
    pool = ProcessExecutor(model, workers=1, retries=0, timeout_s=120)
    try:
        with pytest.raises(ExecutorError, match=r"scoring doomed: the worker process running "
                                                r"it was lost 1 times \(\[executor\] "
                                                r"task_retries = 0\)"):
            pool.run(executor_tasks.always_killed, str(tmp_path / "marker"), name="doomed")
    finally:
        pool.close()
    assert (tmp_path / "marker").exists()


_ORPHAN_SCRIPT = """
import sys, time
import executor_tasks
from monitor.io.models import load_detector
from monitor.service.executors import ProcessExecutor
if __name__ == "__main__":
    pool = ProcessExecutor(load_detector(None, "compact"), workers=1)
    print(pool.run(executor_tasks.worker_pid, None, name="pid"), flush=True)
    time.sleep(600)
"""


def test_pool_workers_end_when_the_daemon_is_killed(tmp_path: Path) -> None:
    """A daemon killed with SIGKILL cannot close its pool: its workers notice they were
    re-parented and exit (within ORPHAN_CHECK_S), instead of holding 0.45 GB each."""
    import signal
    import subprocess
    import sys

    import psutil

    script = tmp_path / "daemon.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(executor_tasks.__file__).parent), str(Path(__file__).parents[1])])}
    daemon = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              env=env, text=True)
    try:
        assert daemon.stdout is not None
        worker = int(daemon.stdout.readline())
        assert psutil.Process(worker).ppid() == daemon.pid
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if psutil.Process(worker).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail(f"the pool worker {worker} outlived its killed daemon by 20 s")


class _Unreachable(Executor):
    """An executor whose tasks can never run (a cluster gone)."""

    kind = "dask"

    def submit(self, fn: Any, arg: Any, *, name: str) -> TaskHandle[Any]:
        raise ExecutorTimeout(f"scoring {name}: no result within 1 s")

    def close(self) -> None:
        pass


def test_a_task_that_cannot_run_fails_its_product_for_a_later_poll(
        tmp_path: Path, staging: Path, model: LoadedModel) -> None:
    settings = watch_settings(tmp_path, staging, {})
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    target = settings.target("b")
    ctx = WatchContext.from_settings(settings, store, model, executor=_Unreachable())
    report = poll_target(ctx, target, NOW)
    # The first product's step cannot be scored: nothing of it is written, it is not
    # quarantined (what it holds is not at fault) and the later products wait.
    assert report.ingested == 0 and report.quarantined == 0 and not store.list_epochs("b")
    (failure,) = report.failures
    assert (failure.stage, failure.reason) == ("score", "timeout")
    product = next(p for p in store.list_products("b") if p.last_error)
    assert product.status == ProductStatus.FAILED.value and product.next_attempt_at
    assert "no result within 1 s" in product.last_error
    # Once the executor answers and the backoff has passed, the chain goes on.
    later = datetime(2025, 1, 2, tzinfo=UTC)
    ctx = WatchContext.from_settings(settings, store, model, executor=InlineExecutor())
    report = poll_target(ctx, target, later)
    assert report.ok and report.ingested == 3 and report.scored == 3


# -- concurrent targets ---------------------------------------------------------------------

@pytest.fixture
def concurrency(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Counts the polls in flight, and which thread polls each target."""
    seen: dict[str, Any] = {"now": 0, "max": 0, "threads": {}}
    lock = threading.Lock()
    real = daemon_mod.poll_target

    def counting(ctx: WatchContext, target: TargetSettings, now: datetime) -> PollReport:
        with lock:
            seen["now"] += 1
            seen["max"] = max(seen["max"], seen["now"])
            seen["threads"].setdefault(target.id, set()).add(threading.get_ident())
        try:
            time.sleep(0.3)  # every poll overlaps the others'
            return real(ctx, target, now)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(daemon_mod, "poll_target", counting)
    return seen


@pytest.mark.slow
def test_targets_are_polled_at_once_one_writer_each_on_every_store(
        tmp_path: Path, staging: Path, model: LoadedModel, inline_run: Snapshot,
        watch_database_url: str, concurrency: dict[str, Any]) -> None:
    daemon, snap = run_watch(tmp_path, staging, model, {"kind": "inline", "workers": 3},
                             db_url=watch_database_url)
    assert concurrency["max"] == 3 and daemon.workers == 3
    assert all(len(threads) == 1 for threads in concurrency["threads"].values())
    assert_same(snap, inline_run)

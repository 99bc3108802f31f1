"""Benchmark the watch's scale-out (issue 17): backfill throughput per executor, and the
daemon's resident memory against the number of targets watched.

1. **Throughput.** ``--targets`` targets, each on its own synthetic frame of ``--size`` x
   ``--size`` pixels (a 500 x 500 crop by default) with ``--epochs`` epochs, are
   backfilled by ``run --once`` (fetch, ingest, score: CNN at 4 gains + LSTT, the second
   look at flagged steps, store, alert) with the ``inline`` executor (one writer, for
   reference), the ``process`` executor with 1 and 2 worker processes, and a 2-worker
   Dask ``LocalCluster`` (one thread each). Each executor is started and its workers
   loaded before the clock starts (a daemon does that once); each repeat starts from an
   empty database and series store. Epochs per second (scored epochs / wall time): the
   median of ``--repeats``.
2. **Memory.** A daemon (a child process, ``process`` executor with 2 workers) backfills
   1, 10 and 100 targets of small synthetic archives (``--memory-size`` pixels,
   ``--memory-epochs`` epochs, 10 targets per frame); the peak resident memory (psutil
   RSS) of the daemon process and of its workers, sampled every 0.1 s. Goal: under 2 GB
   at 100 targets.

    .venv/bin/python bench/bench_scaling.py [--targets 4] [--epochs 4] [--size 500]
        [--repeats 3] [--skip-memory] [--skip-throughput]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from monitor.config import Settings, settings_from_mapping
from monitor.io.models import LoadedModel, load_detector
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.daemon import Daemon
from monitor.service.executors import Executor
from monitor.service.scoring_task import worker_ready
from monitor.store.schema import upgrade

LON0, LAT0 = 40.0, 10.0


def frame_id(k: int) -> str:
    """A LiCSAR-like frame id for synthetic frame ``k``."""
    return f"{k % 175 + 1:03d}A_{10000 + k:05d}_131313"


def write_frames(root: Path, n_frames: int, size: int, epochs: int) -> None:
    """``n_frames`` synthetic frames, a volcano inflating from the middle of each series
    at the centre of each, 1 degree apart."""
    start = date(2022, 1, 3)
    for k in range(n_frames):
        scenario = SeriesScenario(start=start, n_epochs=epochs, interval_days=12,
                                  onset=date(2022, 1, 3 + 12 * (epochs // 2)),
                                  rate_m_per_yr=0.3)
        write_synthetic_archive(root, scenario=scenario, frame=frame_id(k),
                                volcano="synthetic", size_px=size,
                                centre_lonlat=(LON0 + k, LAT0), seed=10 + k)


def watch_settings(work: Path, archive: Path, n_targets: int, n_frames: int,
                   executor: dict[str, Any]) -> Settings:
    """``n_targets`` targets on ``n_frames`` frames (round robin), embedded defaults
    otherwise (SQLite, dry-run e-mail), no metrics endpoint, page or feeds."""
    targets = [{"id": f"v{k:03d}", "name": f"Volcano {k}", "lon": LON0 + k % n_frames,
                "lat": LAT0, "radius_km": 2.0, "archive": "local",
                "frames": [frame_id(k % n_frames)]} for k in range(n_targets)]
    return settings_from_mapping({
        "database": {"url": f"sqlite:///{work / 'monitor.db'}"},
        "watch": {"series_dir": str(work / "series"), "cache_dir": str(work / "cache"),
                  "quicklook_dir": str(work / "quicklooks"), "jitter_s": 0},
        "email": {"mode": "dry-run", "outbox_dir": str(work / "outbox")},
        "metrics": {"enabled": False}, "status_page": {"enabled": False},
        "feeds": {"enabled": False},
        "archives": {"local": {"kind": "local", "root": str(archive)}},
        "targets": targets, "executor": executor,
    }, "the scaling benchmark")


def warm(executor: Executor, model: LoadedModel) -> None:
    """Start every worker and load its model before timing (a daemon does it once)."""
    with ThreadPoolExecutor(executor.workers) as pool:
        list(pool.map(lambda k: executor.run(worker_ready, model.sha256, name=f"warm {k}"),
                      range(2 * executor.workers)))


def backfill(work: Path, archive: Path, n_targets: int, executor: dict[str, Any],
             model: LoadedModel) -> tuple[int, float]:
    """One ``run --once`` backfill from an empty store; (epochs scored, wall seconds)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    settings = watch_settings(work, archive, n_targets, n_targets, executor)
    upgrade(settings.database.url)
    daemon = Daemon(settings, "the scaling benchmark", model_loader=lambda: model)
    try:
        ctx = daemon.prepare()
        warm(ctx.executor, model)
        t0 = time.perf_counter()
        outcomes = daemon.run_once()
        wall = time.perf_counter() - t0
    finally:
        daemon.stop()
    bad = [o.error or o.report for o in outcomes if not o.ok]
    if bad:
        raise RuntimeError(f"the backfill failed: {bad}")
    return sum(o.report.scored for o in outcomes if o.report is not None), wall


def _rate(name: str, runs: list[tuple[int, float]]) -> float:
    """Print and return the median epochs per second of ``runs`` (epochs, wall s)."""
    rates = [n / wall for n, wall in runs]
    med = statistics.median(rates)
    print(f"{name:32s} {runs[0][0]} epochs; epochs/s median {med:.3f} "
          f"({', '.join(f'{r:.3f}' for r in rates)}); {1 / med:.2f} s per epoch (wall)")
    return med


def throughput(args: argparse.Namespace, work: Path, model: LoadedModel) -> None:
    archive = work / "archive"
    t0 = time.perf_counter()
    write_frames(archive, args.targets, args.size, args.epochs)
    print(f"throughput archive: {args.targets} frames x {args.epochs} epochs of "
          f"{args.size} x {args.size} written in {time.perf_counter() - t0:.1f} s")
    configs: list[tuple[str, dict[str, Any]]] = [
        ("inline, 1 writer", {"kind": "inline", "workers": 1}),
        ("process, 1 worker", {"kind": "process", "workers": 1}),
        ("process, 2 workers", {"kind": "process", "workers": 2}),
    ]
    results = {}
    for name, executor in configs:
        results[name] = _rate(name, [backfill(work / "run", archive, args.targets, executor,
                                              model) for _ in range(args.repeats)])
    # The LocalCluster last, and only for its own runs: starting one sets the Dask nanny's
    # worker environment (MALLOC_TRIM_THRESHOLD_=65536, OMP/MKL/OPENBLAS_NUM_THREADS=1) in
    # this process's os.environ, which the process pool's spawned workers would inherit
    # (measured: their tasks 3x slower, 0.38 against 0.13 s).
    try:
        from distributed import LocalCluster
    except ImportError:
        print("dask.distributed is not installed: no Dask figure")
    else:
        saved = dict(os.environ)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        try:
            name = "dask LocalCluster, 2 workers"
            executor = {"kind": "dask", "workers": 2,
                        "dask_scheduler": cluster.scheduler_address}
            results[name] = _rate(name, [backfill(work / "run", archive, args.targets,
                                                  executor, model)
                                         for _ in range(args.repeats)])
        finally:
            cluster.close()
            os.environ.clear()
            os.environ.update(saved)
    base = results.get("process, 1 worker")
    if base:
        for name, rate in results.items():
            print(f"  speed-up of {name} over 1 process: {rate / base:.2f}x")


def _sample(proc: psutil.Process, stop: threading.Event, peak: dict[str, float]) -> None:
    while not stop.wait(0.1):
        try:
            own = proc.memory_info().rss
            kids = sum(c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            continue
        peak["daemon"] = max(peak["daemon"], own)
        peak["workers"] = max(peak["workers"], kids)
        peak["total"] = max(peak["total"], own + kids)


def memory_child(work: Path, archive: Path, n_targets: int, n_frames: int) -> None:
    """In a child process: backfill ``n_targets`` targets and print the peak RSS (JSON)."""
    work.mkdir(parents=True, exist_ok=True)
    settings = watch_settings(work, archive, n_targets, n_frames,
                              {"kind": "process", "workers": 2})
    upgrade(settings.database.url)
    model = load_detector(None, None)
    peak = {"daemon": 0.0, "workers": 0.0, "total": 0.0}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(psutil.Process(), stop, peak),
                               daemon=True)
    sampler.start()
    daemon = Daemon(settings, "the scaling benchmark", model_loader=lambda: model)
    t0 = time.perf_counter()
    try:
        outcomes = daemon.run_once()
    finally:
        daemon.stop()
        stop.set()
        sampler.join()
    scored = sum(o.report.scored for o in outcomes if o.report is not None)
    print(json.dumps({"targets": n_targets, "scored": scored,
                      "failed": sum(not o.ok for o in outcomes),
                      "wall_s": time.perf_counter() - t0,
                      **{k: v / 2**20 for k, v in peak.items()}}))


def memory(args: argparse.Namespace, work: Path) -> None:
    archive = work / "memory-archive"
    n_frames = 10
    write_frames(archive, n_frames, args.memory_size, args.memory_epochs)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    for n in (1, 10, 100):
        run = work / f"memory-{n}"
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(n), "--work", str(run),
             "--archive", str(archive), "--frames", str(min(n, n_frames))],
            env=env, capture_output=True, text=True)
        if child.returncode != 0:
            raise RuntimeError(f"the memory run of {n} targets failed:\n{child.stderr}")
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"memory, {n:3d} target(s) ({r['scored']} epochs of {args.memory_size} x "
              f"{args.memory_size} scored in {r['wall_s']:.0f} s, {r['failed']} failed): "
              f"peak RSS daemon {r['daemon']:.0f} MB, 2 workers {r['workers']:.0f} MB, "
              f"together {r['total']:.0f} MB; goal < 2048 MB at 100 targets")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-size", type=int, default=128)
    ap.add_argument("--memory-epochs", type=int, default=3)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.work, args.archive, args.memory_child, args.frames)
        return
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"numpy {np.__version__}")
    work = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    try:
        model = load_detector(None, None)
        if not args.skip_throughput:
            throughput(args, work, model)
        if not args.skip_memory:
            memory(args, work)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

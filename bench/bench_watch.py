"""Benchmark the watch (issue: Step 4): backfill of a long history, and per-product latency.

1. Backfill: a synthetic 500 x 500 archive with ``--epochs`` epochs (daisy chain) is
   polled once by the daemon on embedded defaults (SQLite, dry-run e-mail): wall time to
   fetch, ingest, score (CNN at 4 gains + LSTT), store and alert every epoch, and peak
   resident memory. Goal: 100 epochs in under 5 minutes, memory under 2 GB.
2. Latency: one more product is published and the next poll runs; the poll's wall time
   (list, fetch, validate, append, score, policy, outbox) is the latency beyond the poll
   interval. Goal: at most the poll interval + 10 s. (Whether that product raises a new
   alert depends on the series; the counts printed say so. Delivery to a real SMTP
   server is exercised in tests/test_end_to_end.py.)

    .venv/bin/python bench/bench_watch.py [--epochs 100] [--size 500]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from monitor.config import settings_from_mapping
from monitor.io.models import load_detector
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.daemon import Daemon
from monitor.store.schema import upgrade

FRAME = "022D_04826_121209"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    try:
        n = args.epochs + 1
        start = date(2021, 1, 3)
        scenario = SeriesScenario(start=start, n_epochs=n, interval_days=12,
                                  onset=start + timedelta(days=12 * (n // 2)),
                                  rate_m_per_yr=0.10)
        t0 = time.perf_counter()
        write_synthetic_archive(work / "full", scenario=scenario, frame=FRAME,
                                volcano="synthetic", centre_lonlat=(40.67, 13.6),
                                size_px=args.size, seed=5)
        print(f"archive: {n} epochs of {args.size} x {args.size} written in "
              f"{time.perf_counter() - t0:.1f} s")
        served = work / "served" / FRAME / "interferograms"
        served.mkdir(parents=True)
        shutil.copytree(work / "full" / FRAME / "metadata", work / "served" / FRAME / "metadata")
        pairs = sorted((work / "full" / FRAME / "interferograms").iterdir())
        for p in pairs[:-1]:
            shutil.copytree(p, served / p.name)
        settings = settings_from_mapping({
            "database": {"url": f"sqlite:///{work / 'monitor.db'}"},
            "watch": {"series_dir": str(work / "series"), "cache_dir": str(work / "cache"),
                      "quicklook_dir": str(work / "quicklooks"), "jitter_s": 0},
            "email": {"mode": "dry-run", "outbox_dir": str(work / "outbox")},
            "metrics": {"enabled": False},
            "alerts": {"combine": "cnn"},
            "archives": {"local": {"kind": "local", "root": str(work / "served")}},
            "targets": [{"id": "bench", "name": "Benchmark volcano", "lon": 40.67,
                         "lat": 13.6, "radius_km": 3.0, "archive": "local",
                         "frames": [FRAME], "recipients": ["observatory@example.org"]}],
        }, "the benchmark")
        upgrade(settings.database.url)
        loaded = load_detector(None, None)
        daemon = Daemon(settings, "the benchmark", model_loader=lambda: loaded)
        t0 = time.perf_counter()
        (first,) = daemon.run_once()
        backfill = time.perf_counter() - t0
        rep = first.report
        assert rep is not None, first.error
        print(f"backfill: {rep.ingested} products ingested, {rep.scored} epochs scored, "
              f"{rep.alerts_raised} alerts in {backfill:.1f} s "
              f"({backfill / max(rep.scored, 1):.2f} s/epoch); goal 100 epochs < 300 s")
        shutil.copytree(pairs[-1], served / pairs[-1].name)
        t0 = time.perf_counter()
        (second,) = daemon.run_once()
        latency = time.perf_counter() - t0
        rep2 = second.report
        assert rep2 is not None, second.error
        print(f"latency: the next poll ingested {rep2.ingested}, scored {rep2.scored} and "
              f"delivered {second.delivery.sent if second.delivery else 0} in {latency:.2f} s "
              "(beyond the poll interval); goal <= 10 s")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak resident memory: {rss_mb:.0f} MB; goal < 2048 MB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

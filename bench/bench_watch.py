"""Benchmark the watch (issue: Step 4): backfill of a long history, and per-product latency.

1. Backfill: a synthetic 500 x 500 archive with ``--epochs`` epochs (daisy chain) is
   polled once by the daemon on embedded defaults (SQLite, dry-run e-mail): wall time to
   fetch, ingest, score (CNN at 4 gains + LSTT), store and alert every epoch, and peak
   resident memory. Goal: 100 epochs in under 5 minutes, memory under 2 GB.
2. Latency to a new alert: a second target (its own 500 x 500 archive, quiet until a
   strong inflation appears in its last product) is backfilled, then that last product is
   published and the daemon polls; the time from publication to the alert stored and its
   e-mail accepted by a real SMTP server on 127.0.0.1 (aiosmtpd) is the latency beyond the
   poll interval. Goal: at most the poll interval + 10 s. Repeated ``--repeats`` times on
   fresh copies; the median is printed.
3. Latency of an ordinary product: one more product of the first target, polled.

Both run on the defaults, the second look at flagged steps included.

    .venv/bin/python bench/bench_watch.py [--epochs 100] [--size 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import socket
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from monitor.config import settings_from_mapping
from monitor.io.models import load_detector
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.daemon import Daemon
from monitor.store.schema import upgrade

FRAME = "022D_04826_121209"
LON, LAT = 40.67, 13.6


class _Accepted:
    """aiosmtpd handler noting when each message was accepted."""

    def __init__(self) -> None:
        self.times: list[float] = []

    async def handle_DATA(self, server: Any, session: Any,  # noqa: N802 (aiosmtpd API)
                          envelope: Any) -> str:
        self.times.append(time.perf_counter())
        return "250 Message accepted for delivery"


def _settings(work: Path, email: dict[str, Any], alerts: dict[str, Any]) -> Any:
    return settings_from_mapping({
        "database": {"url": f"sqlite:///{work / 'monitor.db'}"},
        "watch": {"series_dir": str(work / "series"), "cache_dir": str(work / "cache"),
                  "quicklook_dir": str(work / "quicklooks"), "jitter_s": 0},
        "email": email,
        "metrics": {"enabled": False},
        "alerts": alerts,
        "archives": {"local": {"kind": "local", "root": str(work / "served")}},
        "targets": [{"id": "bench", "name": "Benchmark volcano", "lon": LON,
                     "lat": LAT, "radius_km": 3.0, "archive": "local",
                     "frames": [FRAME], "recipients": ["observatory@example.org"]}],
    }, "the benchmark")


def _serve(full: Path, served_root: Path, n_pairs: int) -> list[Path]:
    """Copy metadata and the first ``n_pairs`` pairs to the served tree; all pairs."""
    served = served_root / FRAME / "interferograms"
    served.mkdir(parents=True)
    shutil.copytree(full / FRAME / "metadata", served_root / FRAME / "metadata")
    pairs = sorted((full / FRAME / "interferograms").iterdir())
    for p in pairs[:n_pairs]:
        shutil.copytree(p, served / p.name)
    return pairs


def alert_latency(work: Path, size: int, repeats: int, loaded: Any) -> list[float]:
    """Seconds from publishing an alerting product to its e-mail accepted, per repeat."""
    n = 20
    start = date(2022, 1, 2)
    # Quiet for 18 epochs (the time-series rule speaks from the 15th epoch of a series);
    # 0.12 m of uplift in the 12 days to the last one.
    scenario = SeriesScenario(start=start, n_epochs=n, interval_days=12,
                              onset=start + timedelta(days=12 * (n - 2)),
                              rate_m_per_yr=0.12 * 365 / 12)
    write_synthetic_archive(work / "alert_full", scenario=scenario, frame=FRAME,
                            volcano="synthetic", centre_lonlat=(LON, LAT), size_px=size,
                            seed=6)
    handler = _Accepted()
    with socket.socket() as sock:  # aiosmtpd needs a port number up front
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    out = []
    try:
        for k in range(repeats):
            run = work / f"alert_{k}"
            pairs = _serve(work / "alert_full", run / "served", n - 2)
            settings = _settings(run, {"mode": "smtp", "host": "127.0.0.1",
                                       "port": controller.port, "security": "none",
                                       "sender": "insar-monitor@example.org",
                                       "timeout_s": 10},
                                 {"combine": "cnn", "raise_after": 1})
            upgrade(settings.database.url)
            daemon = Daemon(settings, "the benchmark", model_loader=lambda: loaded)
            (history,) = daemon.run_once()
            assert history.report is not None, history.error
            assert history.report.alerts_raised == 0, "the quiet history raised an alert"
            before = len(handler.times)
            published = time.perf_counter()
            shutil.copytree(pairs[-1], run / "served" / FRAME / "interferograms" /
                            pairs[-1].name)
            (poll,) = daemon.run_once()
            assert poll.report is not None, poll.error
            assert poll.report.alerts_raised == 1, poll.report
            assert len(handler.times) == before + 1, "no e-mail accepted"
            out.append(handler.times[-1] - published)
    finally:
        controller.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3, help="alert latency repeats")
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
                                volcano="synthetic", centre_lonlat=(LON, LAT),
                                size_px=args.size, seed=5)
        print(f"archive: {n} epochs of {args.size} x {args.size} written in "
              f"{time.perf_counter() - t0:.1f} s")
        pairs = _serve(work / "full", work / "served", n - 2)
        served = work / "served" / FRAME / "interferograms"
        settings = _settings(work, {"mode": "dry-run", "outbox_dir": str(work / "outbox")},
                             {"combine": "cnn"})
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
        times = alert_latency(work, args.size, args.repeats, loaded)
        print(f"latency to a new alert: product published -> alert stored -> e-mail accepted "
              f"by the SMTP server in {statistics.median(times):.2f} s (median of "
              f"{len(times)}: {', '.join(f'{t:.2f}' for t in times)}) beyond the poll "
              "interval; goal <= 10 s")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak resident memory: {rss_mb:.0f} MB; goal < 2048 MB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

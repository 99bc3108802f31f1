"""Soak the watch: many polls over many targets with faults, memory and descriptors flat.

One process runs ``poll_target`` then ``deliver_outbox`` (what the daemon runs per target)
round after round over ``--targets`` targets, ``--polls`` polls in all, with an injected
clock one hour later each round. Each target watches its own synthetic frame (a Mogi
source inflating on half of them, 128 x 128 pixels, ``--epochs`` epochs) whose products
are published a few at a time during the first 60% of the rounds, then no more (steady
state). Faults, drawn from a seeded generator:

* broken products: some products are published truncated and repaired three rounds later
  (the failure is recorded, the chain waits, the retry after the backoff goes through);
* a missing frame: the last target watches a frame that is never in the archive;
* a vanishing archive: one frame's folder is renamed away for three rounds, then back;
* e-mail: the dry-run folder, or (``--smtp``) a real SMTP server on 127.0.0.1 (aiosmtpd)
  that is stopped for three rounds (deliveries fail, back off and go out later).

The resident memory (psutil, else ``/proc/self/statm``) and the open file descriptors
(``/proc/self/fd``) are read after a garbage collection every half round once the
warm-up is over: the first ``--warmup`` fraction of the polls, and at least one round past
the first alert delivered (drawing the first quicklook loads matplotlib's fonts and
backend once, about 10 MiB and 2 descriptors that then stay: a step, not a leak). The
medians of the first and last tenth of those readings are printed with their growth, and
the poll times. ``tests/faults/test_soak.py`` runs a short version and bounds the growth.

    .venv/bin/python bench/bench_soak.py [--polls 1000] [--targets 20] [--smtp]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from monitor.config import settings_from_mapping
from monitor.io.models import LoadedModel, load_detector
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.outbox import deliver_outbox
from monitor.service.pipeline import poll_target
from monitor.store import Store, make_engine, upgrade

START = datetime(2025, 1, 1, tzinfo=UTC)
ROUND = timedelta(hours=1)
MISSING_FRAME = "999A_09999_999999"


@dataclass
class SoakResult:
    """Figures of one soak (memory in MiB, times in seconds)."""

    polls: int
    targets: int
    rounds: int
    warmed_up_at_poll: int
    seconds: float
    poll_s_median: float
    poll_s_p95: float
    rss_mib_after_warmup: float
    rss_mib_end: float
    rss_growth_mib: float
    fds_after_warmup: float
    fds_end: float
    fd_growth: float
    epochs_scored: int
    alerts: int
    deliveries_sent: int
    outbox_depth: int
    poll_errors: int
    product_failures: int
    wedged_targets: int
    faults: dict[str, int] = field(default_factory=dict)
    rss_samples_mib: list[float] = field(default_factory=list)
    fd_samples: list[int] = field(default_factory=list)


def rss_mib() -> float:
    """Resident memory of this process, MiB."""
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:  # pragma: no cover - psutil is a test dependency
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def frame_id(i: int) -> str:
    return f"{(i % 175) + 1:03d}{'AD'[i % 2]}_{5000 + i:05d}_{121209 + i:06d}"


class _SmtpSink:
    """aiosmtpd handler counting accepted messages."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.accepted += 1
        return "250 OK"


class _Smtp:
    """A real SMTP server on 127.0.0.1 that can be stopped and started on its port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.sink = _SmtpSink()
        self._ctl: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._ctl = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._ctl.start()

    def stop(self) -> None:
        if self._ctl is not None:
            self._ctl.stop()
            self._ctl = None


def _settings(work: Path, n_targets: int, smtp_port: int | None) -> Any:
    targets = []
    for i in range(n_targets):
        frame = MISSING_FRAME if i == n_targets - 1 else frame_id(i)
        targets.append({"id": f"t{i:02d}", "name": f"Soak {i}", "lon": 120.0 + i,
                        "lat": 14.0, "radius_km": 1.5, "archive": "local",
                        "frames": [frame], "recipients": ["duty@example.org"],
                        "poll_interval_s": 3600.0})
    email: dict[str, Any] = {"mode": "dry-run", "outbox_dir": str(work / "outbox")}
    if smtp_port is not None:
        email = {"mode": "smtp", "host": "127.0.0.1", "port": smtp_port, "security": "none",
                 "timeout_s": 2.0, "username_env": "SOAK_NO_USER",
                 "password_env": "SOAK_NO_PASSWORD"}
    return settings_from_mapping({
        "database": {"url": f"sqlite:///{work / 'watch.db'}"},
        "watch": {"series_dir": str(work / "series"), "cache_dir": str(work / "cache"),
                  "quicklook_dir": str(work / "quicklooks"), "jitter_s": 0},
        "alerts": {"combine": "cnn", "raise_after": 2},
        "correction": {"enabled": False},
        "email": email, "metrics": {"enabled": False}, "status_page": {"enabled": False},
        "feeds": {"enabled": False},
        "archives": {"local": {"kind": "local", "root": str(work / "archive")}},
        "targets": targets}, "bench_soak")


def run_soak(polls: int = 1000, n_targets: int = 20, *, epochs: int = 6, size_px: int = 128,
             seed: int = 7, smtp: bool = False, warmup: float = 0.2,
             workdir: Path | None = None, model: LoadedModel | None = None) -> SoakResult:
    """Run the soak in this process; see the module docstring.

    Args:
        polls: Polls in all (rounded up to whole rounds over the targets).
        n_targets: Targets (at least 2; the last one's frame is missing).
        epochs: Epochs of each frame.
        size_px: Frame size, pixels.
        seed: Seed of the archive and of the faults.
        smtp: Deliver to a real SMTP server on 127.0.0.1 (else the dry-run folder).
        warmup: Fraction of the polls before the first memory and descriptor reading.
        workdir: Folder for the world (default: a temporary one, removed afterwards).
        model: The detector (default: the packaged weights).
    """
    if n_targets < 2:
        raise ValueError("bench_soak: --targets must be at least 2")
    rng = random.Random(seed)
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="soak-")) if workdir is None else workdir
    staging = work / "staging"
    server = _Smtp() if smtp else None
    try:
        for i in range(n_targets - 1):
            scenario = SeriesScenario(n_epochs=epochs, onset=date(2024, 1, 24) if i % 2 == 0
                                      else None, rate_m_per_yr=0.6, turbulent_sigma_m=0.001,
                                      stratified_strength="none", decorrelate=False)
            write_synthetic_archive(staging, scenario=scenario, frame=frame_id(i),
                                    volcano="synthetic", size_px=size_px,
                                    centre_lonlat=(120.0 + i, 14.0), seed=seed + i)
        if server is not None:
            server.start()
        settings = _settings(work, n_targets, server.port if server else None)
        upgrade(settings.database.url)
        engine = make_engine(settings.database.url)
        ctx = WatchContext.from_settings(settings, Store(engine),
                                         model or load_detector(None, None))
        return _soak(ctx, settings, work, staging, rng, polls, n_targets, epochs, warmup,
                     server)
    finally:
        if server is not None:
            server.stop()
        if own:
            shutil.rmtree(work, ignore_errors=True)


def _publish(staging: Path, dst: Path, frame: str, pair: str, broken: bool) -> None:
    """Copy one pair of ``frame`` (and the frame's metadata) into ``dst``; truncated when
    ``broken``."""
    src = staging / frame
    if not (dst / "metadata").exists():
        shutil.copytree(src / "metadata", dst / "metadata")
    shutil.copytree(src / "interferograms" / pair, dst / "interferograms" / pair,
                    dirs_exist_ok=True)
    if broken:
        unw = dst / "interferograms" / pair / f"{pair}.geo.unw.tif"
        unw.write_bytes(unw.read_bytes()[:300])


def _soak(ctx: WatchContext, settings: Any, work: Path, staging: Path, rng: random.Random,
          polls: int, n_targets: int, epochs: int, warmup: float,
          server: _Smtp | None) -> SoakResult:
    archive = work / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    rounds = -(-polls // n_targets)
    publish_rounds = max(1, int(rounds * 0.6))
    # Which pair of which frame is published (and whether broken) in which round.
    schedule: dict[int, list[tuple[str, str, bool]]] = {}
    faults: dict[str, int] = {"broken product": 0, "missing frame polls": 0,
                              "vanished archive folder rounds": 0, "smtp down rounds": 0}
    repairs: dict[int, list[tuple[str, str]]] = {}
    for i in range(n_targets - 1):
        frame = frame_id(i)
        pairs = sorted(p.name for p in (staging / frame / "interferograms").iterdir())
        for k, pair in enumerate(pairs):
            r = min(publish_rounds - 1, k * publish_rounds // len(pairs))
            broken = rng.random() < 0.15
            schedule.setdefault(r, []).append((frame, pair, broken))
            if broken:
                faults["broken product"] += 1
                repairs.setdefault(r + 3, []).append((frame, pair))
    vanish_frame = frame_id(rng.randrange(n_targets - 1))
    vanish_from = max(1, rounds // 3)
    vanish_rounds = range(vanish_from, vanish_from + 3)
    smtp_down = range(max(1, rounds // 2), max(1, rounds // 2) + 3)
    warm_polls = int(polls * warmup)
    first_sent: int | None = None  # the poll that delivered the first alert
    rss: list[float] = []
    fds: list[int] = []
    durations: list[float] = []
    errors = failures = done = 0
    t_start = time.perf_counter()
    for r in range(rounds):
        hidden = archive / f".hidden-{vanish_frame}"
        if r in vanish_rounds and (archive / vanish_frame).exists():
            (archive / vanish_frame).rename(hidden)
        if r not in vanish_rounds and hidden.exists():
            hidden.rename(archive / vanish_frame)

        def where(frame: str, hidden: Path = hidden) -> Path:
            # Products keep coming while a folder is away: they are there when it is back.
            return hidden if frame == vanish_frame and hidden.exists() else archive / frame

        for frame, pair, broken in schedule.get(r, []):
            _publish(staging, where(frame), frame, pair, broken)
        for frame, pair in repairs.get(r, []):
            _publish(staging, where(frame), frame, pair, False)
        if r in vanish_rounds:
            faults["vanished archive folder rounds"] += 1
        if server is not None:
            if r == smtp_down.start:
                server.stop()
            if r == smtp_down.stop:
                server.start()
            if r in smtp_down:
                faults["smtp down rounds"] += 1
        now = START + r * ROUND
        for target in settings.targets:
            if done >= polls:
                break
            t0 = time.perf_counter()
            try:
                report = poll_target(ctx, target, now)
                failures += len(report.failures)
                if deliver_outbox(ctx, now).sent and first_sent is None:
                    first_sent = done
            except Exception:  # as the daemon: logged, counted, the next poll goes on
                logging.getLogger(__name__).exception("poll %s failed", target.id)
                errors += 1
            durations.append(time.perf_counter() - t0)
            if target.frames[0] == MISSING_FRAME:
                faults["missing frame polls"] += 1
            done += 1
            warm = max(warm_polls, (first_sent if first_sent is not None else polls)
                       + n_targets)
            if done >= warm and (done - warm) % max(1, n_targets // 2) == 0:
                gc.collect()
                rss.append(rss_mib())
                fds.append(open_fds())
    gc.collect()
    rss.append(rss_mib())
    fds.append(open_fds())
    warmed_up_at = max(warm_polls, (first_sent if first_sent is not None else done)
                       + n_targets)
    window = max(1, len(rss) // 10)
    store = ctx.store
    alerts = store.list_alerts()
    scored = sum(len(store.latest_scores(t.id, 10_000)) for t in settings.targets)
    with make_engine(settings.database.url).connect() as conn:
        sent = int(conn.execute(sa.text(
            "SELECT count(*) FROM deliveries WHERE status = 'sent'")).scalar_one())
    rss0, rss1 = statistics.median(rss[:window]), statistics.median(rss[-window:])
    fd0, fd1 = statistics.median(fds[:window]), statistics.median(fds[-window:])
    ordered = sorted(durations)
    # Every target with a frame in the archive has all of its epochs by the end.
    wedged = sum(1 for t in settings.targets[:-1] if len(store.list_epochs(t.id)) != epochs)
    return SoakResult(
        polls=done, targets=n_targets, rounds=rounds, warmed_up_at_poll=warmed_up_at,
        seconds=time.perf_counter() - t_start,
        poll_s_median=statistics.median(durations),
        poll_s_p95=ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        rss_mib_after_warmup=rss0, rss_mib_end=rss1, rss_growth_mib=rss1 - rss0,
        fds_after_warmup=fd0, fds_end=fd1, fd_growth=fd1 - fd0, epochs_scored=scored,
        alerts=len(alerts), deliveries_sent=sent, outbox_depth=store.outbox_depth(),
        poll_errors=errors, product_failures=failures, wedged_targets=wedged, faults=faults,
        rss_samples_mib=[round(x, 1) for x in rss], fd_samples=fds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--polls", type=int, default=1000, help="polls in all (1000)")
    parser.add_argument("--targets", type=int, default=20, help="targets (20)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per frame (6)")
    parser.add_argument("--size", type=int, default=128, help="frame size, pixels (128)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--smtp", action="store_true",
                        help="a real SMTP server on 127.0.0.1 instead of the dry-run folder")
    parser.add_argument("--warmup", type=float, default=0.2,
                        help="fraction of the polls before the first reading (0.2)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    result = run_soak(args.polls, args.targets, epochs=args.epochs, size_px=args.size,
                      seed=args.seed, smtp=args.smtp, warmup=args.warmup)
    figures = asdict(result)
    samples = {k: figures.pop(k) for k in ("rss_samples_mib", "fd_samples")}
    for key, value in figures.items():
        print(f"{key}: {round(value, 3) if isinstance(value, float) else value}")
    if args.json:
        Path(args.json).write_text(json.dumps({**figures, **samples}, indent=1) + "\n",
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``run``: the watch daemon (:class:`monitor.service.daemon.Daemon`).

``insar-monitor run --config FILE`` polls every target on its ``poll_interval_s`` until
SIGTERM or SIGINT, then lets the poll under way finish, stops the metrics endpoint and exits
0. ``--once`` polls every target once, sends the outbox and exits (for cron and tests): 0
when every target polled cleanly and the outbox is clean, 4 (the archive errors' code)
when a product or a listing failed, a frame is blocked (a quarantined product that no
listed pair bridges) or a poll raised, else 7 (the delivery errors' code) when deliveries
failed permanently (they wait for ``insar-monitor outbox retry``) or remain queued after
errors; a WARNING line says which. Each poll logs one line (target, counts, duration) at
info level (``-v``). With ``--once`` and standard output a terminal, a backfill draws one
progress bar per frame (products done / total, rate, time left: :mod:`monitor.cli.progress_bar`).

The signal handlers are installed here, only while the daemon runs, and restored after.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from monitor.cli.detector_options import load_scoring_model
from monitor.cli.logs import apply_configured_logging
from monitor.errors import ArchiveError, DeliveryError

log = logging.getLogger(__name__)

#: Exit status of ``run --once`` when a target's poll failed.
EXIT_POLL_FAILED = ArchiveError.exit_code
#: Exit status of ``run --once`` when deliveries failed permanently or remain queued
#: after errors (and every poll was clean).
EXIT_DELIVERY_FAILED = DeliveryError.exit_code
#: Signals that stop the daemon.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="watch daemon: poll every target on its schedule "
                                          "until SIGTERM/SIGINT")
    p.add_argument("--config", metavar="FILE", required=True,
                   help="TOML configuration (targets, archives, database, e-mail, metrics)")
    p.add_argument("--once", action="store_true",
                   help="poll every target once, send the outbox, exit")
    p.add_argument("--model", metavar="FILE",
                   help="detector model file (default: the packaged weights)")
    p.add_argument("--arch", default=None,
                   help="architecture of the packaged weights (default: compact)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from monitor.cli.progress_bar import terminal_progress
    from monitor.config import load_settings
    from monitor.service.daemon import Daemon

    settings = load_settings(args.config)
    apply_configured_logging(args, settings.logging)
    daemon = Daemon(settings, args.config,
                    model_loader=lambda: load_scoring_model(args.model, args.arch,
                                                            settings.science.detector),
                    progress=terminal_progress() if args.once else None)
    if args.once:
        try:
            outcomes = daemon.run_once()
        finally:
            daemon.stop()  # the executor's workers or Dask client
        if not all(o.ok for o in outcomes):
            return EXIT_POLL_FAILED
        reports = [o.delivery for o in outcomes if o.delivery is not None]
        given_up = sum(r.given_up for r in reports)
        retrying = sum(r.retrying for r in reports)
        waiting = reports[-1].failed_total if reports else 0
        if given_up or waiting:
            log.warning("run --once: deliveries failed permanently (%d this run, %d waiting "
                        "for `insar-monitor outbox retry`; see `insar-monitor outbox list "
                        "--failed --config FILE`)", given_up, waiting)
            return EXIT_DELIVERY_FAILED
        if retrying:
            log.warning("run --once: %d deliveries remain queued after errors (retried "
                        "with backoff by the next run)", retrying)
            return EXIT_DELIVERY_FAILED
        return 0
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping after the poll under way",
                 signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in STOP_SIGNALS}
    try:
        daemon.run_until(stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0

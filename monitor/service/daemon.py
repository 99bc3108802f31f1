"""The watch daemon: every target polled on its own schedule (issue 5, "Daemon").

One APScheduler 3 interval job per target (``IntervalTrigger(seconds=poll_interval_s,
jitter=watch.jitter_s)``, ``max_instances=1``, ``coalesce=True``, a misfire grace of one
interval, first run at start). Each run is :func:`~monitor.service.pipeline.poll_target`
then :func:`~monitor.service.outbox.deliver_outbox`; any exception of a run is logged and
counted when the poll itself raised (``products_failed{reason="other"}`` and the poll
duration without a successful-poll time) and never stops the other targets nor later runs.

**The outbox has its own schedule** (``[outbox] interval_s``, default 60 s): a job
``outbox`` running :func:`~monitor.service.outbox.deliver_outbox` on its own executor (one
thread of its own, ``max_instances=1``, coalesced, first run at start), so a retry is due
within a minute of its backoff whatever the poll intervals are, and a long poll does not
hold deliveries back. The pass after each poll still runs (an alert goes out as soon as it
is raised). The two never send the same delivery at once: both take the daemon's outbox
lock, and each delivery is claimed in the store before it is sent (which also covers a
``poll --once`` in another process).

**Targets are polled concurrently** (issue 17): the scheduler's poll executor has
``[executor] workers`` threads (default: the machine's cores), so up to that many targets
are polled at once, each by its own thread, the one writer of that target (its series
files, its rows); a target is never polled twice at once (``max_instances=1``: a run due
while the last is still going is skipped, late runs are merged, ``coalesce=True``).
``run --once`` polls the targets the same way. The database is the only state the polls
share (SQLite in WAL mode with a busy timeout; PostgreSQL), the model is read-only and the
metrics are thread-safe; nothing of a target is kept between its polls, so memory grows
with the targets in flight, not with those watched. The scoring of each epoch goes to the
executor (:mod:`monitor.service.executors`: in the writer's thread, a process pool or a
Dask cluster), built when the daemon starts and closed when it stops.

The daemon installs no signal handler: the CLI (``insar-monitor run``) turns SIGTERM/SIGINT
into a set :class:`threading.Event` given to :meth:`Daemon.run_until`, and the polls under
way finish before :meth:`Daemon.stop` returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor as PollThreads
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import CollectorRegistry

from monitor.config import Settings, TargetSettings
from monitor.errors import InputError
from monitor.io.atomic import sweep_orphaned_temp_files
from monitor.io.models import ScoringModel
from monitor.metrics import MetricsServer, WatchMetrics, start_metrics_server
from monitor.notify.webhook import webhook_secret_problems
from monitor.ports import Clock, SystemClock
from monitor.service.context import WatchContext
from monitor.service.executors import build_executor
from monitor.service.feeds import feeds_dir, publish_feeds
from monitor.service.metrics_restore import restore_metrics
from monitor.service.outbox import DeliveryReport, deliver_outbox
from monitor.service.pipeline import PollReport, poll_target
from monitor.service.progress import ProgressSink
from monitor.service.status_page import start_status_page
from monitor.store import Store, make_engine, require_current
from monitor.web.status_page import StatusPageServer

log = logging.getLogger(__name__)

#: Seconds :meth:`Daemon.run_until` sleeps between looks at its stop event.
STOP_CHECK_S = 0.2


@dataclass(frozen=True)
class PollOutcome:
    """What one scheduled (or ``--once``) run of a target did.

    Attributes:
        target_id: The target.
        started_at: The clock's time of the poll (UTC).
        duration_s: Wall time of poll and delivery, seconds.
        report: The poll's report, or None when the poll raised.
        delivery: The outbox pass, or None when it (or the poll) raised.
        error: ``"ExceptionType: message"`` when the run raised, else None.
    """

    target_id: str
    started_at: datetime
    duration_s: float
    report: PollReport | None
    delivery: DeliveryReport | None
    error: str | None

    @property
    def ok(self) -> bool:
        """True when nothing raised, no product or listing failed and no frame is
        blocked."""
        return self.error is None and self.report is not None and self.report.ok


def _default_model_loader(settings: Settings) -> Callable[[], ScoringModel]:
    """The packaged detector of ``[science] detector``, found the way the CLI finds it."""
    def load() -> ScoringModel:
        from monitor.io.models import load_scoring_model

        return load_scoring_model(None, None, settings.science.detector)

    return load


def _changed_records(report: PollReport | None) -> bool:
    """Whether a poll may have changed what the feeds show (None: it raised midway)."""
    return report is None or bool(report.ingested or report.reconciled or report.scored
                                  or report.alerts_raised or report.alerts_cleared)


class Daemon:
    """Polls every configured target on its interval until stopped.

    Args:
        settings: The configuration.
        config_file: The configuration's path (named in the ``db upgrade`` message and in
            the acknowledge command of alerts).
        clock: Source of each poll's ``now`` (default
            :class:`~monitor.ports.SystemClock`). The scheduler itself runs on real time.
        registry: Prometheus registry for :class:`~monitor.metrics.WatchMetrics` (default: a
            new one, so several daemons in one process do not collide).
        model_loader: Returns the detector; called once by :meth:`start` (default: the
            packaged detector that ``[science] detector`` names).
        progress: Receives the backfill progress of every frame's poll
            (:mod:`monitor.service.progress`), e.g. the terminal bar of ``run --once``.
    """

    def __init__(self, settings: Settings, config_file: str, *, clock: Clock | None = None,
                 registry: CollectorRegistry | None = None,
                 model_loader: Callable[[], ScoringModel] | None = None,
                 progress: ProgressSink | None = None) -> None:
        if not settings.targets:
            raise InputError(f"configuration {config_file!r} has no [[targets]]; the daemon "
                             "needs at least one target to watch")
        self.settings = settings
        self.config_file = str(config_file)
        self.clock: Clock = clock or SystemClock()
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = WatchMetrics(self.registry)
        self._model_loader = model_loader or _default_model_loader(settings)
        self._progress = progress
        self.metrics_server: MetricsServer | None = None
        self.status_server: StatusPageServer | None = None
        self._ctx: WatchContext | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.Lock()
        self._outcomes: list[PollOutcome] = []
        #: The feeds are written after the first poll, then after a poll that recorded
        #: something (they read every target's status: not after every idle poll).
        self._feeds_due = True
        #: Held by every outbox pass of this daemon (the outbox job and after each poll).
        self._outbox_lock = threading.Lock()
        self._passes: list[DeliveryReport] = []
        #: Polls run at once (``[executor] workers``); the feeds are written by one at a time.
        self.workers = settings.executor.worker_count()
        self._feeds_lock = threading.Lock()

    @property
    def outcomes(self) -> tuple[PollOutcome, ...]:
        """Every run so far, oldest first."""
        with self._lock:
            return tuple(self._outcomes)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._scheduler is not None

    def prepare(self) -> WatchContext:
        """Check the schema, remove the temporary files killed writers left in the watch's
        folders, open the store, load the model and restore the metrics from the database
        (once); no scheduling.

        Raises:
            StoreError: The database is not at the code's schema revision (the message
                says to run ``insar-monitor db upgrade --config FILE``).
            ModelError: The detector cannot be loaded.
            ExecutorError: The Dask scheduler cannot be reached (``[executor]``).
        """
        if self._ctx is None:
            require_current(self.settings.database.url, self.config_file)
            watch = self.settings.watch
            sweep_orphaned_temp_files(watch.series_dir, watch.cache_dir, watch.quicklook_dir,
                                      self.settings.email.outbox_dir, feeds_dir(self.settings))
            for problem in webhook_secret_problems(self.settings.webhooks):
                log.warning("%s", problem)
            store = Store(make_engine(self.settings.database.url))
            model = self._model_loader()
            executor = build_executor(self.settings.executor, model)
            # Alerts name the file in their acknowledge command when it is one (the demo
            # passes a description instead).
            config = self.config_file if Path(self.config_file).is_file() else None
            self._ctx = WatchContext.from_settings(self.settings, store, model, self.metrics,
                                                   config_file=config, progress=self._progress,
                                                   executor=executor)
            log.info("scoring: %s executor; up to %d target(s) polled at once",
                     executor.kind, self.workers)
            # Dashboards are right from the first scrape, before any new acquisition.
            restore_metrics(self.metrics, store, self.settings, self.clock.now())
        return self._ctx

    def poll_and_deliver(self, target: TargetSettings) -> PollOutcome:
        """One run of one target: poll, then one outbox pass, then the feeds (with ``[feeds]
        enabled``). Never raises (logs instead).

        Args:
            target: The target's settings.

        Returns:
            The outcome, also appended to :attr:`outcomes`.
        """
        ctx = self.prepare()
        now = self.clock.now()
        t0 = time.perf_counter()
        report: PollReport | None = None
        delivery: DeliveryReport | None = None
        error: str | None = None
        try:
            report = poll_target(ctx, target, now)
            with self._outbox_lock:
                delivery = deliver_outbox(ctx, self.clock.now())
        except Exception as exc:  # one broken target must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            log.exception("poll %s failed: %s", target.id, error)
            if report is None:  # the poll itself raised: count it, as poll_target would not
                self.metrics.product_failed(target.id, "other")
                self.metrics.observe_poll(target.id, time.perf_counter() - t0,
                                          attempted_at=now)
        if self.settings.feeds.enabled:
            with self._feeds_lock:
                if self._feeds_due or _changed_records(report):
                    self._feeds_due = not self._publish_feeds(ctx)
        duration = time.perf_counter() - t0
        outcome = PollOutcome(target.id, now, duration, report, delivery, error)
        self._log(outcome)
        with self._lock:
            self._outcomes.append(outcome)
        return outcome

    @property
    def outbox_passes(self) -> tuple[DeliveryReport, ...]:
        """Every pass of the outbox job so far (not those after polls), oldest first."""
        with self._lock:
            return tuple(self._passes)

    def deliver_pending(self) -> DeliveryReport | None:
        """One pass over the outbox (the ``outbox`` job, every ``[outbox] interval_s``).
        Never raises: a failure of the pass itself (the database down) is logged and the
        next pass tries again; None then."""
        ctx = self.prepare()
        try:
            with self._outbox_lock:
                report = deliver_outbox(ctx, self.clock.now())
        except Exception as exc:  # the schedule must outlive a failed pass
            log.exception("outbox pass failed: %s: %s", type(exc).__name__, exc)
            return None
        if report.sent or report.failed:
            log.info("outbox: sent=%d failed=%d (permanently %d) waiting=%d failed_total=%d",
                     report.sent, report.failed, report.given_up, report.outbox_depth,
                     report.failed_total)
        with self._lock:
            self._passes.append(report)
        return report

    def _publish_feeds(self, ctx: WatchContext) -> bool:
        """Write the feeds (``[feeds]``); a failure is logged (and the feeds written again
        after the next poll), the watch goes on. Returns whether they were written."""
        try:
            publish_feeds(ctx.store, self.settings, None, self.clock.now())
        except Exception as exc:  # the feeds must never stop the watch
            log.exception("publishing the feeds to %s failed: %s", feeds_dir(self.settings),
                          exc)
            return False
        return True

    def run_once(self) -> tuple[PollOutcome, ...]:
        """Poll every target once (``insar-monitor run --once``), up to :attr:`workers` at
        once; the outcomes in configuration order.

        Raises:
            StoreError: Old schema (see :meth:`prepare`).
            ExecutorError: The Dask scheduler cannot be reached.
        """
        self.prepare()
        targets = self.settings.targets
        if self.workers == 1 or len(targets) == 1:
            return tuple(self.poll_and_deliver(t) for t in targets)
        with ThreadPoolExecutor(min(self.workers, len(targets)),
                                thread_name_prefix="poll") as pool:
            return tuple(pool.map(self.poll_and_deliver, targets))

    def start(self) -> None:
        """Check the schema, load the model, start the metrics server, the status page and
        the scheduler.

        Raises:
            StoreError: Old schema; nothing is started.
            InputError: Already started.
            OSError: The metrics or status page port cannot be bound (nothing is left
                running).
        """
        if self._scheduler is not None:
            raise InputError("Daemon.start: the daemon is already running; call stop() first")
        ctx = self.prepare()
        if self.settings.metrics.enabled:
            self.metrics_server = start_metrics_server(
                self.registry, self.settings.metrics.host, self.settings.metrics.port)
        if self.settings.status_page.enabled:
            try:
                self.status_server = start_status_page(self.settings, ctx.store, self.clock)
            except OSError:
                self.stop()
                raise
        scheduler = BackgroundScheduler(executors={"default": PollThreads(self.workers),
                                                   "outbox": PollThreads(1)},
                                        timezone=UTC)
        first = datetime.now(UTC)
        every = float(self.settings.outbox.interval_s)
        scheduler.add_job(self.deliver_pending, IntervalTrigger(seconds=every), id="outbox",
                          name="outbox", executor="outbox", max_instances=1, coalesce=True,
                          misfire_grace_time=max(1, int(every)), next_run_time=first)
        for target in self.settings.targets:
            interval = float(target.poll_interval_s)
            scheduler.add_job(
                self.poll_and_deliver, IntervalTrigger(seconds=interval,
                                                       jitter=self.settings.watch.jitter_s),
                args=(target,), id=target.id, name=f"poll {target.id}", max_instances=1,
                coalesce=True, misfire_grace_time=max(1, int(interval)), next_run_time=first)
        scheduler.start()
        self._scheduler = scheduler
        log.info("daemon started: %d target(s), outbox every %g s, metrics %s",
                 len(self.settings.targets), every,
                 self.metrics_server.url if self.metrics_server else "disabled")

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; with ``wait`` the polls under way finish first; then close the
        executor (its worker processes, its Dask client; a later poll opens it again).
        Idempotent."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=wait)
        if self._ctx is not None:
            self._ctx.executor.close()
        page, self.status_server = self.status_server, None
        if page is not None:
            page.shutdown()
        server, self.metrics_server = self.metrics_server, None
        if server is not None:
            server.shutdown()
        if scheduler is not None or server is not None:
            log.info("daemon stopped")

    def run_until(self, stop_event: threading.Event) -> None:
        """Start (unless running), block until ``stop_event`` is set, then :meth:`stop`."""
        if self._scheduler is None:
            self.start()
        try:
            while not stop_event.wait(STOP_CHECK_S):
                pass
        finally:
            self.stop(wait=True)

    def wait_for(self, predicate: Callable[[tuple[PollOutcome, ...]], bool],
                 timeout_s: float) -> bool:
        """Wait until ``predicate(outcomes)`` holds; False after ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.outcomes):
                return True
            time.sleep(0.05)
        return predicate(self.outcomes)

    def _log(self, o: PollOutcome) -> None:
        fields = {"target": o.target_id, "duration_s": round(o.duration_s, 3)}
        if o.report is None:
            log.warning("poll %s: failed after %.2f s: %s", o.target_id, o.duration_s, o.error,
                        extra=fields)
            return
        r = o.report
        d = o.delivery
        log.info("poll %s: listed=%d fetched=%d ingested=%d reconciled=%d scored=%d "
                 "alerts=%d queued=%d sent=%d failures=%d in %.2f s", o.target_id, r.listed,
                 r.fetched, r.ingested, r.reconciled, r.scored, r.alerts_raised,
                 r.deliveries_queued, d.sent if d else 0, len(r.failures), o.duration_s,
                 extra=fields)
        for f in r.failures:
            log.warning("poll %s: %s %s failed at %s (%s): %s", o.target_id, f.frame, f.pair,
                        f.stage, f.reason, f.message,
                        extra={"target": o.target_id, "frame": f.frame})
        if o.error is not None:
            log.warning("poll %s: delivery failed: %s", o.target_id, o.error, extra=fields)


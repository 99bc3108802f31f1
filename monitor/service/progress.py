"""Progress of a frame's poll through its due products: the backfill (issue 17, step 11).

A new deployment starts with a backfill of years of archive: hundreds of products per
frame, minutes to hours of work in one poll. :class:`BackfillTracker` follows one frame's
poll (the pipeline starts it with the number of products the daisy chain will go through,
steps it once per product ingested or set aside, and finishes it however the poll ends)
and reports products done / total, the rate (products per second) and the estimated time
left in three places:

* **the log**: an INFO line every tenth of the products or every :data:`LOG_EVERY_S`
  seconds, whichever comes first, and one at the end, for polls of at least
  :data:`MIN_LOGGED` products (a routine poll of one new acquisition logs nothing more);
  JSON lines carry ``target``, ``frame``, ``done``, ``total``, ``rate_per_s`` and
  ``eta_s``;
* **the metrics**: ``insar_monitor_backfill_products_remaining{target,frame}``,
  ``insar_monitor_backfill_rate_products_per_second`` and
  ``insar_monitor_backfill_eta_seconds`` (:meth:`~monitor.metrics.WatchMetrics.set_backfill`),
  updated at every product; when the poll ends the rate and estimate go to 0 and the
  remaining count to what the chain did not reach (0 when the frame is caught up);
* **a sink** (:data:`ProgressSink`) given to the watch, e.g. the terminal progress bar of
  ``insar-monitor run --once`` (:mod:`monitor.cli.progress_bar`), called at every step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor.metrics import WatchMetrics

log = logging.getLogger(__name__)

#: Longest time between two progress lines of a backfill, seconds.
LOG_EVERY_S = 30.0
#: Progress lines per backfill when products go faster than :data:`LOG_EVERY_S`.
LOG_LINES = 10
#: Fewest due products for which a poll logs its progress.
MIN_LOGGED = 2


@dataclass(frozen=True)
class BackfillProgress:
    """Where one frame's poll stands.

    Attributes:
        target: Target id.
        frame: Frame id.
        done: Products ingested or set aside so far in this poll.
        total: Products the chain had to go through when the poll started (at least
            ``done``).
        elapsed_s: Seconds since the poll started on them.
        finished: The poll of the frame has ended (caught up, or stopped by a failure).
    """

    target: str
    frame: str
    done: int
    total: int
    elapsed_s: float
    finished: bool = False

    @property
    def remaining(self) -> int:
        """Products left."""
        return max(self.total - self.done, 0)

    @property
    def rate_per_s(self) -> float:
        """Products per second so far (0 before the first)."""
        return self.done / self.elapsed_s if self.done and self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first product."""
        rate = self.rate_per_s
        return self.remaining / rate if rate > 0 else None


#: Receives every step of every frame's poll (called on the polling thread).
ProgressSink = Callable[[BackfillProgress], None]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


class BackfillTracker:
    """Counts one frame's poll through its due products (module docstring).

    Args:
        target: Target id.
        frame: Frame id.
        metrics: Gauges to set, or None.
        sink: Called with every :class:`BackfillProgress`, or None.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(self, target: str, frame: str, metrics: WatchMetrics | None = None,
                 sink: ProgressSink | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.target, self.frame = target, frame
        self.metrics, self.sink, self.clock = metrics, sink, clock
        self.total = self.done = 0
        self._t0 = self._last_log = 0.0
        self._logged_at = 0
        self._started = self._finished = False

    def progress(self, finished: bool = False) -> BackfillProgress:
        """Where the poll stands now."""
        elapsed = self.clock() - self._t0 if self._started else 0.0
        return BackfillProgress(self.target, self.frame, self.done,
                                max(self.total, self.done), elapsed, finished)

    def start(self, total: int) -> None:
        """The poll starts on ``total`` products (the chain ahead of the series cursor)."""
        self.total, self.done = max(0, int(total)), 0
        self._t0 = self._last_log = self.clock()
        self._started = True
        self._report(self.progress())

    def step(self, n: int = 1) -> None:
        """``n`` more products ingested or set aside."""
        if not self._started:
            self.start(0)
        self.done += n
        p = self.progress()
        every = max(1, p.total // LOG_LINES)
        now = self.clock()
        if p.total >= MIN_LOGGED and p.done < p.total and (
                p.done - self._logged_at >= every or now - self._last_log >= LOG_EVERY_S):
            self._log(p)
            self._logged_at, self._last_log = p.done, now
        self._report(p)

    def finish(self) -> None:
        """The frame's poll ended (whatever the reason); idempotent."""
        if self._finished:
            return
        self._finished = True
        p = self.progress(finished=True)
        if self._started and p.total >= MIN_LOGGED:
            self._log(p)
        self._report(p)

    def _log(self, p: BackfillProgress) -> None:
        fields = {"target": p.target, "frame": p.frame, "done": p.done, "total": p.total,
                  "rate_per_s": round(p.rate_per_s, 4),
                  "eta_s": None if p.eta_s is None else round(p.eta_s, 1)}
        if p.finished:
            log.info("target %s frame %s: backfill %s: %d/%d products in %s (%.2f "
                     "products/s)%s", p.target, p.frame,
                     "caught up" if not p.remaining else "stopped", p.done, p.total,
                     _duration(p.elapsed_s), p.rate_per_s,
                     f"; {p.remaining} left for the next poll" if p.remaining else "",
                     extra={**fields, "eta_s": None})
            return
        log.info("target %s frame %s: backfill %d/%d products (%.0f%%), %.2f products/s, "
                 "about %s left", p.target, p.frame, p.done, p.total,
                 100.0 * p.done / max(p.total, 1), p.rate_per_s, _duration(p.eta_s),
                 extra=fields)

    def _report(self, p: BackfillProgress) -> None:
        if self.metrics is not None:
            self.metrics.set_backfill(p.target, p.frame, remaining=p.remaining,
                                      rate_per_s=0.0 if p.finished else p.rate_per_s,
                                      eta_s=0.0 if p.finished or p.eta_s is None
                                      else p.eta_s)
        if self.sink is not None:
            self.sink(p)

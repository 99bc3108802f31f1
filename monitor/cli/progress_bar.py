"""The terminal progress bar of ``insar-monitor run --once`` during a backfill.

One :mod:`tqdm` bar per frame being polled (products done / total, rate, time left), on
standard output when it is a terminal; the log lines of :mod:`monitor.service.progress`
say the same thing to files and JSON logs.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from tqdm import tqdm

from monitor.service.progress import MIN_LOGGED, BackfillProgress


class TerminalProgress:
    """A :data:`~monitor.service.progress.ProgressSink` drawing one bar per frame.

    Args:
        stream: Where to draw (default: standard output).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._bars: dict[tuple[str, str], tqdm] = {}
        self._lock = threading.Lock()

    def __call__(self, p: BackfillProgress) -> None:
        key = (p.target, p.frame)
        with self._lock:
            bar = self._bars.get(key)
            if bar is None:
                if p.finished or p.total < MIN_LOGGED:
                    return  # a routine poll of one product draws nothing
                bar = tqdm(total=p.total, desc=f"{p.target} {p.frame}", unit="product",
                           file=self.stream, leave=True, dynamic_ncols=True)
                self._bars[key] = bar
            bar.total = max(bar.total or 0, p.total)
            bar.update(p.done - bar.n)
            if p.finished:
                bar.close()
                del self._bars[key]


def terminal_progress() -> TerminalProgress | None:
    """The bar when standard output is a terminal, else None (no bar in files or pipes)."""
    return TerminalProgress() if sys.stdout.isatty() else None

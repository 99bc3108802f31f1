"""The fault suite's tally: what each fault test injected and what it observed.

Every test under ``tests/faults/`` records through the ``faults`` fixture what it did
(``faults.injected("kill -9", 50)``, ``faults.bad_input("raster: inf pixels")``) and what
came out of it (``faults.duplicates(7)``, ``faults.lost(0)``, ``faults.wedged(0)``,
``faults.measured("soak rss growth MiB", 3.2)``). At the end of the run the totals are
printed in pytest's terminal summary and, when ``MONITOR_FAULT_REPORT`` names a file,
written there as JSON: the figures of the reliability note come from that report, not
from hand counts.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class FaultTally:
    """Counts of one run of the fault suite (shared by every test of the session)."""

    injected_by_kind: Counter[str] = field(default_factory=Counter)
    bad_inputs_by_kind: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    figures: dict[str, float] = field(default_factory=dict)

    def injected(self, kind: str, n: int = 1) -> None:
        """``n`` faults of ``kind`` were injected (a kill, an outage, a 500...)."""
        self.injected_by_kind[kind] += n

    def bad_input(self, kind: str, n: int = 1) -> None:
        """``n`` hostile or malformed inputs of ``kind`` were fed in."""
        self.bad_inputs_by_kind[kind] += n

    def duplicates(self, n: int) -> None:
        """Messages delivered more than once (at-least-once delivery)."""
        self.outcomes["duplicate deliveries"] += n

    def lost(self, n: int) -> None:
        """Alerts or deliveries that never arrived (must stay 0)."""
        self.outcomes["lost alerts"] += n

    def wedged(self, n: int) -> None:
        """Targets that stopped making progress for good (must stay 0)."""
        self.outcomes["wedged targets"] += n

    def measured(self, name: str, value: float) -> None:
        """A figure of the run (peak memory, growth over a soak...)."""
        self.figures[name] = float(value)

    def as_dict(self) -> dict[str, object]:
        return {"injected": dict(sorted(self.injected_by_kind.items())),
                "bad_inputs": dict(sorted(self.bad_inputs_by_kind.items())),
                "outcomes": {k: self.outcomes.get(k, 0) for k in
                             ("duplicate deliveries", "lost alerts", "wedged targets")},
                "figures": dict(sorted(self.figures.items()))}


_TALLY = FaultTally()


@pytest.fixture
def faults() -> Iterator[FaultTally]:
    """The session's :class:`FaultTally`."""
    yield _TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = _TALLY.as_dict()
    if not any(report[k] for k in ("injected", "bad_inputs", "figures")):
        return
    terminalreporter.section("fault suite tally")
    for key, value in report.items():
        terminalreporter.write_line(f"{key}: {json.dumps(value)}")
    path = os.environ.get("MONITOR_FAULT_REPORT")
    if path:
        Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

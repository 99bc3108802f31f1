"""The fault suite's tally (:class:`FaultTally`), one per process.

:mod:`tests.faults.conftest` hands it to the fault tests; ``tests/conftest.py`` adds up the
tallies of pytest-xdist workers and prints and writes the total.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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

    def raw(self) -> dict[str, dict[str, float]]:
        """The counts as plain dictionaries (what a pytest-xdist worker sends back)."""
        return {"injected": dict(self.injected_by_kind),
                "bad_inputs": dict(self.bad_inputs_by_kind),
                "outcomes": dict(self.outcomes), "figures": dict(self.figures)}

    def merge(self, other: dict[str, dict[str, float]]) -> None:
        """Add another process's counts (:meth:`raw`)."""
        self.injected_by_kind.update({k: int(v) for k, v in other["injected"].items()})
        self.bad_inputs_by_kind.update({k: int(v) for k, v in other["bad_inputs"].items()})
        self.outcomes.update({k: int(v) for k, v in other["outcomes"].items()})
        self.figures.update(other["figures"])


#: This process's tally.
TALLY = FaultTally()

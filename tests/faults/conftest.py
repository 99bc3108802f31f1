"""The fault suite's tally: what each fault test injected and what it observed.

Every test under ``tests/faults/`` records through the ``faults`` fixture what it did
(``faults.injected("kill -9", 50)``, ``faults.bad_input("raster: inf pixels")``) and what
came out of it (``faults.duplicates(7)``, ``faults.lost(0)``, ``faults.wedged(0)``,
``faults.measured("soak rss growth MiB", 3.2)``). At the end of the run the totals, over
every pytest-xdist worker, are printed in pytest's terminal summary and, when
``MONITOR_FAULT_REPORT`` names a file, written there as JSON (``tests/conftest.py``): the
figures of the reliability note come from that report, not from hand counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from faults.tally import TALLY, FaultTally


@pytest.fixture
def faults() -> Iterator[FaultTally]:
    """The session's :class:`FaultTally`."""
    yield TALLY


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker, send this worker's tally back to the controller, which
    adds them up (``tests/conftest.py``)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fault_tally"] = json.dumps(TALLY.raw())

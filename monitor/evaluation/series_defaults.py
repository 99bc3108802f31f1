"""Defaults of ``evaluate series`` (plain constants, no numpy).

:mod:`monitor.evaluation.series` and :mod:`monitor.evaluation.series_policy` use them;
``insar-monitor evaluate series`` offers them in its help without loading the science
stack.
"""

from __future__ import annotations

#: Rates of the synthetic rate cases, cm/yr of peak LOS.
DEFAULT_RATES_CM_PER_YR: tuple[float, ...] = (1.0, 2.0, 3.5, 5.0, 8.5, 10.0)
#: One-interval steps of the synthetic step cases, cm of peak LOS.
DEFAULT_STEPS_CM: tuple[float, ...] = (3.0, 10.0)
#: Turbulence standard deviations per date, cm.
DEFAULT_TURBULENCE_CM: tuple[float, ...] = (0.5, 1.0, 1.5)
#: Packaged DEMs the synthetic series are drawn over, in turn over the seeds.
DEFAULT_DEMS: tuple[str, ...] = ("campi_flegrei", "taal", "agung", "sakurajima")
#: Rates below this (cm/yr) get the longer series (``--slow-epochs``): 5 cm/yr over 40
#: epochs (20 after the onset, 3.3 cm) would be cut short.
SLOW_RATE_CM_PER_YR = 6.0
#: Thresholds of the time-series rule in the sweep, sigma.
DEFAULT_Z_SWEEP: tuple[float, ...] = (3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0, 10.0)

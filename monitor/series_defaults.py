"""Defaults and choices of the series scan (plain constants, no numpy).

:mod:`monitor.service.series_scan` uses them; ``insar-monitor scan-series`` offers them in its
help without loading the science stack.
"""

from __future__ import annotations

#: Target disc radius when ``--target`` gives none: covers the half-amplitude footprint
#: of a Mogi source down to about 4 km depth (half width 0.766 x depth).
DEFAULT_TARGET_RADIUS_KM = 3.0
#: ``--network`` choices -> :func:`~monitor.science.timeseries.cumulative_series` methods.
NETWORKS = {"auto": "auto", "daisy": "daisy-chain", "sbas": "sbas"}

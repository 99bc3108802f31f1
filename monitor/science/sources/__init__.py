"""Analytic deformation sources in an elastic half-space (Anantrasirichai et al. 2019a, s. 3.1).

Every source maps surface coordinates (x = east, y = north, metres) to an :class:`ENU`
displacement in metres (float32):

* :func:`mogi` - point pressure source (Mogi 1958).
* :func:`okada_rectangle` - rectangular shear/tensile dislocation (Okada 1985); earthquakes,
  dykes and Okada sills. :func:`okada85_local` evaluates it in Okada's own frame.
* :func:`penny_crack` - pressurised horizontal circular crack (Fialko et al. 2001).
* :func:`draw_source` - Monte Carlo source parameters within :class:`SourceRanges`.
"""

from __future__ import annotations

from monitor.science.sources.draws import (
    SOURCE_KINDS,
    DykeParams,
    EarthquakeParams,
    MogiParams,
    OkadaSillParams,
    PennySillParams,
    SourceParams,
    SourceRanges,
    draw_source,
)
from monitor.science.sources.enu import ENU
from monitor.science.sources.mogi import mogi
from monitor.science.sources.okada import okada85_local, okada_rectangle
from monitor.science.sources.penny import MIN_DEPTH_TO_RADIUS, penny_crack, penny_volume_m3

__all__ = [
    "ENU",
    "MIN_DEPTH_TO_RADIUS",
    "SOURCE_KINDS",
    "DykeParams",
    "EarthquakeParams",
    "MogiParams",
    "OkadaSillParams",
    "PennySillParams",
    "SourceParams",
    "SourceRanges",
    "draw_source",
    "mogi",
    "okada85_local",
    "okada_rectangle",
    "penny_crack",
    "penny_volume_m3",
]

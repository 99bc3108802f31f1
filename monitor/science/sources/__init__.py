"""Analytic deformation sources in an elastic half-space (Anantrasirichai et al. 2019a, s. 3.1).

Every source maps surface coordinates (x = east, y = north, metres) to an :class:`ENU`
displacement in metres (float32):

* :func:`mogi` - point pressure source (Mogi 1958).
* :func:`okada_rectangle` - rectangular shear/tensile dislocation (Okada 1985); earthquakes,
  dykes and Okada sills. :func:`okada85_local` evaluates it in Okada's own frame.
* :func:`penny_crack` - pressurised horizontal circular crack (Fialko et al. 2001).
* :func:`gaussian_sill` - horizontal sill of Gaussian (tapered) opening, a superposition
  of point tensile cracks (Okada 1985).
* :func:`draw_source` - Monte Carlo source parameters within :class:`SourceRanges`.
"""

from __future__ import annotations

from monitor.science.sources.draws import (
    ALL_SOURCE_KINDS,
    EXTRA_SOURCE_KINDS,
    SOURCE_KINDS,
    DykeParams,
    EarthquakeParams,
    GaussianSillParams,
    MogiPairParams,
    MogiParams,
    OkadaSillParams,
    PennySillParams,
    SourceParams,
    SourceRanges,
    draw_source,
)
from monitor.science.sources.enu import ENU
from monitor.science.sources.gaussian_sill import gaussian_sill, gaussian_sill_volume_m3
from monitor.science.sources.mogi import mogi
from monitor.science.sources.okada import okada85_local, okada_rectangle
from monitor.science.sources.penny import MIN_DEPTH_TO_RADIUS, penny_crack, penny_volume_m3

__all__ = [
    "ALL_SOURCE_KINDS",
    "ENU",
    "EXTRA_SOURCE_KINDS",
    "GaussianSillParams",
    "MogiPairParams",
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
    "gaussian_sill",
    "gaussian_sill_volume_m3",
    "mogi",
    "okada85_local",
    "okada_rectangle",
    "penny_crack",
    "penny_volume_m3",
]

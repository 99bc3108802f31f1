"""The case grid of the threshold protocol of Anantrasirichai et al. (2019b) (no numpy).

Mogi sources at 3, 4, 5 km depth seen at 1, 23, 44 degrees incidence, volume changes of
10^5 to 10^7 m^3 in half-decade steps, and weights alpha, beta in {0, 0.5, 1} of the
stratified and turbulent delays; the turbulence has sigma^2 = 7.5 mm^2 and an e-folding
length of 8 km. Used by :mod:`monitor.science.detect.evaluation` and, as defaults, by
``insar-monitor evaluate threshold``.
"""

from __future__ import annotations

import math

#: Source depths, metres.
PROTOCOL_DEPTHS_M = (3000.0, 4000.0, 5000.0)
#: Incidence angles, degrees.
PROTOCOL_INCIDENCES_DEG = (1.0, 23.0, 44.0)
#: log10 of the volume changes, m^3.
PROTOCOL_LOG10_VOLUMES_M3 = (5.0, 5.5, 6.0, 6.5, 7.0)
#: Values of alpha (stratified) and of beta (turbulent).
PROTOCOL_WEIGHTS = (0.0, 0.5, 1.0)
#: Standard deviation of the turbulent delay, metres (sigma^2 = 7.5 mm^2).
PROTOCOL_TURBULENT_SIGMA_M = math.sqrt(7.5e-6)
#: e-folding length of the turbulent delay, metres.
PROTOCOL_TURBULENT_LENGTH_M = 8000.0

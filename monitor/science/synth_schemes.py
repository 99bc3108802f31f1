"""Class schemes and source kinds of the synthetic datasets (plain Python, no numpy).

A scheme lists its classes as weights ``(a, b, c)`` of deformation D, stratified delay S
and turbulent delay T (Anantrasirichai et al. 2019a). :mod:`monitor.science.synth` draws
the samples; ``insar-monitor synth dataset`` offers these names in its help without loading
numpy.
"""

from __future__ import annotations

import itertools

#: Source kinds drawn by default (Anantrasirichai et al. 2019a, section 3.1).
SOURCE_KINDS = ("mogi", "sill_penny", "earthquake", "dyke", "sill_okada")
#: Every source kind a recipe may name: the defaults plus two Mogi sources and a sill of
#: Gaussian opening (:mod:`monitor.science.sources.draws`).
ALL_SOURCE_KINDS = (*SOURCE_KINDS, "mogi_pair", "sill_gaussian")
DEM_KINDS = ("stratovolcano", "shield", "caldera")
#: Turbulence models: exponential covariance (Anantrasirichai et al. 2019a), power law
#: (Hanssen 2001, section 4.7), or either at random per sample.
TURBULENCE_KINDS = ("exponential", "powerlaw", "mixed")
#: Power-law spectra: one exponent (``powerlaw_beta``) or Hanssen's three regimes.
POWERLAW_SPECTRA = ("single", "hanssen")
#: Height profiles of the stratified delay: polynomial (k1 dh + k2 dh^2), exponential
#: (k1 H (1 - exp(-dh / H))), or either at random per sample.
STRATIFICATION_PROFILES = ("polynomial", "exponential", "mixed")
#: Shapes of incoherent regions: star-shaped blobs, excursion sets of a smooth random
#: field, meandering valley-like bands.
INCOHERENT_SHAPES = ("blobs", "excursion", "band")


def _weight_classes() -> tuple[tuple[float, float, float], ...]:
    """The 91 distinct normalised (alpha, beta, gamma) of the weight model of Anantrasirichai
    et al. (2019a)."""
    levels = (0.0, 0.25, 0.5, 0.75, 1.0)
    seen: dict[tuple[float, float, float], tuple[float, float, float]] = {}
    for a, b, c in itertools.product(levels, repeat=3):
        s = a + b + c
        if s == 0:
            continue
        key = (round(a / s, 6), round(b / s, 6), round(c / s, 6))
        seen.setdefault(key, (a, b, c))
    return tuple(sorted(seen.values(), key=lambda w: (w[0], w[1], w[2])))


#: Class recipes per scheme: each class is (a, b, c) weights of D, S, T.
SCHEMES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "2class": ((0.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
    "3class": ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
    "3class-ds": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 0.0)),
    "weights": _weight_classes(),
}
#: Human names of the classes of each scheme.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "2class": ("S+T", "D+S+T"),
    "3class": ("T", "S+T", "D+S+T"),
    "3class-ds": ("S", "T", "D+S"),
    "weights": tuple(f"{a:g}D+{b:g}S+{c:g}T" for a, b, c in SCHEMES["weights"]),
}

"""Class schemes and source kinds of the synthetic datasets (plain Python, no numpy).

A scheme lists its classes as weights ``(a, b, c)`` of deformation D, stratified delay S
and turbulent delay T (Anantrasirichai et al. 2019a). :mod:`monitor.science.synth` draws
the samples; ``insar-monitor synth dataset`` offers these names in its help without loading
numpy.
"""

from __future__ import annotations

import itertools

SOURCE_KINDS = ("mogi", "sill_penny", "earthquake", "dyke", "sill_okada")
DEM_KINDS = ("stratovolcano", "shield", "caldera")


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

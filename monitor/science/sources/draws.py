"""Monte Carlo draws of deformation-source parameters for synthetic interferograms.

Default ranges follow Anantrasirichai et al. (2019a, section 3.1 "Deformation"):

* Mogi point source: depth 1-10 km, volume change 1e5-1e7 m^3.
* Sill as a pressurised penny-shaped crack (Fialko et al. 2001): radius 0.5-6 km,
  pressure change 1e5-1e7 Pa, depth 0.5-6 km.
* Earthquake (Okada): strike 0-360, dip 45-90, rake 0-360 degrees, length 0.5-10 km,
  depth 1-15 km, slip 0.5-2 m.
* Dyke (Okada, tensile): strike 0-360, dip 45-90 degrees, length 2-8 km, depth 1-5 km,
  opening below 1 m.
* Horizontal sill (Okada, tensile): strike 0-360, dip 0-10 degrees, length and width up
  to 5 km, depth up to 6 km.

Choices the paper leaves open, made here and adjustable through :class:`SourceRanges`:

* Depths are CENTROID depths (the convention of :func:`okada_rectangle`). A fault's width
  is capped at ``2 depth / sin(dip)`` so that its upper edge stays at or below the surface
  (a cap reached only by wide, shallow, steep faults, which then break the surface).
* Earthquake width = length x a ratio drawn in 0.5-1 (roughly square ruptures for the
  small to moderate earthquakes this length range covers).
* Dyke width (down-dip height) 1-5 km; dyke opening 0.1-1 m ("< 1 m" in the paper).
* Okada sills: length and width 0.5-5 km, depth 0.5-6 km, opening 0.1-1 m.
* Extra kinds, not drawn by ``kind=None`` (their ranges are this module's choice):
  ``mogi_pair``, two Mogi sources with independent positions, depths, volumes and signs
  (each sign negative with probability ``pair_opposite_probability``; e.g. a deflating
  reservoir beside an inflating one, as at Kilauea's summit and rift), and
  ``sill_gaussian``, a sill with a tapered Gaussian opening profile
  (:mod:`monitor.science.sources.gaussian_sill`): standard deviation 0.5-3 km, depth
  0.5-6 km, central opening 0.1-1 m.
* Volume change and pressure change span two decades and are drawn log-uniformly; every
  other parameter uniformly. With ``deflation_probability`` > 0 the volumetric sources
  (Mogi, both sills) deflate (negative volume, pressure or opening) with that probability.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from monitor.errors import InputError
from monitor.science.sources.enu import ENU
from monitor.science.sources.gaussian_sill import gaussian_sill
from monitor.science.sources.mogi import mogi
from monitor.science.sources.okada import okada_rectangle
from monitor.science.sources.penny import MIN_DEPTH_TO_RADIUS, penny_crack

Range = tuple[float, float]

#: Source kinds understood by :func:`draw_source`.
SOURCE_KINDS: tuple[str, ...] = ("mogi", "sill_penny", "earthquake", "dyke", "sill_okada")
#: Further kinds :func:`draw_source` understands when asked by name (module docstring).
EXTRA_SOURCE_KINDS: tuple[str, ...] = ("mogi_pair", "sill_gaussian")
#: Every kind :func:`draw_source` understands.
ALL_SOURCE_KINDS: tuple[str, ...] = SOURCE_KINDS + EXTRA_SOURCE_KINDS


@dataclass(frozen=True)
class SourceRanges:
    """Inclusive ``(min, max)`` ranges for every drawn parameter (metres, m^3, Pa, degrees).

    Defaults are Anantrasirichai et al. (2019a, section 3.1) plus the documented choices of
    this module. Validated on construction: finite bounds, ``min <= max``, positive sizes,
    depths, volumes and pressures, dips within [0, 90], ``nu`` in (0, 0.5).
    """

    mogi_depth_m: Range = (1.0e3, 10.0e3)
    mogi_dvolume_m3: Range = (1.0e5, 1.0e7)
    penny_radius_m: Range = (0.5e3, 6.0e3)
    penny_dpressure_pa: Range = (1.0e5, 1.0e7)
    penny_depth_m: Range = (0.5e3, 6.0e3)
    quake_strike_deg: Range = (0.0, 360.0)
    quake_dip_deg: Range = (45.0, 90.0)
    quake_rake_deg: Range = (0.0, 360.0)
    quake_length_m: Range = (0.5e3, 10.0e3)
    quake_width_to_length: Range = (0.5, 1.0)
    quake_depth_m: Range = (1.0e3, 15.0e3)
    quake_slip_m: Range = (0.5, 2.0)
    dyke_strike_deg: Range = (0.0, 360.0)
    dyke_dip_deg: Range = (45.0, 90.0)
    dyke_length_m: Range = (2.0e3, 8.0e3)
    dyke_width_m: Range = (1.0e3, 5.0e3)
    dyke_depth_m: Range = (1.0e3, 5.0e3)
    dyke_opening_m: Range = (0.1, 1.0)
    sill_strike_deg: Range = (0.0, 360.0)
    sill_dip_deg: Range = (0.0, 10.0)
    sill_length_m: Range = (0.5e3, 5.0e3)
    sill_width_m: Range = (0.5e3, 5.0e3)
    sill_depth_m: Range = (0.5e3, 6.0e3)
    sill_opening_m: Range = (0.1, 1.0)
    gsill_sigma_m: Range = (0.5e3, 3.0e3)
    gsill_depth_m: Range = (0.5e3, 6.0e3)
    gsill_opening_m: Range = (0.1, 1.0)
    pair_opposite_probability: float = 0.5
    deflation_probability: float = 0.0
    shear_modulus_pa: float = 3.0e10
    nu: float = 0.25

    #: Ranges whose lower bound must be > 0 (sizes, depths, log-uniform magnitudes).
    _POSITIVE: ClassVar[tuple[str, ...]] = (
        "mogi_depth_m", "mogi_dvolume_m3", "penny_radius_m", "penny_dpressure_pa",
        "penny_depth_m", "quake_length_m", "quake_width_to_length", "quake_depth_m",
        "quake_slip_m", "dyke_length_m", "dyke_width_m", "dyke_depth_m", "dyke_opening_m",
        "sill_length_m", "sill_width_m", "sill_depth_m", "sill_opening_m",
        "gsill_sigma_m", "gsill_depth_m", "gsill_opening_m",
    )
    _DIPS: ClassVar[tuple[str, ...]] = ("quake_dip_deg", "dyke_dip_deg", "sill_dip_deg")

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in ("deflation_probability", "pair_opposite_probability",
                          "shear_modulus_pa", "nu"):
                continue
            value = getattr(self, f.name)
            if (not isinstance(value, tuple) or len(value) != 2
                    or not all(_is_finite(v) for v in value)):
                raise InputError(
                    f"SourceRanges.{f.name} must be a (min, max) tuple of finite numbers, "
                    f"got {value!r}"
                )
            lo, hi = value
            if lo > hi:
                raise InputError(f"SourceRanges.{f.name}: min must be <= max, got {value!r}")
            if f.name in self._POSITIVE and lo <= 0:
                raise InputError(f"SourceRanges.{f.name}: bounds must be > 0, got {value!r}")
            if f.name in self._DIPS and not (lo >= 0.0 and hi <= 90.0):
                raise InputError(
                    f"SourceRanges.{f.name}: dips must lie in [0, 90] degrees, got {value!r}"
                )
        if not (_is_finite(self.deflation_probability)
                and 0.0 <= self.deflation_probability <= 1.0):
            raise InputError(
                "SourceRanges.deflation_probability must lie in [0, 1], "
                f"got {self.deflation_probability!r}"
            )
        if not (_is_finite(self.pair_opposite_probability)
                and 0.0 <= self.pair_opposite_probability <= 1.0):
            raise InputError(
                "SourceRanges.pair_opposite_probability must lie in [0, 1], "
                f"got {self.pair_opposite_probability!r}"
            )
        if not (_is_finite(self.shear_modulus_pa) and self.shear_modulus_pa > 0):
            raise InputError(
                f"SourceRanges.shear_modulus_pa must be > 0 Pa, got {self.shear_modulus_pa!r}"
            )
        if not (_is_finite(self.nu) and 0.0 < self.nu < 0.5):
            raise InputError(f"SourceRanges.nu must lie in (0, 0.5), got {self.nu!r}")
        ratio = self.penny_depth_m[0] / self.penny_radius_m[1]
        if ratio < MIN_DEPTH_TO_RADIUS:
            raise InputError(
                f"SourceRanges: penny_depth_m min / penny_radius_m max = {ratio:.4g} is below "
                f"the penny-crack model's supported minimum {MIN_DEPTH_TO_RADIUS}"
            )


def _is_finite(v: object) -> bool:
    """True for a finite real number (bools excluded)."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class MogiParams:
    """A drawn Mogi point source (see :func:`monitor.science.sources.mogi.mogi`)."""

    kind: ClassVar[str] = "mogi"
    xs_m: float
    ys_m: float
    depth_m: float
    dvolume_m3: float
    nu: float = 0.25

    def displacement(self, x_m: ArrayLike, y_m: ArrayLike) -> ENU:
        """Surface displacement (metres, float32) at east ``x_m``, north ``y_m`` (metres)."""
        return mogi(x_m, y_m, xs_m=self.xs_m, ys_m=self.ys_m, depth_m=self.depth_m,
                    dvolume_m3=self.dvolume_m3, nu=self.nu)


@dataclass(frozen=True)
class PennySillParams:
    """A drawn pressurised penny-shaped sill (see :func:`penny_crack`)."""

    kind: ClassVar[str] = "sill_penny"
    xs_m: float
    ys_m: float
    depth_m: float
    radius_m: float
    dpressure_pa: float
    shear_modulus_pa: float = 3.0e10
    nu: float = 0.25

    def displacement(self, x_m: ArrayLike, y_m: ArrayLike) -> ENU:
        """Surface displacement (metres, float32) at east ``x_m``, north ``y_m`` (metres)."""
        return penny_crack(x_m, y_m, xs_m=self.xs_m, ys_m=self.ys_m, depth_m=self.depth_m,
                           radius_m=self.radius_m, dpressure_pa=self.dpressure_pa,
                           shear_modulus_pa=self.shear_modulus_pa, nu=self.nu)


@dataclass(frozen=True)
class MogiPairParams:
    """Two drawn Mogi sources; ``xs_m``, ``ys_m``, ``depth_m`` are the first one's."""

    kind: ClassVar[str] = "mogi_pair"
    xs_m: float
    ys_m: float
    depth_m: float
    dvolume_m3: float
    xs2_m: float
    ys2_m: float
    depth2_m: float
    dvolume2_m3: float
    nu: float = 0.25

    def displacement(self, x_m: ArrayLike, y_m: ArrayLike) -> ENU:
        """Surface displacement (metres, float32): the sum of the two sources."""
        first = mogi(x_m, y_m, xs_m=self.xs_m, ys_m=self.ys_m, depth_m=self.depth_m,
                     dvolume_m3=self.dvolume_m3, nu=self.nu)
        return first + mogi(x_m, y_m, xs_m=self.xs2_m, ys_m=self.ys2_m,
                            depth_m=self.depth2_m, dvolume_m3=self.dvolume2_m3, nu=self.nu)


@dataclass(frozen=True)
class GaussianSillParams:
    """A drawn sill with a Gaussian opening profile (see :func:`gaussian_sill`)."""

    kind: ClassVar[str] = "sill_gaussian"
    xs_m: float
    ys_m: float
    depth_m: float
    sigma_m: float
    opening_m: float

    def displacement(self, x_m: ArrayLike, y_m: ArrayLike) -> ENU:
        """Surface displacement (metres, float32) at east ``x_m``, north ``y_m`` (metres)."""
        return gaussian_sill(x_m, y_m, xs_m=self.xs_m, ys_m=self.ys_m, depth_m=self.depth_m,
                             sigma_m=self.sigma_m, opening_m=self.opening_m)


@dataclass(frozen=True)
class _RectangleParams:
    """A drawn Okada rectangle; ``depth_m`` is the centroid depth."""

    kind: ClassVar[str] = ""
    xs_m: float
    ys_m: float
    depth_m: float
    strike_deg: float
    dip_deg: float
    length_m: float
    width_m: float
    rake_deg: float = 0.0
    slip_m: float = 0.0
    opening_m: float = 0.0
    nu: float = 0.25

    def displacement(self, x_m: ArrayLike, y_m: ArrayLike) -> ENU:
        """Surface displacement (metres, float32) at east ``x_m``, north ``y_m`` (metres)."""
        return okada_rectangle(
            x_m, y_m, xs_m=self.xs_m, ys_m=self.ys_m, depth_m=self.depth_m,
            strike_deg=self.strike_deg, dip_deg=self.dip_deg, length_m=self.length_m,
            width_m=self.width_m, rake_deg=self.rake_deg, slip_m=self.slip_m,
            opening_m=self.opening_m, nu=self.nu,
        )


@dataclass(frozen=True)
class EarthquakeParams(_RectangleParams):
    """A drawn earthquake: shear slip on an Okada rectangle."""

    kind: ClassVar[str] = "earthquake"


@dataclass(frozen=True)
class DykeParams(_RectangleParams):
    """A drawn dyke: tensile opening on a steep Okada rectangle."""

    kind: ClassVar[str] = "dyke"


@dataclass(frozen=True)
class OkadaSillParams(_RectangleParams):
    """A drawn sill: tensile opening on a (near-)horizontal Okada rectangle."""

    kind: ClassVar[str] = "sill_okada"


SourceParams = (MogiParams | PennySillParams | EarthquakeParams | DykeParams
                | OkadaSillParams | MogiPairParams | GaussianSillParams)


def _uniform(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def _log_uniform(rng: np.random.Generator, r: Range) -> float:
    return float(math.exp(rng.uniform(math.log(r[0]), math.log(r[1]))))


def _capped_width(width: float, depth: float, dip_deg: float) -> float:
    """Largest width <= ``width`` whose upper edge is not above the surface."""
    s = math.sin(math.radians(dip_deg))
    return width if s <= 0.0 else min(width, 2.0 * depth / s)


def draw_source(
    rng: np.random.Generator,
    kind: str | None = None,
    ranges: SourceRanges = SourceRanges(),  # noqa: B008 - frozen, immutable default
    centre_xy_m: tuple[float, float] = (0.0, 0.0),
    centre_jitter_m: float = 0.0,
) -> SourceParams:
    """Draw one deformation source with Monte Carlo parameters (Anantrasirichai et al.
    2019a, section 3.1).

    Args:
        rng: Random generator; the same seed gives the same sources.
        kind: One of :data:`ALL_SOURCE_KINDS`, or None to pick one of
            :data:`SOURCE_KINDS` uniformly.
        ranges: Parameter ranges (defaults: Anantrasirichai et al. 2019a and this module's
            choices).
        centre_xy_m: Nominal source position (east, north), metres.
        centre_jitter_m: The position is drawn uniformly within +- this many metres of
            ``centre_xy_m`` in east and in north (0 = exactly at the centre).

    Returns:
        A frozen parameter record of the drawn kind, with a ``displacement(x_m, y_m)``
        method.

    Raises:
        InputError: for an unknown kind, a negative or non-finite jitter, a non-finite
            centre, or an ``rng`` that is not a ``numpy.random.Generator``.
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if kind is None:
        kind = SOURCE_KINDS[int(rng.integers(len(SOURCE_KINDS)))]
    if kind not in ALL_SOURCE_KINDS:
        raise InputError(f"unknown source kind {kind!r}; expected one of {ALL_SOURCE_KINDS}")
    if not (_is_finite(centre_jitter_m) and centre_jitter_m >= 0):
        raise InputError(f"centre_jitter_m must be >= 0 metres, got {centre_jitter_m!r}")
    if len(centre_xy_m) != 2 or not all(_is_finite(c) for c in centre_xy_m):
        raise InputError(f"centre_xy_m must be (east, north) in metres, got {centre_xy_m!r}")
    xs = float(centre_xy_m[0]) + _uniform(rng, (-centre_jitter_m, centre_jitter_m))
    ys = float(centre_xy_m[1]) + _uniform(rng, (-centre_jitter_m, centre_jitter_m))
    r = ranges
    sign = -1.0 if rng.uniform() < r.deflation_probability else 1.0

    if kind == "mogi_pair":
        xs2 = float(centre_xy_m[0]) + _uniform(rng, (-centre_jitter_m, centre_jitter_m))
        ys2 = float(centre_xy_m[1]) + _uniform(rng, (-centre_jitter_m, centre_jitter_m))
        signs = [-1.0 if rng.uniform() < r.pair_opposite_probability else 1.0
                 for _ in range(2)]
        return MogiPairParams(
            xs, ys, _uniform(rng, r.mogi_depth_m), signs[0] * _log_uniform(rng, r.mogi_dvolume_m3),
            xs2, ys2, _uniform(rng, r.mogi_depth_m),
            signs[1] * _log_uniform(rng, r.mogi_dvolume_m3), nu=r.nu,
        )
    if kind == "sill_gaussian":
        return GaussianSillParams(
            xs, ys, _uniform(rng, r.gsill_depth_m), _uniform(rng, r.gsill_sigma_m),
            sign * _uniform(rng, r.gsill_opening_m),
        )
    if kind == "mogi":
        return MogiParams(xs, ys, _uniform(rng, r.mogi_depth_m),
                          sign * _log_uniform(rng, r.mogi_dvolume_m3), nu=r.nu)
    if kind == "sill_penny":
        radius = _uniform(rng, r.penny_radius_m)
        return PennySillParams(
            xs, ys, _uniform(rng, r.penny_depth_m), radius,
            sign * _log_uniform(rng, r.penny_dpressure_pa),
            shear_modulus_pa=r.shear_modulus_pa, nu=r.nu,
        )
    if kind == "earthquake":
        strike, dip = _uniform(rng, r.quake_strike_deg), _uniform(rng, r.quake_dip_deg)
        length, ratio = _uniform(rng, r.quake_length_m), _uniform(rng, r.quake_width_to_length)
        depth = _uniform(rng, r.quake_depth_m)
        return EarthquakeParams(
            xs, ys, depth, strike, dip, length, _capped_width(length * ratio, depth, dip),
            rake_deg=_uniform(rng, r.quake_rake_deg), slip_m=_uniform(rng, r.quake_slip_m),
            nu=r.nu,
        )
    if kind == "dyke":
        strike, dip = _uniform(rng, r.dyke_strike_deg), _uniform(rng, r.dyke_dip_deg)
        length, width = _uniform(rng, r.dyke_length_m), _uniform(rng, r.dyke_width_m)
        depth = _uniform(rng, r.dyke_depth_m)
        return DykeParams(
            xs, ys, depth, strike, dip, length, _capped_width(width, depth, dip),
            opening_m=_uniform(rng, r.dyke_opening_m), nu=r.nu,
        )
    strike, dip = _uniform(rng, r.sill_strike_deg), _uniform(rng, r.sill_dip_deg)
    length, width = _uniform(rng, r.sill_length_m), _uniform(rng, r.sill_width_m)
    depth = _uniform(rng, r.sill_depth_m)
    return OkadaSillParams(
        xs, ys, depth, strike, dip, length, _capped_width(width, depth, dip),
        opening_m=sign * _uniform(rng, r.sill_opening_m), nu=r.nu,
    )

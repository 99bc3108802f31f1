"""Synthetic interferograms: X = a*D + b*S + c*T with decorrelation.

After Anantrasirichai et al. (2019a, section 3), each sample is built from independently
drawn components on a grid of ``shape`` pixels of ``pixel_m`` metres:

* D, deformation: an analytic source (Mogi, penny-shaped sill, Okada earthquake, dyke or
  sill) with the paper's parameter ranges, projected on the line of sight with an incidence
  of 0-45 degrees and a heading of 0-360 degrees (section 3.1);
* S, stratified atmosphere: a delay linear and quadratic in the height of a DEM (a
  synthetic edifice or a real SRTM crop from the pool the caller passes), zenith to LOS
  through the incidence (the paper's section 3.2 uses GACOS maps; we draw the coefficients);
* T, turbulent atmosphere: exponential covariance ``sigma^2 exp(-d/L)`` with the
  paper's ranges (section 3.3);
* decorrelation: a coherence map; pixels at or below the threshold (0.1, as in the Taal
  application of Sugiyama et al. 2011) are NaN, and phase noise grows as coherence drops.
  Anantrasirichai et al. (2019a) name the absence of this as a gap in their synthetic data.

Options that bring in more of nature (all off by default; with them off a seed draws the
same samples, bit for bit, as before they existed; docs/generator.md lists them):

* T as a power law (``turbulence="powerlaw"`` or ``"mixed"``): spectral synthesis with
  ``P(k) ~ k^-beta`` (one exponent, default 8/3, or the three regimes of Hanssen 2001,
  section 4.7), anisotropic and with a spatially varying amplitude
  (:mod:`monitor.science.turbulence`);
* S with an exponential height profile and a laterally varying phase-elevation ratio
  (Doin et al. 2009; Bekaert, Hooper & Wright 2015; :mod:`monitor.science.stratification`);
* orbital ramps (Fattahi & Amelung 2014; :mod:`monitor.science.orbital`);
* unwrapping errors, whole fringes on one side of curves and in islands (Chen & Zebker
  2001; Biggs et al. 2007; :mod:`monitor.science.unwrapping`);
* more sources: two Mogi sources, a sill of Gaussian opening
  (:mod:`monitor.science.sources.draws`);
* incoherent regions shaped as excursion sets of a random field or as valley-like bands
  (:mod:`monitor.science.incoherent_shapes`).

Ramps and unwrapping errors are nuisances of every interferogram: they are added with the
decorrelation noise, whatever the class weights.

The class schemes are those of the paper's section 4.1: ``2class`` (S+T vs D+S+T, its best
on real data), ``3class`` (T vs S+T vs D+S+T), ``3class-ds`` (S vs T vs D+S) and
``weights`` (the 91 normalised combinations ``(aD + bS + cT) / (a + b + c)`` with a, b, c
in {0, 0.25, 0.5, 0.75, 1}).

Everything here is pure: arrays and generators in, arrays and frozen dataclasses out.
Samples are reproducible: sample ``i`` of a dataset with seed ``s`` is drawn from
``np.random.default_rng([s, i])`` whatever the order or process that draws it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import RectBivariateSpline

from monitor.errors import InputError
from monitor.science.atmosphere import (
    WET_SCALE_HEIGHT_RANGE_M,
    draw_stratified_coefficients,
    stratified_delay,
    turbulent_delay,
)
from monitor.science.decorrelation import (
    DEFAULT_COHERENCE_THRESHOLD,
    apply_decorrelation,
    coherence_map,
)
from monitor.science.dem import synthetic_dem
from monitor.science.geometry import project_to_los
from monitor.science.grids import grid_xy
from monitor.science.incoherent_shapes import band_mask, excursion_mask
from monitor.science.orbital import orbital_ramp
from monitor.science.sources import (
    ENU,
    GaussianSillParams,
    MogiPairParams,
    MogiParams,
    PennySillParams,
    SourceParams,
    SourceRanges,
    draw_source,
)
from monitor.science.stratification import exponential_stratified_delay, lateral_k1_map
from monitor.science.synth_schemes import ALL_SOURCE_KINDS as ALL_SOURCE_KINDS
from monitor.science.synth_schemes import CLASS_NAMES as CLASS_NAMES
from monitor.science.synth_schemes import DEM_KINDS as DEM_KINDS
from monitor.science.synth_schemes import INCOHERENT_SHAPES as INCOHERENT_SHAPES
from monitor.science.synth_schemes import POWERLAW_SPECTRA as POWERLAW_SPECTRA
from monitor.science.synth_schemes import SCHEMES as SCHEMES
from monitor.science.synth_schemes import SOURCE_KINDS as SOURCE_KINDS
from monitor.science.synth_schemes import STRATIFICATION_PROFILES as STRATIFICATION_PROFILES
from monitor.science.synth_schemes import TURBULENCE_KINDS as TURBULENCE_KINDS
from monitor.science.turbulence import HANSSEN_REGIMES, KOLMOGOROV_BETA, powerlaw_delay
from monitor.science.unwrapping import unwrapping_errors

_LENGTH_STEP_M = 500.0


@dataclass(frozen=True)
class SynthRecipe:
    """Parameters of the generator (all ranges are ``(min, max)``).

    Attributes:
        shape: ``(ny, nx)`` pixels.
        pixel_m: Pixel spacing, metres.
        incidence_deg: Incidence range, degrees (Anantrasirichai et al. 2019a: 0-45).
        heading_deg: Heading range, degrees (Anantrasirichai et al. 2019a: 0-360).
        source_kinds: Deformation sources to draw from, uniformly.
        sources: Parameter ranges of the sources (Anantrasirichai et al. 2019a, s. 3.1).
        centre_jitter_frac: Source centre offset from the image centre, as a fraction of
            the image half-width.
        peak_los_m: If set, each D is rescaled so its peak |LOS| is log-uniform in this
            range (useful to train on detectable signals); None keeps the paper's source
            parameters as drawn.
        turbulent_sigma_m: Turbulent delay standard deviation (Anantrasirichai et al. 2019a:
            sigma^2 5-9 mm^2).
        turbulent_length_m: Turbulent e-folding length (Anantrasirichai et al. 2019a: 4-18 km).
        stratified_strength: ``"weak"``, ``"strong"`` or ``"mixed"`` stratification.
        dem_kinds: Synthetic edifice kinds drawn when no DEM pool is given.
        dem_height_m: Summit height range of synthetic edifices.
        decorrelation_fraction: Fraction of samples with decorrelation (coherence map,
            NaN patches and phase noise); the rest are fully coherent.
        coherence_threshold: Coherence at or below which pixels are NaN (0.1, as in the Taal
            application of Sugiyama et al. 2011).
        wavelength_m: Wavelength used for the coherence phase noise and the size of an
            unwrapping error (Sentinel-1).
        turbulence: ``"exponential"`` (Anantrasirichai et al. 2019a), ``"powerlaw"``
            (:func:`~monitor.science.turbulence.powerlaw_delay`, standard deviation over
            the grid drawn from ``turbulent_sigma_m``) or ``"mixed"`` (either, 50/50).
        powerlaw_spectrum: ``"single"`` (one 2-D exponent from ``powerlaw_beta``) or
            ``"hanssen"`` (the three regimes of Hanssen 2001, eq. 4.7.28).
        powerlaw_beta: Range of the 2-D spectral exponent (8/3: structure function
            ~ r^(2/3)).
        powerlaw_outer_scale_m: Outer scale of the power law, metres.
        turbulence_axis_ratio: Range of the elongation of power-law turbulence (1 =
            isotropic; the direction is uniform).
        turbulence_amplitude_variation: Range of the log-standard deviation of the
            power-law amplitude modulation (0 = uniform).
        stratification_profile: ``"polynomial"`` (``k1 dh + k2 dh^2``), ``"exponential"``
            (``k1 H (1 - exp(-dh / H))``, H uniform in 1.5-3 km) or ``"mixed"``.
        stratified_lateral_variation: Range of the relative standard deviation of a
            laterally varying ``k1`` (0 = one ratio for the map; Bekaert, Hooper & Wright
            2015).
        orbital_ramp_m: Range of the peak-to-peak orbital ramp over the scene, metres
            ((0, 0) = none; Fattahi & Amelung 2014).
        orbital_quadratic_fraction: Largest relative weight of the ramp's quadratic part.
        unwrap_error_fraction: Fraction of samples with unwrapping errors (Chen & Zebker
            2001; Biggs et al. 2007).
        unwrap_error_cuts: ``(min, max)`` number of cuts (curves) in such a sample.
        unwrap_error_islands: ``(min, max)`` number of islands in such a sample.
        incoherent_shapes: Shapes of incoherent regions in decorrelated samples, one picked
            per sample: ``"blobs"`` (0-3 star-shaped patches), ``"excursion"`` (an
            excursion set of 5-30 % of the scene), ``"band"`` (a valley-like band).
    """

    shape: tuple[int, int] = (224, 224)
    pixel_m: float = 100.0
    incidence_deg: tuple[float, float] = (0.0, 45.0)
    heading_deg: tuple[float, float] = (0.0, 360.0)
    source_kinds: tuple[str, ...] = SOURCE_KINDS
    sources: SourceRanges = field(default_factory=SourceRanges)
    centre_jitter_frac: float = 0.3
    peak_los_m: tuple[float, float] | None = None
    turbulent_sigma_m: tuple[float, float] = (math.sqrt(5e-6), math.sqrt(9e-6))
    turbulent_length_m: tuple[float, float] = (4000.0, 18000.0)
    stratified_strength: str = "mixed"
    dem_kinds: tuple[str, ...] = DEM_KINDS
    dem_height_m: tuple[float, float] = (500.0, 3000.0)
    decorrelation_fraction: float = 0.5
    coherence_threshold: float = 0.1
    wavelength_m: float = 0.05546576
    turbulence: str = "exponential"
    powerlaw_spectrum: str = "single"
    powerlaw_beta: tuple[float, float] = (KOLMOGOROV_BETA, KOLMOGOROV_BETA)
    powerlaw_outer_scale_m: float = 50_000.0
    turbulence_axis_ratio: tuple[float, float] = (1.0, 1.0)
    turbulence_amplitude_variation: tuple[float, float] = (0.0, 0.0)
    stratification_profile: str = "polynomial"
    stratified_lateral_variation: tuple[float, float] = (0.0, 0.0)
    orbital_ramp_m: tuple[float, float] = (0.0, 0.0)
    orbital_quadratic_fraction: float = 0.0
    unwrap_error_fraction: float = 0.0
    unwrap_error_cuts: tuple[int, int] = (1, 2)
    unwrap_error_islands: tuple[int, int] = (0, 1)
    incoherent_shapes: tuple[str, ...] = ("blobs",)

    def __post_init__(self) -> None:
        ny, nx = self.shape
        if ny < 8 or nx < 8:
            raise InputError(f"synth: shape must be at least 8 x 8 pixels, got {self.shape}")
        if not self.pixel_m > 0:
            raise InputError(f"synth: pixel_m must be positive, got {self.pixel_m}")
        for name in ("incidence_deg", "heading_deg", "turbulent_sigma_m",
                     "turbulent_length_m", "dem_height_m"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise InputError(f"synth: {name} must be (min, max) with min <= max, "
                                 f"got ({lo}, {hi})")
        if not (self.incidence_deg[0] >= 0 and self.incidence_deg[1] < 90):
            raise InputError(f"synth: incidence_deg must lie in [0, 90), "
                             f"got {self.incidence_deg}")
        if self.turbulent_sigma_m[0] < 0 or self.turbulent_length_m[0] <= 0:
            raise InputError("synth: turbulent sigma must be >= 0 and length > 0, got "
                             f"{self.turbulent_sigma_m}, {self.turbulent_length_m}")
        unknown = [k for k in self.source_kinds if k not in ALL_SOURCE_KINDS]
        if unknown or not self.source_kinds:
            raise InputError(f"synth: unknown source kinds {unknown or '(none given)'}; "
                             f"choose from {', '.join(ALL_SOURCE_KINDS)}")
        bad_dem = [k for k in self.dem_kinds if k not in DEM_KINDS]
        if bad_dem or not self.dem_kinds:
            raise InputError(f"synth: unknown DEM kinds {bad_dem or '(none given)'}; "
                             f"choose from {', '.join(DEM_KINDS)}")
        if self.peak_los_m is not None:
            lo, hi = self.peak_los_m
            if not 0 < lo <= hi:
                raise InputError(f"synth: peak_los_m must be (min, max) with 0 < min <= max, "
                                 f"got {self.peak_los_m}")
        if self.stratified_strength not in ("weak", "strong", "mixed"):
            raise InputError("synth: stratified_strength must be weak, strong or mixed, "
                             f"got {self.stratified_strength!r}")
        if not 0 <= self.decorrelation_fraction <= 1:
            raise InputError("synth: decorrelation_fraction must lie in [0, 1], got "
                             f"{self.decorrelation_fraction}")
        if not 0 <= self.coherence_threshold < 1:
            raise InputError("synth: coherence_threshold must lie in [0, 1), got "
                             f"{self.coherence_threshold}")
        self._check_nature()

    def _check_nature(self) -> None:
        """Validate the options of the turbulence, stratification and nuisance models."""
        for name, choices in (("turbulence", TURBULENCE_KINDS),
                              ("powerlaw_spectrum", POWERLAW_SPECTRA),
                              ("stratification_profile", STRATIFICATION_PROFILES)):
            if getattr(self, name) not in choices:
                raise InputError(f"synth: {name} must be one of {', '.join(choices)}, "
                                 f"got {getattr(self, name)!r}")
        limits = {"powerlaw_beta": (0.0, 6.0), "turbulence_axis_ratio": (1.0, 100.0),
                  "turbulence_amplitude_variation": (0.0, 3.0),
                  "stratified_lateral_variation": (0.0, 10.0),
                  "orbital_ramp_m": (0.0, 10.0)}
        for name, (low, high) in limits.items():
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and low <= lo <= hi <= high):
                raise InputError(f"synth: {name} must be (min, max) with {low:g} <= min <= "
                                 f"max <= {high:g}, got ({lo}, {hi})")
        if not (self.powerlaw_outer_scale_m > 0 and math.isfinite(self.powerlaw_outer_scale_m)):
            raise InputError("synth: powerlaw_outer_scale_m must be a positive number of "
                             f"metres, got {self.powerlaw_outer_scale_m}")
        for name in ("orbital_quadratic_fraction", "unwrap_error_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"synth: {name} must lie in [0, 1], got {getattr(self, name)}")
        for name in ("unwrap_error_cuts", "unwrap_error_islands"):
            lo, hi = getattr(self, name)
            if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi):
                raise InputError(f"synth: {name} must be (min, max) integers with "
                                 f"0 <= min <= max, got {getattr(self, name)}")
        if self.unwrap_error_cuts[1] + self.unwrap_error_islands[1] == 0 \
                and self.unwrap_error_fraction > 0:
            raise InputError("synth: unwrap_error_fraction > 0 needs at least one cut or "
                             "island (unwrap_error_cuts, unwrap_error_islands)")
        bad = [k for k in self.incoherent_shapes if k not in INCOHERENT_SHAPES]
        if bad or not self.incoherent_shapes:
            raise InputError(f"synth: unknown incoherent shapes {bad or '(none given)'}; "
                             f"choose from {', '.join(INCOHERENT_SHAPES)}")


@dataclass(frozen=True)
class Components:
    """The separate signals of one synthetic interferogram, LOS metres, ``(ny, nx)``.

    Attributes:
        deformation: D, float32.
        stratified: S, float32.
        turbulent: T, float32.
        coherence: Coherence in [0, 1], float32 (ones when not decorrelated).
        incoherent: True where the pixel is incoherent (NaN in the composed image).
        noise: Decorrelation phase noise expressed in LOS metres (zeros when coherent).
        meta: Parameters drawn (source kind and parameters, geometry, atmosphere).
        dem: The heights under S, metres, float32 (what a user would have as the
            frame's DEM).
        ramp: Orbital ramp, LOS metres, float32, or None when none was drawn.
        unwrap: Unwrapping-error offsets (multiples of half the wavelength), LOS metres,
            float32, or None when none were drawn.
    """

    deformation: NDArray[np.float32]
    stratified: NDArray[np.float32]
    turbulent: NDArray[np.float32]
    coherence: NDArray[np.float32]
    incoherent: NDArray[np.bool_]
    noise: NDArray[np.float32]
    meta: dict[str, Any]
    dem: NDArray[np.float32] | None = None
    ramp: NDArray[np.float32] | None = None
    unwrap: NDArray[np.float32] | None = None

    def compose(self, a: float, b: float, c: float,
                normalise: bool = False) -> NDArray[np.float32]:
        """``X = a*D + b*S + c*T`` (divided by ``a + b + c`` if ``normalise``), NaN where
        incoherent, plus decorrelation noise, orbital ramp and unwrapping errors (these
        three whatever the weights)."""
        x = a * self.deformation + b * self.stratified + c * self.turbulent
        if normalise:
            s = a + b + c
            if s <= 0:
                raise InputError("compose: weights sum to zero")
            x = x / s
        x = x + self.noise
        if self.ramp is not None:
            x = x + self.ramp
        if self.unwrap is not None:
            x = x + self.unwrap
        x = np.where(self.incoherent, np.float32(np.nan), x)
        return np.asarray(x, dtype=np.float32)


@dataclass(frozen=True)
class Sample:
    """One labelled sample: ``x`` LOS metres ``(ny, nx)`` float32 (NaN = incoherent), and
    the DEM under its stratified delay (not written to dataset shards)."""

    x: NDArray[np.float32]
    label: int
    weights: tuple[float, float, float]
    meta: dict[str, Any]
    dem: NDArray[np.float32] | None = None


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else bounds[0]


def pick_dem(rng: np.random.Generator, recipe: SynthRecipe,
             dem_pool: Sequence[NDArray[np.floating]] | None) -> tuple[NDArray[np.float32], str]:
    """A DEM of ``recipe.shape``: a random crop of a pool member, flipped and rotated at
    random, or a freshly drawn synthetic edifice when the pool is empty."""
    ny, nx = recipe.shape
    if dem_pool:
        k = int(rng.integers(len(dem_pool)))
        dem = np.asarray(dem_pool[k], dtype=np.float32)
        if dem.shape[0] < ny or dem.shape[1] < nx:
            raise InputError(f"synth: DEM pool entry {k} is {dem.shape}, smaller than the "
                             f"sample shape {recipe.shape}")
        r0 = int(rng.integers(dem.shape[0] - ny + 1))
        c0 = int(rng.integers(dem.shape[1] - nx + 1))
        dem = dem[r0:r0 + ny, c0:c0 + nx]
        if rng.random() < 0.5:
            dem = dem[:, ::-1]
        if ny == nx:
            dem = np.rot90(dem, int(rng.integers(4)))
        return np.ascontiguousarray(dem), f"pool[{k}]"
    kind = str(rng.choice(recipe.dem_kinds))
    dem = synthetic_dem(recipe.shape, recipe.pixel_m, kind, rng,  # type: ignore[arg-type]
                        height_m=_uniform(rng, recipe.dem_height_m))
    return np.asarray(dem, dtype=np.float32), kind


def draw_deformation(rng: np.random.Generator, recipe: SynthRecipe, incidence_deg: float,
                     heading_deg: float) -> tuple[NDArray[np.float32], dict[str, Any]]:
    """D: LOS displacement of a randomly drawn source, metres ``(ny, nx)``."""
    half = 0.5 * min(recipe.shape) * recipe.pixel_m
    kind = str(rng.choice(recipe.source_kinds))
    params = draw_source(rng, kind, recipe.sources, centre_xy_m=(0.0, 0.0),
                         centre_jitter_m=recipe.centre_jitter_frac * half)
    los = source_los(params, recipe.shape, recipe.pixel_m, incidence_deg, heading_deg)
    los = np.nan_to_num(los, nan=0.0, posinf=0.0, neginf=0.0)
    meta: dict[str, Any] = {"source": kind, "source_params": _jsonable(asdict(params))}
    peak = float(np.max(np.abs(los)))
    if recipe.peak_los_m is not None and peak > 0:
        lo, hi = recipe.peak_los_m
        target = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        los = los * np.float32(target / peak)
        meta["rescaled_from_peak_m"] = peak
        peak = target
    meta["peak_los_m"] = peak
    return np.asarray(los, dtype=np.float32), meta


def smoothness_scale_m(params: SourceParams) -> float:
    """Shallowest depth of a source, metres: its surface field varies on this scale.

    For rectangles it is the depth of the upper edge (0 for a surface rupture, whose field
    is discontinuous); for Mogi and the penny crack it is the source depth.
    """
    if isinstance(params, MogiPairParams):
        return float(min(params.depth_m, params.depth2_m))
    if isinstance(params, MogiParams | PennySillParams | GaussianSillParams):
        return float(params.depth_m)
    top = params.depth_m - 0.5 * params.width_m * math.sin(math.radians(params.dip_deg))
    return max(0.0, float(top))


def evaluate_source(params: SourceParams, shape: tuple[int, int], pixel_m: float,
                    max_step: int = 4) -> ENU:
    """East/north/up displacement of a source on the pixel centres of a grid.

    A source whose shallowest point lies at depth ``z`` has a surface field that varies on
    a scale of ``z``; sources deeper than 8 pixels are evaluated on a grid coarser by
    ``step = min(max_step, floor(z / (4 pixel)))`` and interpolated with bicubic splines
    (Mogi sources, whose closed form is cheaper than the interpolation, excepted),
    which keeps the error within about 0.1% of the peak (tested) while cutting the cost of
    the Okada solution by ``step^2``. Shallow sources and surface ruptures are evaluated
    on every pixel.

    Args:
        params: A drawn source.
        shape: ``(ny, nx)``.
        pixel_m: Pixel spacing, metres.
        max_step: Largest coarsening step.

    Returns:
        Displacement components, metres, each ``shape``.
    """
    step = _coarse_step(params, shape, pixel_m, max_step)
    if step == 1:
        x, y = grid_xy(shape, pixel_m)
        return params.displacement(x, y)
    rows, cols, xc, yc = _coarse_axes(shape, pixel_m, step)
    coarse = params.displacement(xc, yc)
    return ENU(*(_spline(rows, cols, c, shape) for c in (coarse.east, coarse.north, coarse.up)))


def _coarse_step(params: SourceParams, shape: tuple[int, int], pixel_m: float,
                 max_step: int) -> int:
    if isinstance(params, MogiParams | MogiPairParams):
        return 1  # the closed form costs less than the interpolation
    step = int(min(max_step, smoothness_scale_m(params) // (4.0 * pixel_m)))
    return step if step >= 2 and min(shape) >= 4 * step else 1


def _coarse_axes(shape: tuple[int, int], pixel_m: float, step: int
                 ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64],
                            NDArray[np.float64]]:
    ny, nx = shape
    rows = np.unique(np.r_[np.arange(0, ny, step), ny - 1])
    cols = np.unique(np.r_[np.arange(0, nx, step), nx - 1])
    x_full = (np.arange(nx) - (nx - 1) / 2.0) * pixel_m
    y_full = ((ny - 1) / 2.0 - np.arange(ny)) * pixel_m
    xc, yc = np.meshgrid(x_full[cols], y_full[rows])
    return rows, cols, xc, yc


def _spline(rows: NDArray[np.int64], cols: NDArray[np.int64], values: NDArray[np.floating],
            shape: tuple[int, int]) -> NDArray[np.float32]:
    spline = RectBivariateSpline(rows, cols, np.asarray(values, np.float64), kx=3, ky=3)
    return np.asarray(spline(np.arange(shape[0]), np.arange(shape[1])), np.float32)


def source_los(params: SourceParams, shape: tuple[int, int], pixel_m: float,
               incidence_deg: float, heading_deg: float, max_step: int = 4
               ) -> NDArray[np.float32]:
    """LOS displacement (metres, ``shape``) of a source, coarse-evaluated where smooth.

    As :func:`evaluate_source`, but the coarse field is projected on the line of sight
    before a single spline interpolation (a third of the interpolation cost).
    """
    step = _coarse_step(params, shape, pixel_m, max_step)
    if step == 1:
        x, y = grid_xy(shape, pixel_m)
        enu = params.displacement(x, y)
        return project_to_los(enu.east, enu.north, enu.up, incidence_deg, heading_deg)
    rows, cols, xc, yc = _coarse_axes(shape, pixel_m, step)
    enu = params.displacement(xc, yc)
    los = project_to_los(enu.east, enu.north, enu.up, incidence_deg, heading_deg)
    return _spline(rows, cols, los, shape)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = _jsonable(v)
        elif isinstance(v, np.generic):
            out[k] = v.item()
        elif isinstance(v, tuple | list):
            out[k] = [x.item() if isinstance(x, np.generic) else x for x in v]
        else:
            out[k] = v
    return out


def draw_components(rng: np.random.Generator, recipe: SynthRecipe,
                    dem_pool: Sequence[NDArray[np.floating]] | None = None,
                    with_deformation: bool = True) -> Components:
    """Draw D, S, T and decorrelation for one sample.

    Args:
        rng: Random generator (one per sample for reproducibility).
        recipe: Generator parameters.
        dem_pool: Optional DEMs (metres, at ``recipe.pixel_m``, each at least
            ``recipe.shape``) for the stratified delay; None draws synthetic edifices.
        with_deformation: Skip the (costly) source model when D will not be used.

    Returns:
        The components, each ``recipe.shape`` float32 in LOS metres.
    """
    shape = recipe.shape
    inc = _uniform(rng, recipe.incidence_deg)
    head = _uniform(rng, recipe.heading_deg)
    meta: dict[str, Any] = {"incidence_deg": inc, "heading_deg": head}
    if with_deformation:
        d, dmeta = draw_deformation(rng, recipe, inc, head)
        meta.update(dmeta)
    else:
        d = np.zeros(shape, np.float32)
        meta["peak_los_m"] = 0.0
    dem, dem_name = pick_dem(rng, recipe, dem_pool)
    strength = recipe.stratified_strength
    if strength == "mixed":
        strength = "strong" if rng.random() < 0.5 else "weak"
    coeffs = draw_stratified_coefficients(rng, strength=strength)  # type: ignore[arg-type]
    s_zenith = _stratified_zenith(rng, recipe, dem, coeffs.k1_m_per_m, coeffs.k2_m_per_m2,
                                  meta)
    # A path delay lengthens the range: it reads as motion away from the satellite.
    s = np.asarray(-s_zenith / math.cos(math.radians(inc)), dtype=np.float32)
    meta.update({"dem": dem_name, "dem_relief_m": float(np.ptp(dem)),
                 "stratified": _jsonable(asdict(coeffs)), "stratified_strength": strength})
    t = _turbulent(rng, recipe, meta)
    if rng.random() < recipe.decorrelation_fraction:
        coh = _coherence(rng, recipe, meta)
        noisy = apply_decorrelation(np.zeros(shape, np.float32), coh,
                                    threshold=recipe.coherence_threshold, rng=rng,
                                    noise=True,
                                    units_per_rad=recipe.wavelength_m / (4 * math.pi))
        incoherent = np.isnan(noisy)
        noise = np.nan_to_num(noisy, nan=0.0).astype(np.float32)
        meta["incoherent_fraction"] = float(incoherent.mean())
    else:
        coh = np.ones(shape, np.float32)
        incoherent = np.zeros(shape, bool)
        noise = np.zeros(shape, np.float32)
        meta["incoherent_fraction"] = 0.0
    ramp = None
    if recipe.orbital_ramp_m[1] > 0:
        ptp = _uniform(rng, recipe.orbital_ramp_m)
        ramp = orbital_ramp(shape, recipe.pixel_m, ptp, rng,
                            quadratic_fraction=recipe.orbital_quadratic_fraction)
        meta["orbital_ramp_m"] = ptp
    unwrap = None
    if recipe.unwrap_error_fraction > 0 and rng.random() < recipe.unwrap_error_fraction:
        n_cuts = int(rng.integers(recipe.unwrap_error_cuts[0], recipe.unwrap_error_cuts[1] + 1))
        n_islands = int(rng.integers(recipe.unwrap_error_islands[0],
                                     recipe.unwrap_error_islands[1] + 1))
        unwrap = unwrapping_errors(shape, rng, recipe.wavelength_m, n_cuts=n_cuts,
                                   n_islands=n_islands)
        meta["unwrap_errors"] = {"cuts": n_cuts, "islands": n_islands,
                                 "fraction_offset": float((unwrap != 0).mean())}
    return Components(d, np.asarray(s, np.float32), np.asarray(t, np.float32),
                      np.asarray(coh, np.float32), incoherent, noise, meta,
                      np.asarray(dem, np.float32), ramp, unwrap)


def _stratified_zenith(rng: np.random.Generator, recipe: SynthRecipe,
                       dem: NDArray[np.float32], k1: float, k2: float,
                       meta: dict[str, Any]) -> NDArray[np.float32]:
    """S before the LOS projection: polynomial, or exponential in height, with one ``k1``
    or a laterally varying one (no draws from ``rng`` with the default options)."""
    profile = recipe.stratification_profile
    if profile == "mixed":
        profile = "exponential" if rng.random() < 0.5 else "polynomial"
    k1_map: float | NDArray[np.float32] = k1
    if recipe.stratified_lateral_variation[1] > 0:
        variation = _uniform(rng, recipe.stratified_lateral_variation)
        k1_map = lateral_k1_map(recipe.shape, recipe.pixel_m, k1, rng,
                                relative_std=variation)
        meta["stratified_lateral_variation"] = variation
    if profile == "exponential":
        height = _uniform(rng, WET_SCALE_HEIGHT_RANGE_M)
        meta.update({"stratification_profile": "exponential", "scale_height_m": height})
        return exponential_stratified_delay(dem, k1_map, height)
    if recipe.stratification_profile != "polynomial":
        meta["stratification_profile"] = "polynomial"
    if isinstance(k1_map, np.ndarray):
        h = np.asarray(dem, np.float64)
        dh = h - float(np.nanmin(h))
        # k2 scales with k1 (k2 = -f k1 / 2H): keep their ratio where k1 varies.
        ratio = k2 / k1 if k1 != 0 else 0.0
        return (k1_map * dh * (1.0 + ratio * dh)).astype(np.float32)
    return stratified_delay(dem, k1, k2)


def _turbulent(rng: np.random.Generator, recipe: SynthRecipe,
               meta: dict[str, Any]) -> NDArray[np.float32]:
    """T: exponential covariance (the default) or a power law, zenith metres."""
    kind = recipe.turbulence
    if kind == "mixed":
        kind = "powerlaw" if rng.random() < 0.5 else "exponential"
    sigma = _uniform(rng, recipe.turbulent_sigma_m)
    if kind == "exponential":
        # Lengths on a 500 m grid: the circulant-embedding spectrum is cached per length.
        length = max(_LENGTH_STEP_M, round(_uniform(rng, recipe.turbulent_length_m)
                                           / _LENGTH_STEP_M) * _LENGTH_STEP_M)
        t = turbulent_delay(recipe.shape, recipe.pixel_m, sigma, length, rng)
        meta.update({"turbulent_sigma_m": sigma, "turbulent_length_m": length})
        if recipe.turbulence != "exponential":
            meta["turbulence"] = "exponential"
        return t
    beta = _uniform(rng, recipe.powerlaw_beta)
    ratio = _uniform(rng, recipe.turbulence_axis_ratio)
    angle = float(rng.uniform(0.0, 180.0))
    variation = _uniform(rng, recipe.turbulence_amplitude_variation)
    hanssen = recipe.powerlaw_spectrum == "hanssen"
    t = powerlaw_delay(recipe.shape, recipe.pixel_m, sigma, rng, beta=beta,
                       regimes=HANSSEN_REGIMES if hanssen else None,
                       outer_scale_m=recipe.powerlaw_outer_scale_m, axis_ratio=ratio,
                       angle_deg=angle, amplitude_variation=variation)
    meta.update({"turbulence": "powerlaw", "turbulent_sigma_m": sigma,
                 "powerlaw_beta": None if hanssen else beta,
                 "powerlaw_spectrum": recipe.powerlaw_spectrum,
                 "turbulence_axis_ratio": ratio, "turbulence_angle_deg": angle,
                 "turbulence_amplitude_variation": variation})
    return t


def _coherence(rng: np.random.Generator, recipe: SynthRecipe,
               meta: dict[str, Any]) -> NDArray[np.float32]:
    """A coherence map with incoherent regions of one of ``recipe.incoherent_shapes``."""
    shape, pixel = recipe.shape, recipe.pixel_m
    kinds = recipe.incoherent_shapes
    kind = kinds[0] if len(kinds) == 1 else str(rng.choice(kinds))
    if kind == "blobs":
        if kinds != ("blobs",):
            meta["incoherent_shape"] = "blobs"
        return coherence_map(shape, pixel, rng, n_patches=int(rng.integers(0, 4)))
    coh = coherence_map(shape, pixel, rng, n_patches=0)
    if kind == "excursion":
        mask = excursion_mask(shape, pixel, rng, fraction=float(rng.uniform(0.05, 0.3)),
                              length_m=float(rng.uniform(500.0, 3000.0)))
    else:
        mask = band_mask(shape, pixel, rng, width_m=float(rng.uniform(300.0, 1500.0)),
                         meander_m=float(rng.uniform(0.0, 3000.0)))
    n_low = int(mask.sum())
    if n_low:
        coh[mask] = rng.uniform(0.0, DEFAULT_COHERENCE_THRESHOLD, n_low).astype(np.float32)
    meta["incoherent_shape"] = kind
    return coh


def make_sample(rng: np.random.Generator, recipe: SynthRecipe, scheme: str, label: int,
                dem_pool: Sequence[NDArray[np.floating]] | None = None) -> Sample:
    """One labelled sample of a class scheme (Anantrasirichai et al. 2019a, section 4.1).

    Args:
        rng: Generator for this sample.
        recipe: Generator parameters.
        scheme: ``2class``, ``3class``, ``3class-ds`` or ``weights``.
        label: Class index within the scheme.
        dem_pool: Optional DEMs for the stratified delay.
    """
    classes = scheme_classes(scheme)
    if not 0 <= label < len(classes):
        raise InputError(f"synth: label {label} out of range for scheme {scheme!r} "
                         f"({len(classes)} classes)")
    a, b, c = classes[label]
    comp = draw_components(rng, recipe, dem_pool, with_deformation=a > 0)
    x = comp.compose(a, b, c, normalise=scheme == "weights")
    meta = dict(comp.meta)
    meta["class_name"] = CLASS_NAMES[scheme][label]
    return Sample(x, label, (a, b, c), meta, comp.dem)


def scheme_classes(scheme: str) -> tuple[tuple[float, float, float], ...]:
    """The (a, b, c) weights of each class of a scheme, with a clear error if unknown."""
    try:
        return SCHEMES[scheme]
    except KeyError:
        raise InputError(f"synth: unknown scheme {scheme!r}; choose from "
                         f"{', '.join(SCHEMES)}") from None


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of a dataset drawn with ``seed``."""
    if seed < 0 or index < 0:
        raise InputError(f"synth: seed and index must be non-negative, got {seed}, {index}")
    return np.random.default_rng([seed, index])


def dataset_sample(seed: int, index: int, recipe: SynthRecipe, scheme: str,
                   dem_pool: Sequence[NDArray[np.floating]] | None = None) -> Sample:
    """Sample ``index`` of the dataset ``seed``: classes cycle so the set is balanced."""
    n_classes = len(scheme_classes(scheme))
    return make_sample(sample_rng(seed, index), recipe, scheme, index % n_classes, dem_pool)

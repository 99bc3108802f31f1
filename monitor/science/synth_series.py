"""A synthetic volcano time series: epochs, atmosphere per date, deformation with an onset.

Used to build LiCSAR-layout archives for the demo and the end-to-end tests (Anantrasirichai
et al. 2019b study slow deformation in cumulative daisy-chain series). Each acquisition
date ``t`` carries its own atmosphere ``A(t) = S(t) + T(t)`` (a stratified delay from the
DEM with coefficients drawn per date, and a turbulent field per date); an interferogram
between ``t1`` and ``t2`` holds

    ``ifg = D(t2) - D(t1) + A(t2) - A(t1) + noise``,

so atmosphere does not accumulate along a daisy chain while deformation does. The
deformation ``D(t)`` is a fixed source shape (a Mogi source by default) whose amplitude is
zero before ``onset`` and grows linearly after it, so that the peak LOS displacement rate
is ``rate_m_per_yr``; an optional ``step_m`` adds a step of that peak LOS displacement
between ``onset`` and the next acquisition (a sill or a dyke opening within one revisit
interval), so that ``rate_m_per_yr=0`` with ``step_m`` set is a pure one-interval step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.atmosphere import (
    draw_stratified_coefficients,
    stratified_delay,
    turbulent_delay,
)
from monitor.science.decorrelation import apply_decorrelation, coherence_map
from monitor.science.sources import mogi

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class SeriesScenario:
    """What happens at the synthetic volcano.

    Attributes:
        start: First acquisition date.
        n_epochs: Number of acquisitions.
        interval_days: Revisit interval (Sentinel-1: 12 days, 6 with both satellites).
        onset: First date of deformation (None: no deformation at all).
        rate_m_per_yr: Peak LOS displacement rate after onset, metres per year (negative
            for subsidence or deflation).
        source_depth_m: Depth of the Mogi source.
        source_offset_m: (east, north) offset of the source from the grid centre, metres.
        turbulent_sigma_m: Turbulent delay standard deviation per date, metres.
        turbulent_length_m: Turbulent e-folding length, metres.
        stratified_strength: ``"weak"`` or ``"strong"`` stratification per date, or
            ``"none"``.
        coherence_threshold: Coherence at or below which pixels are NaN (as in the Taal
            application of Sugiyama et al. 2011).
        decorrelate: Draw coherence maps with incoherent areas (else all coherent).
        step_m: Peak LOS displacement added at once after ``onset``, metres (0: none;
            negative for subsidence); the first acquisition after ``onset`` carries all
            of it, on top of the rate.
    """

    start: date = date(2024, 1, 6)
    n_epochs: int = 30
    interval_days: int = 12
    onset: date | None = date(2024, 7, 4)
    rate_m_per_yr: float = 0.10
    source_depth_m: float = 3000.0
    source_offset_m: tuple[float, float] = (0.0, 0.0)
    turbulent_sigma_m: float = math.sqrt(7.5e-6)
    turbulent_length_m: float = 8000.0
    stratified_strength: str = "weak"
    coherence_threshold: float = 0.1
    decorrelate: bool = True
    step_m: float = 0.0

    def __post_init__(self) -> None:
        if self.n_epochs < 2:
            raise InputError(f"series: n_epochs must be at least 2, got {self.n_epochs}")
        if self.interval_days < 1:
            raise InputError(f"series: interval_days must be >= 1, got {self.interval_days}")
        if not math.isfinite(self.rate_m_per_yr):
            raise InputError(f"series: rate_m_per_yr must be finite, got {self.rate_m_per_yr}")
        if not math.isfinite(self.step_m):
            raise InputError(f"series: step_m must be finite, got {self.step_m}")
        if self.step_m != 0.0 and self.onset is None:
            raise InputError(f"series: step_m ({self.step_m} m) needs an onset")
        if not self.source_depth_m > 0:
            raise InputError(f"series: source_depth_m must be positive, got "
                             f"{self.source_depth_m}")
        if self.onset is not None and self.onset > self.epochs[-1]:
            raise InputError(f"series: onset {self.onset} is after the last epoch "
                             f"{self.epochs[-1]}")
        if self.stratified_strength not in ("weak", "strong", "none"):
            raise InputError("series: stratified_strength must be weak, strong or none, got "
                             f"{self.stratified_strength!r}")

    @property
    def epochs(self) -> tuple[date, ...]:
        return tuple(self.start + timedelta(days=self.interval_days * i)
                     for i in range(self.n_epochs))

    def amplitude_m(self, epoch: date) -> float:
        """Peak LOS deformation (metres) accumulated by ``epoch`` since ``onset``."""
        if self.onset is None or epoch <= self.onset:
            return 0.0
        return self.step_m + self.rate_m_per_yr * (epoch - self.onset).days / DAYS_PER_YEAR


@dataclass(frozen=True)
class SeriesTruth:
    """The drawn series.

    Attributes:
        epochs: Acquisition dates.
        deformation_shape: LOS deformation pattern normalised to a peak |value| of 1,
            ``(ny, nx)``.
        atmosphere: LOS atmospheric delay per epoch, metres, ``(n_epochs, ny, nx)``.
        amplitudes_m: Peak LOS deformation per epoch, metres (0 before onset).
        base_coherence: Persistent coherence of the scene (land cover, slopes, water),
            ``(ny, nx)``; each pair's coherence is this times a pair-specific factor.
        stratified_zenith_m: Stratified (DEM-correlated) zenith delay per epoch, metres,
            ``(n_epochs, ny, nx)``; its LOS part of ``atmosphere`` is
            ``-stratified_zenith_m / cos(incidence)`` (what a weather model would predict).
    """

    epochs: tuple[date, ...]
    deformation_shape: NDArray[np.float32]
    atmosphere: NDArray[np.float32]
    amplitudes_m: NDArray[np.float64]
    base_coherence: NDArray[np.float32]
    stratified_zenith_m: NDArray[np.float32]

    def deformation(self, i: int) -> NDArray[np.float32]:
        """Cumulative LOS deformation of epoch ``i`` relative to the first, metres."""
        a = self.amplitudes_m[i] - self.amplitudes_m[0]
        return np.asarray(self.deformation_shape * np.float32(a), dtype=np.float32)


def draw_series(rng: np.random.Generator, scenario: SeriesScenario, dem_m: NDArray[np.floating],
                pixel_m: tuple[float, float], los_enu: tuple[float, float, float]) -> SeriesTruth:
    """Draw the deformation pattern and one atmosphere per epoch.

    Args:
        rng: Random generator.
        scenario: The scenario.
        dem_m: Heights, metres, ``(ny, nx)``, row 0 north.
        pixel_m: Pixel size (east-west, north-south), metres.
        los_enu: Ground-to-satellite unit vector (east, north, up).
    """
    dem = np.asarray(dem_m, dtype=np.float32)
    if dem.ndim != 2 or min(dem.shape) < 8:
        raise InputError(f"series: dem must be a 2-D array of at least 8 x 8, got {dem.shape}")
    if not np.isfinite(dem).all():
        raise InputError("series: dem has non-finite heights; fill voids first")
    ny, nx = dem.shape
    dx, dy = pixel_m
    x = (np.arange(nx) - (nx - 1) / 2.0) * dx
    y = ((ny - 1) / 2.0 - np.arange(ny)) * dy
    xx, yy = np.meshgrid(x, y)
    enu = mogi(xx, yy, xs_m=scenario.source_offset_m[0], ys_m=scenario.source_offset_m[1],
               depth_m=scenario.source_depth_m, dvolume_m3=1e6)
    e, n, u = los_enu
    los = enu.east * e + enu.north * n + enu.up * u
    peak = float(np.max(np.abs(los)))
    shape = np.asarray(los / peak, dtype=np.float32)
    epochs = scenario.epochs
    cos_inc = max(u, 1e-3)
    atm = np.empty((len(epochs), ny, nx), np.float32)
    strat = np.empty((len(epochs), ny, nx), np.float32)
    pix = math.sqrt(dx * dy)
    for i in range(len(epochs)):
        if scenario.stratified_strength == "none":
            s = np.zeros((ny, nx), np.float32)
        else:
            coeffs = draw_stratified_coefficients(
                rng, strength=scenario.stratified_strength)  # type: ignore[arg-type]
            s = stratified_delay(dem, coeffs.k1_m_per_m, coeffs.k2_m_per_m2)
        t = turbulent_delay((ny, nx), pix, scenario.turbulent_sigma_m,
                            scenario.turbulent_length_m, rng)
        # Zenith path delays lengthen the range: negative LOS displacement.
        strat[i] = s
        atm[i] = -s / cos_inc + t
    amps = np.array([scenario.amplitude_m(ep) for ep in epochs], dtype=np.float64)
    # Incoherent areas persist from pair to pair (water, dense vegetation, steep slopes);
    # sea level and below is water.
    base = coherence_map((ny, nx), pix, rng, mean=0.8, spread=0.8, dem_m=dem,
                         water_below_m=0.5, n_patches=2)
    return SeriesTruth(epochs, shape, atm, amps, base, strat)


def interferogram(rng: np.random.Generator, truth: SeriesTruth, scenario: SeriesScenario,
                  i1: int, i2: int, pixel_m: float,
                  wavelength_m: float) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The unwrapped LOS interferogram between epochs ``i1 < i2`` and its coherence.

    Returns:
        ``(displacement_m, coherence)``, both float32 ``(ny, nx)``; displacement is NaN
        where coherence is at or below the scenario's threshold.
    """
    if not 0 <= i1 < i2 < len(truth.epochs):
        raise InputError(f"series: bad epoch pair ({i1}, {i2}) for {len(truth.epochs)} epochs")
    d = (truth.deformation(i2) - truth.deformation(i1)) + (truth.atmosphere[i2]
                                                           - truth.atmosphere[i1])
    shape = d.shape
    if not scenario.decorrelate:
        return np.asarray(d, np.float32), np.ones(shape, np.float32)
    span = (truth.epochs[i2] - truth.epochs[i1]).days
    # Longer temporal baselines decorrelate more; a pair-specific smooth factor (rain,
    # snow, vegetation change) varies it around the persistent scene coherence.
    mean = float(np.clip(0.97 - 0.002 * span, 0.5, 0.97))
    coh = truth.base_coherence * coherence_map(shape, pixel_m, rng, mean=mean, spread=0.7)
    # LiCSAR multilooks 20 x 4 pixels: 80 looks for the phase noise.
    out = apply_decorrelation(d, coh, threshold=scenario.coherence_threshold, rng=rng,
                              noise=True, n_looks=80,
                              units_per_rad=wavelength_m / (4 * math.pi))
    return np.asarray(out, np.float32), np.asarray(coh, np.float32)

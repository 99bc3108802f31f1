"""``evaluate series`` (synthetic): detection delay against false alerts per volcano-year.

Synthetic daisy chains with known onsets are scored **by the watch's own path**, and the
alert policy is run over them for a sweep of the time-series rule's threshold: that
sweep is the curve (false alerts per volcano-year against detection delay), with the
operating point (the configured ``[alerts]``, the defaults without ``--config``) marked.
Nothing here prints; the ``evaluate series`` command does.

Rules, in order:

1. **Cases.** Every combination of a turbulence (``turbulence_cm``) with a rate
   (``rates_cm_per_yr``: a Mogi source under the target whose peak LOS grows at that rate
   from the onset on), a step (``steps_cm``: the same source moving by that peak LOS
   between the onset and the next acquisition, :class:`SeriesScenario` ``step_m``) and the
   quiet series (no deformation), ``seeds`` times each. The packaged DEMs (``dems``) are
   used in turn over the seeds. Each case draws from ``default_rng([seed, kind, value in
   1/100 cm, turbulence in 1/100 cm])`` (:meth:`Case.entropy`), so that cases are
   independent draws and any one can be redrawn alone.
2. **Series.** :func:`~monitor.science.synth_series.draw_series` over the DEM resampled
   to ``size_px`` pixels of 0.001 degree around the volcano (as
   :mod:`monitor.io.synth_archive`), 12-day revisit, Sentinel-1 descending geometry
   (heading -169.8, incidence 39 degrees), a Mogi source 3 km deep under the grid
   centre, turbulence with a ``turbulent_length_km`` e-folding length and
   ``stratification`` per date, coherence and decorrelation as
   :func:`~monitor.science.synth_series.interferogram` draws them. ``epochs``
   acquisitions with the onset at epoch ``onset_epoch`` (the last acquisition without
   deformation); rates below :data:`SLOW_RATE_CM_PER_YR` get ``slow_epochs``.
3. **The watch's chain.** The target is a disc of ``target_radius_km`` at the grid
   centre; the series reference is the watch's automatic one
   (:func:`~monitor.service.scoring.series_reference` on the first interferogram's
   coherence and the DEM); the cumulative maps are the incremental daisy chain
   (:func:`~monitor.science.timeseries.start_daisy_chain`, ``append``).
4. **Scores.** Every epoch after the first: :func:`~monitor.service.scoring.epoch_signal`
   (bell amplitude, step of the newest increment and, unless ``no_cnn``, the LSTT of
   that increment for the fast path) and, unless ``no_cnn``,
   :func:`~monitor.service.scoring.score_cumulative` (CNN with the packaged or given
   model, LSTT). By default no second look (``files=None``: the synthetic frames have no
   archive); with ``second_look`` the frame's DEM is written as a LiCSAR-layout archive
   of its own (:data:`FRAME`, ``metadata/<frame>.geo.hgt.tif``, nothing else) and read
   through the watch's port (:class:`~monitor.service.correction.FrameFiles`), so that a
   qualifying epoch gets the watch's second look: no weather-model delay is published,
   the phase-elevation fit over the DEM decides. An epoch with no valid target pixel is
   not scored, as in ``scan-series``. With the CNN, the series' GLS filter judges every
   epoch after its warm-up as the watch's does (:mod:`monitor.science.detect.series_gls`,
   the frame's DEM as nuisance), and the policy reads its P (``[alerts] confirm``).
5. **Policy.** :func:`monitor.notify.policy.evaluate` over the epochs' ``StepScore``
   records (:mod:`monitor.evaluation.series_policy` for the sweep). An alert at or before
   the onset epoch is a false alert (quiet years: the scored epochs up to the onset, 12
   days each; all of them for quiet series). The first alert after the onset detects:
   delay in days from the onset, in acquisitions after the first one carrying
   deformation (0: that one), and the peak LOS deformation accumulated by then (cm). A
   series never alerted after its onset counts as infinitely late in the median and 90th
   percentile (None when they fall on it). A series whose target disc is never coherent
   (an incoherent patch of the coherence draw over it) is not scored at all: it is
   counted (``without_target``) and left out of the delays.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from rasterio.transform import from_origin

from monitor import __version__
from monitor.config import Settings, load_settings
from monitor.errors import InputError
from monitor.evaluation.series_defaults import (
    DEFAULT_DEMS,
    DEFAULT_RATES_CM_PER_YR,
    DEFAULT_STEPS_CM,
    DEFAULT_TURBULENCE_CM,
    DEFAULT_Z_SWEEP,
    SLOW_RATE_CM_PER_YR,
)
from monitor.evaluation.series_policy import curve_point, sweep_settings
from monitor.io.dem import packaged_dem, packaged_dem_names
from monitor.io.licsar import POSTING_DEG
from monitor.io.synth_archive import resample_dem_to_grid
from monitor.io.volcanoes import KNOWN_VOLCANOES
from monitor.notify.policy import StepScore
from monitor.science.detect.detector import Detector
from monitor.science.detect.series_gls import BORROW, NoiseHistory
from monitor.science.detect.series_gls import step as gls_step
from monitor.science.geometry import SENTINEL1, los_unit_vector
from monitor.science.grids import FrameGrid, GroundDisc
from monitor.science.lstt_defaults import DEFAULT_PERMUTATIONS
from monitor.science.scoring import Regions, ScoringParams, cumulative_max_m
from monitor.science.synth_series import SeriesScenario, draw_series, interferogram
from monitor.science.timeseries import Interferogram, append, append_step, start_daisy_chain
from monitor.service.correction import FrameFiles
from monitor.service.scoring import (
    epoch_signal,
    frame_regions,
    new_noise_history,
    score_cumulative,
    scoring_params,
    series_key,
    series_reference,
)

if TYPE_CHECKING:
    from monitor.io.models import ScoringModel

log = logging.getLogger(__name__)

#: Revisit interval, days (Sentinel-1).
INTERVAL_DAYS = 12
#: First acquisition of every synthetic series.
START = date(2024, 1, 6)
#: Geometry of the synthetic frames (that of :func:`write_synthetic_archive`).
HEADING_DEG, INCIDENCE_DEG = -169.8, 39.0
#: Frame id of the DEM-only archives of the second look.
FRAME = "022D_04826_121209"
#: Depth of the synthetic Mogi source, metres.
SOURCE_DEPTH_M = 3000.0
STRATIFICATIONS = ("weak", "strong", "none")
Kind = Literal["rate", "step", "quiet"]
_KIND_CODES = {"rate": 1, "step": 2, "quiet": 3}


@dataclass(frozen=True, kw_only=True)
class SeriesOptions:
    """``evaluate series`` without ``--archive``: the synthetic cases and how they are
    scored (module docstring; the flags give units and defaults).

    Attributes:
        dems: Packaged DEMs, used in turn over the seeds.
        rates_cm_per_yr: Rates of the rate cases (peak LOS, cm/yr).
        steps_cm: Sizes of the step cases (peak LOS, cm).
        quiet: Include quiet series.
        turbulence_cm: Turbulence standard deviations per date, cm.
        seeds: Series per case.
        first_seed: Seed of the first series.
        epochs: Acquisitions per series.
        slow_epochs: Acquisitions of series whose rate is below
            :data:`SLOW_RATE_CM_PER_YR`.
        onset_epoch: Index of the onset epoch (the last one without deformation).
        history_epochs: Quiet acquisitions before each series' first (a target with a
            ``start``): their increments begin the GLS filter's noise history, as the
            watch borrows the archive's products before a start
            (:mod:`monitor.service.noise_warmup`); 0: the series starts with the archive.
        size_px: Grid side, pixels of 0.001 degree.
        target_radius_km: Target disc radius, km.
        turbulent_length_km: Turbulence e-folding length, km.
        stratification: ``weak``, ``strong`` or ``none`` stratified delay per date.
        z_sweep: Thresholds of the time-series rule for the curve, sigma.
        no_cnn: Score with the time-series rule alone (P and LSTT None).
        second_look: Give qualifying epochs the watch's second look (rule 4).
        model: Model file, or None for the packaged weights of ``arch``.
        arch: Architecture of the packaged weights (or checked against ``model``).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: Torch CPU threads, or None.
        config: TOML configuration (``[science]``, ``[alerts]``), or None.
        permutations: LSTT permutations.
    """

    dems: tuple[str, ...] = DEFAULT_DEMS
    rates_cm_per_yr: tuple[float, ...] = DEFAULT_RATES_CM_PER_YR
    steps_cm: tuple[float, ...] = DEFAULT_STEPS_CM
    quiet: bool = True
    turbulence_cm: tuple[float, ...] = DEFAULT_TURBULENCE_CM
    seeds: int = 3
    first_seed: int = 0
    epochs: int = 40
    slow_epochs: int = 60
    onset_epoch: int = 20
    history_epochs: int = 0
    size_px: int = 200
    target_radius_km: float = 3.0
    turbulent_length_km: float = 5.0
    stratification: str = "weak"
    z_sweep: tuple[float, ...] = DEFAULT_Z_SWEEP
    no_cnn: bool = False
    second_look: bool = False
    model: str | None = None
    arch: str | None = None
    device: str = "cpu"
    threads: int | None = None
    config: str | None = None
    permutations: int = DEFAULT_PERMUTATIONS

    def check(self) -> None:
        """Refuse options that cannot make a run, naming the flag.

        Raises:
            InputError: the message names the flag and the value.
        """
        known = packaged_dem_names()
        for name in self.dems:
            if name not in known or name not in KNOWN_VOLCANOES:
                raise InputError(f"--dems: no packaged DEM named {name!r}; choose from "
                                 f"{', '.join(n for n in known if n in KNOWN_VOLCANOES)}")
        if not self.dems:
            raise InputError("--dems: give at least one packaged DEM")
        _positive(self.rates_cm_per_yr, "--rates", "cm/yr")
        _positive(self.steps_cm, "--steps", "cm")
        if not self.turbulence_cm or any(not (math.isfinite(t) and t >= 0)
                                         for t in self.turbulence_cm):
            raise InputError(f"--turbulence: give numbers of cm >= 0, got "
                             f"{list(self.turbulence_cm)}")
        if not (self.rates_cm_per_yr or self.steps_cm or self.quiet):
            raise InputError("nothing to evaluate: --rates none, --steps none and --no-quiet")
        if self.seeds < 1:
            raise InputError(f"--seeds must be at least 1, got {self.seeds}")
        if self.first_seed < 0:
            raise InputError(f"--first-seed must be >= 0, got {self.first_seed}")
        for flag, n in (("--epochs", self.epochs), ("--slow-epochs", self.slow_epochs)):
            if n < self.onset_epoch + 2:
                raise InputError(f"{flag} ({n}) must exceed --onset-epoch "
                                 f"({self.onset_epoch}) by at least 2 acquisitions")
        if self.onset_epoch < 2:
            raise InputError(f"--onset-epoch must be at least 2, got {self.onset_epoch}")
        if not 0 <= self.history_epochs <= BORROW:
            raise InputError(f"--history-epochs must lie in [0, {BORROW}] (the watch borrows "
                             f"at most {BORROW}), got {self.history_epochs}")
        if not 32 <= self.size_px <= 2000:
            raise InputError(f"--size must lie in [32, 2000] pixels, got {self.size_px}")
        if not (math.isfinite(self.target_radius_km) and self.target_radius_km > 0):
            raise InputError(f"--target-radius-km must be a positive number, got "
                             f"{self.target_radius_km}")
        if not (math.isfinite(self.turbulent_length_km) and self.turbulent_length_km > 0):
            raise InputError(f"--turbulent-length-km must be a positive number, got "
                             f"{self.turbulent_length_km}")
        if self.stratification not in STRATIFICATIONS:
            raise InputError(f"--stratification must be one of {', '.join(STRATIFICATIONS)}, "
                             f"got {self.stratification!r}")
        if self.permutations < 1:
            raise InputError(f"--permutations must be at least 1, got {self.permutations}")
        if self.second_look and self.no_cnn:
            raise InputError("--second-look corrects what the CNN and the LSTT flag: it "
                             "cannot go with --no-cnn")


def _positive(values: Sequence[float], flag: str, unit: str) -> None:
    bad = [v for v in values if not (math.isfinite(v) and v > 0)]
    if bad:
        raise InputError(f"{flag}: give positive numbers of {unit}, got {bad[0]!r}")


def parse_numbers(text: str, flag: str, *, allow_none: bool = False) -> tuple[float, ...]:
    """``"1,2,3.5"`` -> ``(1.0, 2.0, 3.5)``; ``"none"`` -> ``()`` when ``allow_none``.

    Raises:
        InputError: a part that is not a number, or an empty list (named by ``flag``).
    """
    if allow_none and text.strip().lower() == "none":
        return ()
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected comma-separated numbers such as "
                         f"1,2,3.5{' (or none)' if allow_none else ''}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise InputError(f"{flag} {text!r}: expected comma-separated finite numbers such as "
                         f"1,2,3.5{' (or none)' if allow_none else ''}")
    return values


def model_record(given: str | None, loaded: ScoringModel) -> dict[str, Any]:
    """The model's provenance: the file given, or ``packaged:<arch>`` (no path of this
    machine in a report), its architecture and sha256."""
    return {"path": given if given is not None else f"packaged:{loaded.arch}",
            "arch": loaded.arch, "sha256": loaded.sha256}


@dataclass(frozen=True)
class Case:
    """One synthetic series.

    Attributes:
        kind: ``rate``, ``step`` or ``quiet``.
        value: The rate (cm/yr) or step (cm); 0 for quiet series.
        turbulence_cm: Turbulence standard deviation per date, cm.
        seed: Its seed.
        dem: Packaged DEM it is drawn over.
        n_epochs: Acquisitions.
        onset_index: Index of the onset epoch (None: quiet).
    """

    kind: Kind
    value: float
    turbulence_cm: float
    seed: int
    dem: str
    n_epochs: int
    onset_index: int | None

    @property
    def group(self) -> str:
        """The case's group in the tables (all seeds together)."""
        what = {"rate": f"rate {self.value:g} cm/yr", "step": f"step {self.value:g} cm",
                "quiet": "quiet"}[self.kind]
        return f"{what}, turbulence {self.turbulence_cm:g} cm"

    def entropy(self) -> list[int]:
        """The seed words of its generator (module docstring, rule 1)."""
        return [self.seed, _KIND_CODES[self.kind], round(self.value * 100),
                round(self.turbulence_cm * 100)]

    def scenario(self, opts: SeriesOptions) -> SeriesScenario:
        """Its :class:`SeriesScenario`."""
        onset = None if self.onset_index is None \
            else START + timedelta(days=INTERVAL_DAYS * self.onset_index)
        lead = opts.history_epochs  # acquisitions before the series' first, at START
        return SeriesScenario(
            start=START - timedelta(days=INTERVAL_DAYS * lead),
            n_epochs=self.n_epochs + lead, interval_days=INTERVAL_DAYS, onset=onset,
            rate_m_per_yr=self.value / 100.0 if self.kind == "rate" else 0.0,
            step_m=self.value / 100.0 if self.kind == "step" else 0.0,
            source_depth_m=SOURCE_DEPTH_M, turbulent_sigma_m=self.turbulence_cm / 100.0,
            turbulent_length_m=opts.turbulent_length_km * 1000.0,
            stratified_strength=opts.stratification)

    def record(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"kind": self.kind, "value": self.value, "turbulence_cm": self.turbulence_cm,
                "seed": self.seed, "dem": self.dem, "n_epochs": self.n_epochs,
                "onset_index": self.onset_index, "generator": self.entropy()}


def synthetic_cases(opts: SeriesOptions) -> list[Case]:
    """Every case of rule 1, turbulence by turbulence."""
    cases = []
    kinds: list[tuple[Kind, float]] = [
        *(("rate", r) for r in opts.rates_cm_per_yr), *(("step", s) for s in opts.steps_cm),
        *((("quiet", 0.0),) if opts.quiet else ())]
    for turbulence in opts.turbulence_cm:
        for kind, value in kinds:
            slow = kind == "rate" and value < SLOW_RATE_CM_PER_YR
            n = opts.slow_epochs if slow else opts.epochs
            for k in range(opts.seeds):
                seed = opts.first_seed + k
                cases.append(Case(kind, value, turbulence, seed,
                                  opts.dems[seed % len(opts.dems)], n,
                                  None if kind == "quiet" else opts.onset_epoch))
    return cases


@dataclass(frozen=True, eq=False)
class SyntheticFrame:
    """The grid, DEM and target of the synthetic frames over one packaged DEM.

    Attributes:
        name: The DEM.
        grid: ``size_px`` square pixels of 0.001 degree centred on the volcano.
        dem: Heights on the grid, metres, ``(ny, nx)``.
        target: The target disc at the grid centre.
    """

    name: str
    grid: FrameGrid
    dem: np.ndarray
    target: GroundDisc


@lru_cache(maxsize=8)
def synthetic_frame(name: str, size_px: int, radius_km: float) -> SyntheticFrame:
    """The frame of rule 2 over the packaged DEM ``name`` (cached)."""
    lon0, lat0 = KNOWN_VOLCANOES[name]
    half = size_px * POSTING_DEG / 2
    transform = from_origin(lon0 - half, lat0 + half, POSTING_DEG, POSTING_DEG)
    shape = (size_px, size_px)
    grid = FrameGrid.from_transform(shape, transform, f"synthetic over packaged:{name}")
    dem = resample_dem_to_grid(packaged_dem(name), transform, shape)
    return SyntheticFrame(name, grid, dem, GroundDisc(lon0, lat0, radius_km))


@dataclass(frozen=True)
class ScoredCase:
    """A case scored epoch by epoch (rule 4).

    Attributes:
        case: The case.
        epochs: Every acquisition, ``n_epochs``.
        scores: What the policy reads of epochs 1 to ``n_epochs - 1``.
        truth_m: Peak LOS deformation of those epochs since the first, metres.
        n_references: Reference regions placed.
        looks: Per scored epoch, the second look's method (``none`` when it found no
            source) or None when none was made.
    """

    case: Case
    epochs: tuple[date, ...]
    scores: tuple[StepScore, ...]
    truth_m: tuple[float, ...]
    n_references: int
    looks: tuple[str | None, ...] = ()

    @property
    def scored_epochs(self) -> int:
        """Epochs with a score (a valid target pixel)."""
        return sum(not (s.p_fused is None and s.lstt_p is None and s.bell_m is None)
                   for s in self.scores)

    def record(self) -> dict[str, Any]:
        """JSON-ready: the case and every epoch's scores, one list per field (metres to
        1e-6, probabilities to 1e-5): enough to run the policy again."""
        def r(v: float | None, digits: int) -> float | None:
            return None if v is None else round(v, digits)
        return {**self.case.record(), "n_references": self.n_references,
                "scored_epochs": self.scored_epochs, "epochs": {
                    "epoch": [s.epoch.isoformat() for s in self.scores],
                    "truth_m": [r(t, 6) for t in self.truth_m],
                    "p_fused": [r(s.p_fused, 5) for s in self.scores],
                    "lstt_p": [r(s.lstt_p, 5) for s in self.scores],
                    "bell_m": [r(s.bell_m, 6) for s in self.scores],
                    "step_m": [r(s.step_m, 6) for s in self.scores],
                    "step_lstt_p": [r(s.step_lstt_p, 5) for s in self.scores],
                    "gls_p": [r(s.gls_p, 5) for s in self.scores],
                    "second_look": list(self.looks) or [None] * len(self.scores)}}


@dataclass(frozen=True, eq=False)
class Scorer:
    """What rule 4 scores with: per DEM, the CNN on that frame's pixel size (None: the
    time-series rule alone) and the archive of the second look (None: none)."""

    detectors: dict[str, Detector] | None
    params: ScoringParams
    settings: Settings
    files: dict[str, FrameFiles] | None = None


def dem_archives(root: Path, frames: Sequence[SyntheticFrame]) -> dict[str, FrameFiles]:
    """Per synthetic frame, a LiCSAR-layout archive under ``root`` holding only its DEM,
    and the watch's access to it (rule 4)."""
    from monitor.archive import LocalArchive
    from monitor.io.licsar import FrameLayout
    from monitor.io.rasters import write_raster

    out = {}
    for frame in frames:
        layout = FrameLayout(root / frame.name, FRAME)
        layout.metadata_dir.mkdir(parents=True, exist_ok=True)
        write_raster(layout.metadata_raster("hgt"), frame.dem, crs="EPSG:4326",
                     transform=frame.grid.transform)
        out[frame.name] = FrameFiles(LocalArchive(root / frame.name), FRAME, frame.grid,
                                     root / "cache" / frame.name)
    return out


def _score_epoch(scorer: Scorer, dem: str, image: np.ndarray, increment: np.ndarray,
                 regions: Regions, epoch: date, first: date, key: str,
                 gls_p: float | None = None, history: NoiseHistory | None = None
                 ) -> tuple[StepScore, str | None]:
    """The epoch's policy input and its second look's method (None: none made);
    ``gls_p``: the series' GLS filter's judgement of the epoch (None: none); ``history``:
    its noise history before the epoch (the block detector's own threshold)."""
    if cumulative_max_m(image, regions.target_mask) is None:
        return StepScore(epoch, None, None, None, None, key), None
    p = q = look = None
    if scorer.detectors is None:
        signal = epoch_signal(image, increment, regions)
    else:
        # The full path: the increment's own LSTT for the fast path, as the watch does.
        signal = epoch_signal(image, increment, regions, epoch, scorer.params)
        files = None if scorer.files is None else scorer.files[dem]
        scored = score_cumulative(scorer.detectors[dem], image, regions, epoch, scorer.params,
                                  span_start=first, files=files, settings=scorer.settings,
                                  alerts=scorer.settings.alerts, increment=increment,
                                  history=history)
        p, q = scored.decided.p_fused, scored.decided.lstt_p
        look = None if scored.look is None else scored.look.method
    return StepScore(epoch, p, q, signal.bell_m, signal.step_m, key,
                     signal.step_lstt_p, gls_p if scorer.detectors is not None else None), look


def score_case(case: Case, opts: SeriesOptions, scorer: Scorer) -> ScoredCase:
    """Draw one case and score every epoch after the first (rules 2-4)."""
    frame = synthetic_frame(case.dem, opts.size_px, opts.target_radius_km)
    grid = frame.grid
    scenario = case.scenario(opts)
    rng = np.random.default_rng(case.entropy())
    los = tuple(float(v) for v in los_unit_vector(INCIDENCE_DEG, HEADING_DEG))
    truth = draw_series(rng, scenario, frame.dem, grid.pixel_m,
                        (los[0], los[1], los[2]))
    pixel_m = math.sqrt(grid.pixel_m[0] * grid.pixel_m[1])
    threshold = scorer.settings.science.coherence_threshold
    lead = opts.history_epochs
    before = [interferogram(rng, truth, scenario, i - 1, i, pixel_m, SENTINEL1.wavelength_m)
              for i in range(1, lead + 1)]
    epochs, amplitudes_m = truth.epochs[lead:], truth.amplitudes_m[lead:]
    name = f"synthetic target ({case.dem})"
    ifg = interferogram(rng, truth, scenario, lead, lead + 1, pixel_m,
                        SENTINEL1.wavelength_m)
    union, _ = series_reference(grid, frame.target, None, ifg[1], threshold, frame.dem, name)
    regions = frame_regions(grid, frame.target, None, union, name)
    state = start_daisy_chain(epochs[0], grid.shape, reference=union,
                              coherence_threshold=threshold)
    key = series_key(f"synthetic-{case.dem}", epochs[0])
    scores, truth_m, looks = [], [], []
    noise = None if scorer.detectors is None else new_noise_history(grid, frame.target)
    if noise is not None:  # the acquisitions before the start, as the watch borrows them
        for i, (phase, coherence) in enumerate(before, start=1):
            one = append(start_daisy_chain(truth.epochs[i - 1], grid.shape, reference=union,
                                           coherence_threshold=threshold),
                         Interferogram(truth.epochs[i - 1], truth.epochs[i], phase, coherence))
            noise = noise.appended(one.image, None, truth.epochs[i])
    for i in range(1, len(epochs)):
        if i > 1:
            ifg = interferogram(rng, truth, scenario, lead + i - 1, lead + i, pixel_m,
                                SENTINEL1.wavelength_m)
        state, step = append_step(state, Interferogram(epochs[i - 1], epochs[i], ifg[0],
                                                       ifg[1]))
        image, increment = state.image, step.astype(np.float64)
        judged, history = None, noise
        if noise is not None:  # the watch's GLS confirmation (rule 4)
            noise, judged = gls_step(noise, image, increment, grid.pixel_m, frame.dem,
                                     epochs[i])
        score, look = _score_epoch(scorer, case.dem, image, increment, regions,
                                   epochs[i], epochs[0], key,
                                   None if judged is None else judged.p, history)
        scores.append(score)
        looks.append(look)
        truth_m.append(float(amplitudes_m[i] - amplitudes_m[0]))
    return ScoredCase(case, epochs, tuple(scores), tuple(truth_m), len(regions.references),
                      tuple(looks))


def evaluate_series(opts: SeriesOptions,
                    progress: Callable[[Sequence[Case]], Any] | None = None
                    ) -> dict[str, Any]:
    """Score every case and sweep the policy (module docstring); the report, JSON-ready.

    Args:
        opts: The options.
        progress: Wraps the list of cases while they are scored (a progress bar), or None.

    Raises:
        InputError: bad options (named).
        ModelError: the model cannot be loaded.
    """
    opts.check()
    settings = load_settings(opts.config)
    sweep = sweep_settings(settings.alerts, opts.z_sweep)
    for name in opts.dems:  # an uncovered DEM fails before any scoring
        synthetic_frame(name, opts.size_px, opts.target_radius_km)
    params = scoring_params(settings, lstt_seed=opts.first_seed,
                            lstt_permutations=opts.permutations)
    model: dict[str, Any] | None = None
    detectors: dict[str, Detector] | None = None
    if not opts.no_cnn:
        from monitor.compute_device import resolve_device, set_threads
        from monitor.io.models import load_scoring_model
        from monitor.service.scoring import detector_for

        set_threads(opts.threads)
        loaded = load_scoring_model(opts.model, opts.arch, settings.science.detector,
                                    resolve_device(opts.device))
        frames = {n: synthetic_frame(n, opts.size_px, opts.target_radius_km)
                  for n in opts.dems}
        detectors = {n: detector_for(loaded, params, f.grid.pixel_m, f.dem)
                     for n, f in frames.items()}
        model = model_record(opts.model, loaded)
    cases = synthetic_cases(opts)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evaluate-series-") as tmp:
        files = None if not opts.second_look else dem_archives(
            Path(tmp), [synthetic_frame(n, opts.size_px, opts.target_radius_km)
                        for n in opts.dems])
        scorer = Scorer(detectors, params, settings, files)
        scored = [score_case(c, opts, scorer)
                  for c in (progress(cases) if progress is not None else cases)]
    score_s = time.perf_counter() - start
    curve, at_operating = [], []
    for z, alerts in sweep:
        operating = alerts is settings.alerts
        point, outcomes = curve_point(scored, z, alerts, operating)
        curve.append(point)
        if operating:
            at_operating = outcomes
    blocks = (model or {}).get("arch") == "blocks"
    if opts.no_cnn:
        scored_with = "time-series rule alone (--no-cnn)"
    else:
        scored_with = "the watch's path: " + (
            "the block detector on each newest increment, against the series' own "
            "threshold once 20 increments precede it" if blocks else "CNN") + (
            ", LSTT, bell amplitude and step, ") + (
            "no second look (the block detector takes none)" if blocks
            else "second look by the phase-elevation fit over the DEM" if opts.second_look
            else "no second look")
    return {
        "kind": "series-synthetic", "code_version": __version__,
        "scored_with": scored_with,
        "model": model, "options": {**{k: (list(v) if isinstance(v, tuple) else v)
                                       for k, v in vars(opts).items()}},
        "setup": {"start": START.isoformat(), "interval_days": INTERVAL_DAYS,
                  "heading_deg": HEADING_DEG, "incidence_deg": INCIDENCE_DEG,
                  "source": f"Mogi, {SOURCE_DEPTH_M / 1000:g} km deep under the target",
                  "slow_rate_cm_per_yr": SLOW_RATE_CM_PER_YR,
                  "pixel_deg": POSTING_DEG, "scoring": params.record(START),
                  "generator": "numpy default_rng([seed, kind (1 rate, 2 step, 3 quiet), "
                               "value in 1/100 cm, turbulence in 1/100 cm])"},
        "seeds": sorted({c.seed for c in cases}),
        "alerts": settings.alerts.model_dump(),
        "seconds": {"scoring": score_s, "policy": time.perf_counter() - start - score_s},
        "curve": curve,
        "cases": [{**s.record(), "operating_point": o.record()}
                  for s, o in zip(scored, at_operating, strict=True)],
    }

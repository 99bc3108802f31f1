"""Train and calibrate the block detector on a real frame (glue above the science).

``insar-monitor train-blocks`` reads the quiet products of a LiCSAR-layout frame
(:mod:`monitor.noise_bank`), keeps the training years' and the validation years' apart
(blocks of time: neighbouring epochs share atmosphere), and trains
:class:`~monitor.science.detect.blocks.BlockNet` on block means of:

* **real noise**: the training years' quiet increments and the sums of two and three
  consecutive ones that chain (:func:`monitor.science.semireal.spans`, as ``synth
  semireal`` draws them), sign flipped with odds 1/2 and scaled by 0.7-1.4, cropped to one
  window where the frame is larger;
* **generated deformation** added to half of them: one source of the generator's six
  kinds in turn (Mogi as ``evaluate real`` injects them; dyke, penny-shaped and Okada
  sills, a pair of Mogi sources and a Gaussian sill as
  :func:`monitor.science.sources.draws.draw_source` draws them, within 2.5 km of the
  window's centre), peak |LOS| log-uniform in ``peak_los_m`` (default 0.8-10 cm),
  deflation with odds 0.3; random
  quarter turns and flips;
* **unwrapping errors** on a fraction ``unwrap_fraction`` of either class: one
  whole-fringe jump (half the Sentinel-1 wavelength) inside an island or beyond a curve
  (:func:`monitor.science.unwrapping.unwrapping_errors`), which a map's label does not
  change: an unwrapper's mistake is not deformation;
* **incoherent regions of real shapes** on a fraction ``incoherent_fraction`` of either
  class: the blocks of an excursion set of a smooth random field (ragged, holed regions
  0.5-3 km across) or of a meandering band 1-6 km wide (a valley floor, a lake's shore)
  made invalid, 5-60% of the window (:mod:`monitor.science.incoherent_shapes`), so that
  the network learns to read a window through the gaps of a vegetated or snow-covered
  volcano, which the real training frame (0.8% of its pixels incoherent, median) does
  not show it.

Every ``eval_every`` steps the network scores the validation years' quiet increments and
``n_inject`` of them with a Mogi source of 1, 2, 3 and 4 cm (``evaluate real``'s draws:
``default_rng(seed_eval)``), with ``incoherent_fraction`` the same maps again with an
incoherent region each; the step with the best AUC for 2 cm and more is kept. Its
calibration is then fitted on the same maps (:class:`~monitor.science.detect.blocks.
BlockCalibration`: the conformal 95% quantile of the quiet logits and a Platt slope), and
the model file is written with its provenance. The test years must be held out of both.

A checkpoint (weights, optimiser, generator, history, best network) is written atomically
at every evaluation; ``resume`` continues it with the same options (``steps`` may grow)
and gives the same network as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from monitor import __version__
from monitor.compute_device import set_threads
from monitor.config import load_settings
from monitor.errors import InputError, ModelError
from monitor.event_windows import Window, in_years
from monitor.io.atomic import atomic_write
from monitor.io.models import load_block_model, save_model
from monitor.noise_bank import NoiseBank, load_noise_bank
from monitor.science.detect.blocks import (
    BLOCK_M,
    WINDOW_BLOCKS,
    BlockCalibration,
    BlockDetector,
    BlockNet,
    fit_slope,
    fit_slope_above,
    window_channels,
)
from monitor.science.detect.gated_blocks import GatedBlockNet, coherent_scale, gate_networks
from monitor.science.detect.gls_filter import DEFAULT_ALPHA, conformal_quantile
from monitor.science.detect.training import roc_auc
from monitor.science.incoherent_shapes import band_mask, excursion_mask
from monitor.science.injection import draw_mogi_injection, frame_xy, source_unit_los
from monitor.science.noise_covariance import block_factor, block_mean
from monitor.science.semireal import NoiseEpoch, span_map, spans
from monitor.science.sensors import SENTINEL1
from monitor.science.unwrapping import unwrapping_errors

log = logging.getLogger(__name__)

#: The source kinds of the training positives, in turn.
KINDS = ("mogi", "dyke", "sill_penny", "sill_okada", "mogi_pair", "sill_gaussian")
#: Peak |LOS| of the training sources, metres (log-uniform; ``peak_los_m``'s default).
PEAK_LOS_M = (0.008, 0.10)
#: Sources other than Mogi lie within this distance of the window's centre, metres.
JITTER_M = 2500.0
#: Unwrapping-error patterns drawn for the training maps (with ``unwrap_fraction`` > 0).
UNWRAP_PATTERNS = 400
#: Incoherence masks drawn for the training maps (with ``incoherent_fraction`` > 0).
INCOHERENT_PATTERNS = 400
#: Area fraction of a training map's incoherence mask, drawn uniformly.
INCOHERENT_AREA = (0.05, 0.6)
#: Fewest quiet maps in the training years.
MIN_MAPS = 10
#: Fewest quiet maps in the validation years: the calibration's threshold is their
#: conformal 95% quantile, which needs 1 / 0.05 of them.
MIN_VAL_MAPS = math.ceil(1.0 / DEFAULT_ALPHA)
#: Amplitudes of the validation injections, cm; the AUC counts those of 2 cm and more.
VAL_AMPLITUDES_CM = (1.0, 2.0, 3.0, 4.0)
#: Checkpoint format name.
CHECKPOINT_FORMAT = "insar-monitor-block-checkpoint"
#: Options that must match between a checkpoint and the run that resumes it.
RESUME_KEYS = ("archive", "frame", "events", "train_years", "val_years", "eval_every",
               "sources", "batch_size", "lr", "width", "seed", "seed_eval", "n_inject",
               "config", "unwrap_fraction", "peak_los_m", "incoherent_fraction")


@dataclass(frozen=True, kw_only=True)
class BlockTrainOptions:
    """What ``insar-monitor train-blocks`` trains with (its flags; ``--help`` gives the
    defaults)."""

    archive: str
    frame: str
    events: tuple[Window, ...]
    train_years: frozenset[int]
    val_years: frozenset[int]
    out: str
    steps: int = 3000
    eval_every: int = 250
    sources: int = 1200
    batch_size: int = 64
    lr: float = 1e-3
    width: int = 32
    unwrap_fraction: float = 0.0
    incoherent_fraction: float = 0.0
    peak_los_m: tuple[float, float] = PEAK_LOS_M
    seed: int = 0
    seed_eval: int = 707
    n_inject: int = 40
    checkpoint: str | None = None
    resume: str | None = None
    threads: int | None = None
    config: str | None = None

    def record(self) -> dict[str, Any]:
        """The options as plain values (kept in the checkpoint and the model file)."""
        out = asdict(self)
        out["events"] = [[a.isoformat(), b.isoformat()] for a, b in self.events]
        out["train_years"] = sorted(self.train_years)
        out["val_years"] = sorted(self.val_years)
        out["peak_los_m"] = list(self.peak_los_m)
        return out


def _check(opts: BlockTrainOptions) -> None:
    if opts.train_years & opts.val_years:
        raise InputError(f"--train-years and --val-years share "
                         f"{sorted(opts.train_years & opts.val_years)}: validation must be "
                         "held out of training (blocks of time)")
    for name, value, low in (("--steps", opts.steps, 1), ("--eval-every", opts.eval_every, 1),
                             ("--sources", opts.sources, len(KINDS)),
                             ("--batch-size", opts.batch_size, 2),
                             ("--n-inject", opts.n_inject, 2), ("--width", opts.width, 1)):
        if value < low:
            raise InputError(f"{name} must be at least {low}, got {value}")
    if opts.eval_every > opts.steps:
        raise InputError(f"--eval-every ({opts.eval_every}) must not exceed --steps "
                         f"({opts.steps}): the network is chosen at those steps")
    if not (opts.lr > 0 and math.isfinite(opts.lr)):
        raise InputError(f"--lr must be a positive number, got {opts.lr}")
    lo, hi = opts.peak_los_m
    if not (0 < lo <= hi <= 10.0):
        raise InputError(f"--peak-los-m must be MIN,MAX with 0 < MIN <= MAX <= 10 metres, "
                         f"got {lo},{hi}")
    for flag, share in (("--unwrap-fraction", opts.unwrap_fraction),
                        ("--incoherent-fraction", opts.incoherent_fraction)):
        if not 0.0 <= share <= 1.0:
            raise InputError(f"{flag} must lie in [0, 1], got {share}")


@dataclass
class _Data:
    """Block means of the training noise, the heights and the source patterns."""

    noise: list[NDArray[np.float64]]
    heights: NDArray[np.float64] | None
    units: NDArray[np.float64]
    window: tuple[int, int]
    unwrap: NDArray[np.float64] | None = None
    incoherent: NDArray[np.bool_] | None = None


def _training_data(epochs: Sequence[NoiseEpoch], factor: int,
                   heights: NDArray[np.floating] | None, pixel_m: tuple[float, float],
                   rng: np.random.Generator, n_sources: int) -> _Data:
    chained = sorted(spans(epochs, 3), key=lambda span: (span[1], span[0]))
    noise = [block_mean(span_map(epochs, i, k), factor) for i, k in chained]
    ny, nx = noise[0].shape
    window = (min(ny, WINDOW_BLOCKS), min(nx, WINDOW_BLOCKS))
    shape = (window[0] * factor, window[1] * factor)
    xy = frame_xy(shape, pixel_m)
    units = []
    for k in range(n_sources):
        kind = KINDS[k % len(KINDS)]
        if kind == "mogi":
            unit = draw_mogi_injection(rng, shape, pixel_m).unit_los.astype(np.float64)
        else:
            unit = source_unit_los(rng, kind, xy, JITTER_M)
        units.append(np.nan_to_num(block_mean(unit, factor)))
    return _Data(noise, None if heights is None else block_mean(heights, factor),
                 np.stack(units), window)


def _unwrap_patterns(rng: np.random.Generator, n: int, window: tuple[int, int],
                     factor: int) -> NDArray[np.float64]:
    """Block means of ``n`` unwrapping errors on a window: islands and cuts in turn."""
    shape = (window[0] * factor, window[1] * factor)
    return np.stack([block_mean(unwrapping_errors(
        shape, rng, SENTINEL1.wavelength_m, n_cuts=k % 2, n_islands=1 - k % 2), factor)
        for k in range(n)])


def _incoherent_patterns(rng: np.random.Generator, n: int, window: tuple[int, int],
                         factor: int, pixel_m: tuple[float, float]) -> NDArray[np.bool_]:
    """``n`` block masks (True = invalid) of a window: excursion sets and bands in turn,
    drawn on its pixels and made blocks as a map's NaN are (:func:`block_mean`)."""
    shape = (window[0] * factor, window[1] * factor)
    pixel = float(min(pixel_m))
    out = []
    for k in range(n):
        if k % 2 == 0:
            mask = excursion_mask(shape, pixel, rng, float(rng.uniform(*INCOHERENT_AREA)),
                                  length_m=float(rng.uniform(500.0, 3000.0)))
        else:
            mask = band_mask(shape, pixel, rng, width_m=float(rng.uniform(1000.0, 6000.0)),
                             meander_m=float(rng.uniform(0.0, 3000.0)))
        out.append(~np.isfinite(block_mean(np.where(mask, np.nan, 0.0), factor)))
    return np.stack(out)


def _batch(rng: np.random.Generator, n: int, data: _Data, opts: BlockTrainOptions
           ) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    wy, wx = data.window
    for _ in range(n):
        b = data.noise[int(rng.integers(len(data.noise)))]
        r = int(rng.integers(b.shape[0] - wy + 1))
        c = int(rng.integers(b.shape[1] - wx + 1))
        b = b[r:r + wy, c:c + wx] * rng.choice([-1.0, 1.0]) * rng.uniform(0.7, 1.4)
        h = None if data.heights is None else data.heights[r:r + wy, c:c + wx]
        label = rng.random() < 0.5
        if label:
            lo, hi = opts.peak_los_m
            peak = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            b = b + peak * rng.choice([-1.0, 1.0], p=[0.3, 0.7]) * data.units[
                int(rng.integers(len(data.units)))]
        if data.unwrap is not None and rng.random() < opts.unwrap_fraction:
            b = b + data.unwrap[int(rng.integers(len(data.unwrap)))]
        if data.incoherent is not None and rng.random() < opts.incoherent_fraction:
            b = np.where(data.incoherent[int(rng.integers(len(data.incoherent)))], np.nan, b)
        try:
            x = window_channels(b, h)
        except InputError:  # a mostly incoherent crop: drawn again next step
            continue
        x = np.rot90(x, int(rng.integers(4)), axes=(1, 2))
        if rng.random() < 0.5:
            x = x[:, :, ::-1]
        xs.append(np.ascontiguousarray(x))
        ys.append(float(label))
    if len(set(ys)) < 2:
        raise InputError("block training: a batch without both classes; the frame's quiet "
                         "maps are mostly incoherent")
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys)


@dataclass
class _Validation:
    """The validation years' quiet increments and their injected copies."""

    quiet: list[NDArray[np.float32]]
    injected: dict[float, list[NDArray[np.float32]]]
    #: The quiet map each injected map of an amplitude was made from.
    pairs: list[int]

    @classmethod
    def draw(cls, epochs: Sequence[NoiseEpoch], shape: tuple[int, int],
             pixel_m: tuple[float, float], seed: int, n: int) -> _Validation:
        rng = np.random.default_rng(seed)
        chosen = [int(i) for i in rng.choice(len(epochs), size=n, replace=n > len(epochs))]
        sources = [(i, draw_mogi_injection(rng, shape, pixel_m)) for i in chosen]
        return cls([e.displacement_m for e in epochs],
                   {a: [epochs[i].displacement_m + s.scaled(a / 100.0) for i, s in sources]
                    for a in VAL_AMPLITUDES_CM}, chosen)

    def gapped(self, seed: int, pixel_m: tuple[float, float]) -> _Validation:
        """These maps, each with an incoherent region of a real shape (an excursion set
        over 10-60% of the map, 0.5-3 km regions, ``default_rng(seed)``): one region per
        quiet map, which its injected copies share."""
        rng = np.random.default_rng(seed)
        shape = np.shape(self.quiet[0])
        gaps = [excursion_mask(shape, float(min(pixel_m)), rng, float(rng.uniform(0.1, 0.6)),
                               length_m=float(rng.uniform(500.0, 3000.0)))
                for _ in self.quiet]

        def gapped(m: NDArray[np.float32], k: int) -> NDArray[np.float32]:
            return np.where(gaps[k], np.nan, m).astype(np.float32)

        return _Validation(
            [gapped(m, k) for k, m in enumerate(self.quiet)],
            {a: [gapped(m, k) for m, k in zip(maps, self.pairs, strict=True)]
             for a, maps in self.injected.items()}, list(self.pairs))

    def with_gaps(self, seed: int, pixel_m: tuple[float, float]) -> _Validation:
        """These maps and as many again with gaps (:meth:`gapped`), so that a network
        trained on gaps is chosen on them too."""
        other = self.gapped(seed, pixel_m)
        return _Validation(self.quiet + other.quiet,
                           {a: maps + other.injected[a] for a, maps in self.injected.items()},
                           self.pairs + other.pairs)

    def score(self, detector: BlockDetector) -> tuple[NDArray[np.float64],
                                                       dict[float, NDArray[np.float64]]]:
        def logit(m: NDArray[np.floating]) -> float:
            return max(w[2] for w in detector.window_logits(m))

        return (np.array([logit(m) for m in self.quiet]),
                {a: np.array([logit(m) for m in v]) for a, v in self.injected.items()})


def _summary(quiet: NDArray[np.float64], injected: dict[float, NDArray[np.float64]],
             calibration: BlockCalibration | None = None) -> dict[str, Any]:
    """AUC (2 cm and more); with a calibration, the false-alarm rate and recall at P > 0.5."""
    strong = np.concatenate([v for a, v in injected.items() if a >= 2.0])
    out: dict[str, Any] = {"auc_ge_2cm": roc_auc(
        np.r_[quiet, strong], np.r_[np.zeros(quiet.size), np.ones(strong.size)])}
    if calibration is not None:
        t = calibration.threshold
        out["fpr"] = float(np.mean(quiet > t))
        out["recall"] = {f"{a:g}": float(np.mean(v > t)) for a, v in injected.items()}
    return out


def _save_checkpoint(path: Path, opts: BlockTrainOptions, net: BlockNet,
                     opt: torch.optim.Optimizer, rng: np.random.Generator, step: int,
                     history: list[dict[str, Any]], best: dict[str, Any]) -> None:
    payload = {"format": CHECKPOINT_FORMAT, "settings": json.dumps(opts.record()),
               "net": net.state_dict(), "optimizer": opt.state_dict(),
               "rng": json.dumps(rng.bit_generator.state), "step": step,
               "history": json.dumps(history), "best_step": best["step"],
               "best_auc": best["auc"], "best_state": best["state"]}
    try:
        with atomic_write(path) as fh:
            torch.save(payload, fh)
    except OSError as exc:
        raise ModelError(f"cannot write checkpoint {str(path)!r}: {exc}") from exc


def _load_checkpoint(path: str, opts: BlockTrainOptions) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"checkpoint {path!r} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a bad file
        raise ModelError(f"checkpoint {path!r} is corrupt or not a checkpoint: "
                         f"{type(exc).__name__}: {exc}") from None
    keys = ("settings", "net", "optimizer", "rng", "step", "history", "best_step",
            "best_auc", "best_state")
    if (not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT
            or any(k not in payload for k in keys)):
        raise ModelError(f"checkpoint {path!r} is not a block-detector checkpoint (format "
                         f"{CHECKPOINT_FORMAT!r} with {', '.join(keys)})")
    stored = json.loads(payload["settings"])
    now = opts.record()
    differ = [k for k in RESUME_KEYS if stored.get(k) != now.get(k)]
    if differ:
        raise InputError(f"checkpoint {path!r} was written with other options: "
                         + ", ".join(f"{k} {stored.get(k)!r} (now {now.get(k)!r})"
                                     for k in differ))
    return dict(payload)


def fit_calibration(net: BlockNet, epochs: Sequence[NoiseEpoch], bank: NoiseBank, frame: str,
                    years: Collection[int], seed: int, n_inject: int
                    ) -> tuple[BlockCalibration, dict[str, Any]]:
    """The calibration of ``net`` on quiet ``epochs`` of a frame and ``n_inject`` of them
    with a Mogi source of each of :data:`VAL_AMPLITUDES_CM` (``evaluate real``'s draws,
    ``default_rng(seed)``): the conformal 95% quantile of the quiet logits, the Platt slope
    through it and the slope above it
    (:func:`~monitor.science.detect.blocks.fit_slope_above`); and its figures on them.

    Raises:
        InputError: fewer than :data:`MIN_VAL_MAPS` quiet epochs.
    """
    if len(epochs) < MIN_VAL_MAPS:
        raise InputError(f"frame {frame}: {len(epochs)} quiet products in the calibration "
                         f"years {sorted(years)}; at least {MIN_VAL_MAPS} needed")
    grid = bank.grid
    validation = _Validation.draw(epochs, grid.shape, grid.pixel_m, seed, n_inject)
    quiet, injected = validation.score(BlockDetector(net, BlockCalibration(0.0, 1.0),
                                                     grid.pixel_m, bank.dem))
    threshold = conformal_quantile(quiet)
    positives = np.concatenate(list(injected.values()))
    logits = np.r_[quiet, positives]
    labels = np.r_[np.zeros(quiet.size), np.ones(positives.size)]
    slope = fit_slope(logits, labels, threshold)
    calibration = BlockCalibration(threshold, slope, {
        "frame": frame, "years": sorted(years), "quiet_maps": int(quiet.size),
        "injected_maps": int(positives.size), "amplitudes_cm": list(VAL_AMPLITUDES_CM),
        "seed": seed}, fit_slope_above(logits, labels, threshold, slope))
    return calibration, _summary(quiet, injected, calibration)


def run_block_training(opts: BlockTrainOptions) -> dict[str, Any]:
    """Train, choose the step, calibrate and write the block detector (module docstring).

    Returns:
        A summary: the model file, its sha256, the step kept and the validation figures.

    Raises:
        InputError: bad options, overlapping years, or too few quiet maps in a block.
        DatasetError: the archive or frame cannot be read.
        ModelError: a checkpoint or model file that cannot be read or written.
    """
    _check(opts)
    start = time.perf_counter()
    set_threads(opts.threads)
    torch.manual_seed(opts.seed)
    settings = load_settings(opts.config)
    bank = load_noise_bank(opts.archive, opts.frame, settings, events=opts.events,
                           years=opts.train_years | opts.val_years)
    train = [e for e in bank.epochs if in_years((e.date1, e.date2), opts.train_years)]
    val = [e for e in bank.epochs if in_years((e.date1, e.date2), opts.val_years)]
    for name, maps, years, need in (("training", train, opts.train_years, MIN_MAPS),
                                    ("validation", val, opts.val_years, MIN_VAL_MAPS)):
        if len(maps) < need:
            raise InputError(f"frame {opts.frame}: {len(maps)} quiet products in the "
                             f"{name} years {sorted(years)}; at least {need} needed")
    grid = bank.grid
    factor = block_factor(grid.pixel_m, BLOCK_M)
    rng = np.random.default_rng(opts.seed)
    data = _training_data(train, factor, bank.dem, grid.pixel_m, rng, opts.sources)
    if opts.unwrap_fraction > 0:
        data.unwrap = _unwrap_patterns(rng, UNWRAP_PATTERNS, data.window, factor)
    if opts.incoherent_fraction > 0:
        data.incoherent = _incoherent_patterns(rng, INCOHERENT_PATTERNS, data.window, factor,
                                               grid.pixel_m)
    validation = _Validation.draw(val, grid.shape, grid.pixel_m, opts.seed_eval, opts.n_inject)
    if opts.incoherent_fraction > 0:  # chosen on maps with gaps too, as it was trained
        validation = validation.with_gaps(opts.seed_eval + 1, grid.pixel_m)
    net = BlockNet(opts.width)
    optimiser = torch.optim.Adam(net.parameters(), opts.lr, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"step": 0, "auc": -1.0, "state": None}
    first = 1
    checkpoint = Path(opts.checkpoint or opts.out + ".ckpt")
    if opts.resume:
        saved = _load_checkpoint(opts.resume, opts)
        net.load_state_dict(saved["net"])
        optimiser.load_state_dict(saved["optimizer"])
        rng.bit_generator.state = json.loads(saved["rng"])
        history = json.loads(saved["history"])
        best = {"step": saved["best_step"], "auc": saved["best_auc"],
                "state": saved["best_state"]}
        first = int(saved["step"]) + 1
    identity = BlockCalibration(0.0, 1.0)
    for step in range(first, opts.steps + 1):
        x, y = _batch(rng, opts.batch_size, data, opts)
        net.train()
        optimiser.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        optimiser.step()
        if step % opts.eval_every == 0 or step == opts.steps:
            quiet, injected = validation.score(BlockDetector(net, identity, grid.pixel_m,
                                                             bank.dem))
            figures = _summary(quiet, injected)
            history.append({"step": step, "loss": float(loss.item()), **figures})
            log.info("step %d of %d: loss %.3f, validation AUC >= 2 cm %.3f", step,
                     opts.steps, loss.item(), figures["auc_ge_2cm"])
            if figures["auc_ge_2cm"] > best["auc"]:
                best = {"step": step, "auc": figures["auc_ge_2cm"],
                        "state": {k: v.clone() for k, v in net.state_dict().items()}}
            _save_checkpoint(checkpoint, opts, net, optimiser, rng, step, history, best)
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    calibration, figures = fit_calibration(net, val, bank, opts.frame, opts.val_years,
                                           opts.seed_eval, opts.n_inject)
    threshold, slope = calibration.threshold, calibration.slope
    meta = {
        "version": __version__, "detector": "block network",
        # paths reduced to names: a model file must not carry the trainer's folders
        "options": {**{k: v for k, v in opts.record().items()
                       if k not in ("archive", "out", "checkpoint", "resume", "threads")},
                    "config": None if opts.config is None else Path(opts.config).name},
        "archive": Path(opts.archive).name,
        "training_maps": len(data.noise), "training_increments": len(train),
        "block_factor_px": factor, "window_blocks": list(data.window),
        "best_step": best["step"], "history": history,
        "calibration": calibration.to_meta(), "validation": figures,
    }
    sha256 = save_model(opts.out, net, meta)
    return {"model": opts.out, "sha256": sha256, "best_step": best["step"],
            "validation": figures, "threshold_logit": threshold, "slope": slope,
            "slope_above": calibration.slope_above,
            "seconds": round(time.perf_counter() - start, 1)}


@dataclass(frozen=True, kw_only=True)
class BlockCalibrateOptions:
    """What ``insar-monitor calibrate`` does with a block-detector model (its flags)."""

    archive: str
    frame: str
    years: frozenset[int]
    events: tuple[Window, ...] = ()
    seed: int = 707
    n_inject: int = 40
    check_years: frozenset[int] | None = None
    config: str | None = None
    #: A plain block-detector model file trained with gaps: the written model reads the
    #: windows with gaps through it (:mod:`~monitor.science.detect.gated_blocks`).
    gap_model: str | None = None


def _check_figures(net: BlockNet, calibrations: dict[str, BlockCalibration],
                   epochs: Sequence[NoiseEpoch], bank: NoiseBank, seed: int, n_inject: int,
                   gaps_seed: int | None = None) -> dict[str, dict[str, Any]]:
    """Each calibration's figures on other years' quiet increments and injected copies
    (the maps scored once; with ``gaps_seed``, each given an incoherent region):
    false-alarm rate, recall, AUC and the mean log-loss and Brier score of P."""
    grid = bank.grid
    maps = _Validation.draw(epochs, grid.shape, grid.pixel_m, seed, n_inject)
    if gaps_seed is not None:
        maps = maps.gapped(gaps_seed, grid.pixel_m)
    quiet, injected = maps.score(BlockDetector(net, BlockCalibration(0.0, 1.0),
                                               grid.pixel_m, bank.dem))
    logits = np.r_[quiet, np.concatenate(list(injected.values()))]
    labels = np.r_[np.zeros(quiet.size), np.ones(logits.size - quiet.size)]
    out = {}
    for name, calibration in calibrations.items():
        p = np.clip(calibration.probability(logits), 1e-6, 1 - 1e-6)
        out[name] = {**_summary(quiet, injected, calibration), "quiet_maps": int(quiet.size),
                     "log_loss": float(np.mean(-(labels * np.log(p)
                                                 + (1 - labels) * np.log(1 - p)))),
                     "brier": float(np.mean((p - labels) ** 2))}
    return out


def recalibrate_block_model(net: BlockNet, meta: dict[str, Any], opts: BlockCalibrateOptions,
                            out: str) -> dict[str, Any]:
    """Fit the block detector's calibration on a frame's quiet years
    (:func:`fit_calibration`) and write the model again with it to ``out`` (same weights,
    new checksum); with ``check_years``, report the calibration before and after on
    those years. With ``opts.gap_model``, the written model is gated
    (:class:`~monitor.science.detect.gated_blocks.GatedBlockNet`): ``net``'s coherent
    network for coherent windows and that file's network for windows with gaps, both
    calibrated on the same maps and the second's logits put on the first's scale; the
    check then reports the years held out on the same maps with gaps too.

    Raises:
        InputError: overlapping years, too few quiet products in them, a gap model that
            is gated itself.
        DatasetError: the archive or frame cannot be read.
        ModelError: the model file cannot be written, or the gap model read.
    """
    if opts.check_years and opts.years & opts.check_years:
        raise InputError(f"calibrate: --years and --check-years overlap "
                         f"({sorted(opts.years & opts.check_years)}); check on years held "
                         "out of the calibration")
    if opts.n_inject < 2:
        raise InputError(f"calibrate: need at least 2 injected maps per amplitude, got "
                         f"{opts.n_inject}")
    gap = None
    if opts.gap_model is not None:
        gap = load_block_model(opts.gap_model)
        if isinstance(gap.model, GatedBlockNet):
            raise InputError(f"calibrate: --gap-model {opts.gap_model!r} is gated itself; "
                             "give the plain network trained with --incoherent-fraction")
    settings = load_settings(opts.config)
    wanted = opts.years | (opts.check_years or frozenset())
    bank = load_noise_bank(opts.archive, opts.frame, settings, events=opts.events,
                           years=wanted)
    fit = [e for e in bank.epochs if in_years((e.date1, e.date2), opts.years)]
    new_meta = dict(meta)
    if gap is not None and isinstance(net, GatedBlockNet):
        net = net.coherent()  # its gap network replaced by the one given
    calibration, figures = fit_calibration(net, fit, bank, opts.frame, opts.years,
                                           opts.seed, opts.n_inject)
    if gap is not None:
        # the same maps: the scale is a conversion between the two networks' units
        gap_calibration, gap_figures = fit_calibration(gap.model, fit, bank, opts.frame,
                                                       opts.years, opts.seed, opts.n_inject)
        gated = gate_networks(net, gap.model, coherent_scale(calibration, gap_calibration))
        new_meta["gap_network"] = {
            "file": Path(gap.path).name, "sha256": gap.sha256, "gate": gated.gate,
            "options": gap.meta.get("options"), "best_step": gap.meta.get("best_step"),
            "calibration": gap_calibration.to_meta(), "validation": gap_figures}
        net = gated
    checks: dict[str, Any] | None = None
    if opts.check_years:
        held = [e for e in bank.epochs if in_years((e.date1, e.date2), opts.check_years)]
        if not held:
            raise InputError(f"frame {opts.frame}: no quiet product in the check years "
                             f"{sorted(opts.check_years)}")
        before = BlockCalibration.from_meta(meta.get("calibration"), "the model file")
        checks = {"years": sorted(opts.check_years),
                  **_check_figures(net, {"before": before, "after": calibration}, held, bank,
                                   opts.seed + 1, opts.n_inject)}
        if isinstance(net, GatedBlockNet):  # the same maps, each with a region of gaps
            checks["with_gaps"] = _check_figures(net, {"after": calibration}, held, bank,
                                                 opts.seed + 1, opts.n_inject,
                                                 opts.seed + 2)["after"]
    record = {"archive": Path(opts.archive).name, "frame": opts.frame,
              "events": [[a.isoformat(), b.isoformat()] for a, b in opts.events],
              "config": None if opts.config is None else Path(opts.config).name}
    new_meta.update({"calibration": calibration.to_meta(), "validation": figures,
                     "calibrated_with": record})
    sha256 = save_model(out, net, new_meta)
    return {"model": out, "sha256": sha256, "threshold_logit": calibration.threshold,
            "slope": calibration.slope, "slope_above": calibration.slope_above,
            "figures": figures, "gap_network": new_meta.get("gap_network"),
            "check": checks}

"""Calibrate a detector on real data it was not trained on (glue above the science).

``insar-monitor calibrate`` reads the quiet epochs of chosen years of a LiCSAR-layout frame
(:mod:`monitor.noise_bank`), makes map-level negatives (every span of one to
``max_span`` consecutive quiet increments, read both ways round) and as many semi-real
positives (each negative plus a generated source, :func:`monitor.science.semireal.inject`),
scores them with the network's raw per-gain maps, fits Platt scaling per gain on the
maps where that gain stands above the noise (:mod:`monitor.science.detect.calibration`),
then a last Platt scaling of the fused maxima (made as inference makes them)
and writes the model again with ``meta["calibration"]``: the same weights, a new file
and checksum. The years must be held out of training, and the years the detector is then
evaluated on held out of both.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from monitor import __version__
from monitor.config import load_settings
from monitor.errors import InputError
from monitor.event_windows import Window
from monitor.io.models import LoadedModel, save_model
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.calibration import (
    DEFAULT_NOISE_LAG_M,
    DEFAULT_NOISE_RATIO,
    Calibration,
    PlattScaling,
    fit_platt,
    lag_pixels,
    map_noise_m,
    reliability,
    usable_gains,
)
from monitor.science.detect.fusion import detect_displacement, fuse_maps
from monitor.science.semireal import inject, span_map, spans
from monitor.science.sources import SourceRanges
from monitor.science.synth import SynthRecipe, sample_rng

#: Fewest maps of each class where a gain is usable for its own fit; below it the gain is
#: fitted on every map.
MIN_PER_CLASS = 10


@dataclass(frozen=True, kw_only=True)
class CalibrationOptions:
    """What ``insar-monitor calibrate`` does (its flags; ``--help`` gives defaults)."""

    archive: str
    frame: str
    years: Collection[int] | None
    events: tuple[Window, ...]
    max_span: int = 3
    peak_los_m: tuple[float, float] = (0.015, 0.2)
    noise_ratio: float | None = DEFAULT_NOISE_RATIO
    seed: int = 0
    config: str | None = None
    check_years: Collection[int] | None = None
    plot: str | None = None


def calibration_maps(opts: CalibrationOptions) -> tuple[list[np.ndarray], np.ndarray,
                                                        dict[str, Any], float]:
    """The maps, their labels, the bank's provenance and its mean pixel size (metres)."""
    settings = load_settings(opts.config)
    bank = load_noise_bank(opts.archive, opts.frame, settings, events=opts.events,
                           years=opts.years)
    pixel_m = 0.5 * (bank.grid.pixel_m[0] + bank.grid.pixel_m[1])
    synth = SynthRecipe(peak_los_m=opts.peak_los_m,
                        sources=SourceRanges(deflation_probability=0.5))
    maps: list[np.ndarray] = []
    labels: list[int] = []
    for i, (start, k) in enumerate(spans(bank.epochs, opts.max_span)):
        noise = span_map(bank.epochs, start, k)
        for sign in (1.0, -1.0):
            rng = sample_rng(opts.seed, 2 * i + (sign < 0))
            maps.append(sign * noise)
            labels.append(0)
            positive, _ = inject(sign * noise, rng, synth, pixel_m)
            maps.append(positive)
            labels.append(1)
    return maps, np.array(labels), bank.source, pixel_m


def calibrate(loaded: LoadedModel, opts: CalibrationOptions, out: str) -> dict[str, Any]:
    """Fit the calibration, write the model with it to ``out``; return the summary.

    Raises:
        InputError: bad options or no quiet epoch in the years; ModelError / DatasetError
            from the readers.
    """
    if opts.max_span < 1:
        raise InputError(f"--max-span must be at least 1, got {opts.max_span}")
    if opts.noise_ratio is not None and not (opts.noise_ratio > 0
                                             and math.isfinite(opts.noise_ratio)):
        raise InputError(f"--noise-ratio must be a positive number, got {opts.noise_ratio}")
    settings = load_settings(opts.config)
    gains = tuple(settings.science.gains)
    fringe = settings.science.fringe_spacing_m
    maps, y, source, pixel_m = calibration_maps(opts)
    lag = lag_pixels(pixel_m, DEFAULT_NOISE_LAG_M)
    raw = np.empty((len(maps), len(gains)))
    usable = np.zeros((len(maps), len(gains)), bool)
    prob_maps: list[dict[float, np.ndarray]] = []
    for i, x in enumerate(maps):
        det = detect_displacement(loaded.model, x, gains=gains, fringe_spacing_m=fringe,
                                  keep_maps=True)
        assert det.maps_by_gain is not None
        prob_maps.append(det.maps_by_gain)
        raw[i] = [det.p_by_gain[g] for g in gains]
        used = (gains if opts.noise_ratio is None
                else usable_gains(gains, map_noise_m(x, lag), fringe, opts.noise_ratio))
        usable[i] = [g in used for g in gains]
    per_gain: dict[float, PlattScaling] = {}
    fits: dict[str, Any] = {}
    for j, g in enumerate(gains):
        sel = usable[:, j]
        if min(int((y[sel] == 1).sum()), int((y[sel] == 0).sum())) < MIN_PER_CLASS:
            sel = np.ones(len(y), bool)
        per_gain[g] = fit_platt(raw[sel, j], y[sel])
        fits[f"{g:g}"] = {"maps": int(sel.sum()), "usable_maps": int(usable[:, j].sum()),
                          "slope": per_gain[g].slope, "intercept": per_gain[g].intercept}
    fitted_on = {**source, "max_span": opts.max_span, "peak_los_m": list(opts.peak_los_m),
                 "seed": opts.seed, "negatives": int((y == 0).sum()),
                 "positives": int((y == 1).sum()), "code_version": __version__}
    per_gain_only = Calibration(per_gain, opts.noise_ratio, DEFAULT_NOISE_LAG_M, fitted_on)
    # The fused maxima exactly as inference makes them (calibrated maps, gains kept, mean).
    fused = np.array([
        fuse_maps({g: per_gain_only.apply(g, m) for g, m in prob_maps[i].items()},
                  fuse_gains=[g for g, u in zip(gains, usable[i], strict=True) if u]).p_fused
        for i in range(len(y))])
    last = fit_platt(fused, y)
    calibration = replace(per_gain_only, fused=last)
    meta = {**loaded.meta, "calibration": calibration.to_meta(),
            "calibrated_from": {"path": loaded.path, "sha256": loaded.sha256}}
    sha = save_model(out, loaded.model, meta)
    summary: dict[str, Any] = {
        "out": out, "sha256": sha, "maps": len(y), "per_gain": fits,
        "fused": {"slope": last.slope, "intercept": last.intercept},
        "in_sample": _calibration_check(last.apply(fused), y, _years(opts.years))}
    if opts.check_years is not None:
        # Maps of other years drawn the same way (other seed), scored as inference does.
        held = replace(opts, years=opts.check_years, seed=opts.seed + 1)
        check_maps, check_y, _, _ = calibration_maps(held)
        p = np.array([detect_displacement(loaded.model, x, gains=gains,
                                          fringe_spacing_m=fringe, calibration=calibration,
                                          pixel_m=pixel_m).p_fused for x in check_maps])
        summary["held_out"] = _calibration_check(p, check_y, _years(opts.check_years))
    if opts.plot is not None:
        from monitor.figures.evaluation import plot_reliability

        curves = {f"{c['years']} ({kind})": {"reliability": {
            "ece": c["ece"], "bins": [dict(zip(("lo", "hi", "n", "mean_p", "positive_fraction"),
                                              b, strict=True)) for b in c["bins"]]}}
            for kind, c in (("fitted on", summary["in_sample"]),
                            ("held out", summary.get("held_out"))) if c is not None}
        plot_reliability(opts.plot, {"summary": curves})
        summary["plot"] = opts.plot
    return summary


def _years(years: Collection[int] | None) -> str:
    return "all years" if years is None else ", ".join(str(y) for y in sorted(years))


def _calibration_check(p: np.ndarray, y: np.ndarray, years: str) -> dict[str, Any]:
    """Decisions at 0.5 and the reliability of calibrated fused P on maps with labels."""
    bins, ece = reliability(p, y)
    return {"years": years, "maps": len(y), "fpr_at_0.5": float(np.mean(p[y == 0] > 0.5)),
            "recall_at_0.5": float(np.mean(p[y == 1] > 0.5)), "ece": ece,
            "bins": [[b.lo, b.hi, b.n, b.mean_p, b.positive_fraction] for b in bins]}

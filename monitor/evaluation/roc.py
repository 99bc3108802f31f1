"""Held-out ROC/AUC of detectors and their false-positive rate on atmosphere only.

A held-out 2-class set (S+T vs D+S+T) drawn with another seed and wider ranges than the
training recipe (peak LOS, turbulence, decorrelation; S over the real packaged DEMs
instead of synthetic edifices), scored by the fused P_max: ROC, AUC (fused and per gain),
precision/recall at P > 0.5, recall by peak LOS; and an atmosphere-only set with strong
stratification over tall edifices whose flagged fraction is the false-positive rate. Each
image is also scored after the detector's second look with its DEM (column
:data:`SECOND_LOOK`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor import __version__
from monitor.errors import InputError
from monitor.evaluation.grids import dem_pool
from monitor.evaluation.runs import EvaluationOptions, Models, model_header, progress, setup
from monitor.figures.evaluation import plot_roc
from monitor.io.reports import roc_markdown, write_json
from monitor.science.detect.evaluation import confusion_at, recall_by_bin, roc_curve
from monitor.science.detect.fusion import CnnDetector
from monitor.science.detect.patching import PatchConfig
from monitor.science.detect.second_look import second_look
from monitor.science.second_look_settings import SecondLookSettings
from monitor.science.synth import SynthRecipe, dataset_sample, make_sample, sample_rng

#: Peak-LOS bin edges (cm) for recall by amplitude.
PEAK_BINS_CM = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0, math.inf)


@dataclass(frozen=True, kw_only=True)
class RocOptions(EvaluationOptions):
    """``evaluate roc``: the held-out and atmosphere-only sets.

    Attributes:
        n: Held-out images, both classes.
        n_atmosphere: Atmosphere-only images with strong stratification.
        peak_los_cm: Peak |LOS| range of D, log-uniform, cm.
        turbulent_sigma_mm: T standard deviation range, mm.
        turbulent_length_km: T e-folding length range, km.
        decorrelation_fraction: Fraction of images with decorrelation.
        dems: Packaged DEMs under S in the held-out set.
        atmosphere_dems: Packaged DEMs under the strong S of the atmosphere-only set.
        second_look_radius_km: Disc around the detected peak left out of the second
            look's fit, km.
    """

    n: int
    n_atmosphere: int
    peak_los_cm: tuple[float, float]
    turbulent_sigma_mm: tuple[float, float]
    turbulent_length_km: tuple[float, float]
    decorrelation_fraction: float
    dems: tuple[str, ...]
    atmosphere_dems: tuple[str, ...]
    second_look_radius_km: float


def _roc_recipes(opts: RocOptions,
                 coherence_threshold: float) -> tuple[SynthRecipe, SynthRecipe]:
    lo, hi = opts.peak_los_cm
    s_lo, s_hi = opts.turbulent_sigma_mm
    l_lo, l_hi = opts.turbulent_length_km
    if not (lo > 0 and s_lo >= 0 and l_lo > 0):
        raise InputError("--peak-los-cm and --turbulent-length-km must be > 0 and "
                         "--turbulent-sigma-mm >= 0")
    held_out = SynthRecipe(
        shape=(opts.size, opts.size), pixel_m=opts.pixel_m,
        peak_los_m=(lo * 1e-2, hi * 1e-2), stratified_strength="mixed",
        turbulent_sigma_m=(s_lo * 1e-3, s_hi * 1e-3),
        turbulent_length_m=(l_lo * 1e3, l_hi * 1e3),
        decorrelation_fraction=opts.decorrelation_fraction,
        coherence_threshold=coherence_threshold)
    return held_out, replace(held_out, peak_los_m=None, stratified_strength="strong")


def _roc_statement(opts: RocOptions, held_out: SynthRecipe,
                   gains: tuple[float, ...], look: SecondLookSettings) -> list[str]:
    return [
        f"held-out set: {opts.n} images of {opts.size} x {opts.size} pixels of "
        f"{opts.pixel_m:g} m, classes alternate S+T / D+S+T, sample i drawn with "
        f"default_rng([{opts.seed}, i]); all source kinds, incidence 0-45 deg",
        f"D rescaled to a log-uniform peak |LOS| of {opts.peak_los_cm[0]:g}-"
        f"{opts.peak_los_cm[1]:g} cm (training: 0.5-30 cm); T sigma "
        f"{opts.turbulent_sigma_mm[0]:g}-{opts.turbulent_sigma_mm[1]:g} mm, L "
        f"{opts.turbulent_length_km[0]:g}-{opts.turbulent_length_km[1]:g} km; decorrelation "
        f"in {100 * opts.decorrelation_fraction:g}% of images; S weak or strong (k1 0-0.6 or "
        f"1-3 cm/km) over random crops of the SRTM DEMs {', '.join(opts.dems)}",
        f"atmosphere-only set: {opts.n_atmosphere} S+T images, strong stratification (k1 1-3 "
        f"cm/km) over {', '.join(opts.atmosphere_dems)}, drawn with "
        f"default_rng([{opts.seed + 1}, i]); false-positive rate = fraction with fused P > "
        f"0.5",
        f"score = fused P_max at gains {', '.join(f'{g:g}' for g in gains)}; method "
        f"{opts.method}, coverage {opts.coverage}",
        f"{SECOND_LOOK}: the detector's second look with the image's DEM: a flagged image "
        f"is corrected by the band-filtered phase-elevation fit (order {look.order}, band "
        f"{look.band_sigma_m:g} m, outside {look.exclusion_radius_m / 1e3:g} km of the "
        "detected peak and of the largest smoothed anomaly, and outside the flagged "
        "region) and scored again; its fused P_max decides",
    ]


#: Smallest peak |LOS| (cm) of the positives kept for the AUC-by-amplitude figures: all,
#: and from the fused thresholds of the threshold protocol (about 1 cm without atmosphere,
#: 2 cm with T) and the issue's goal with S and T (3.5 cm) up.
AUC_MIN_PEAKS_CM = (0.0, 1.0, 2.0, 3.5)
#: Name of the column scored after the detector's second look with the DEM.
SECOND_LOOK = "fused+DEM"


def _score_with_look(models: Models, x: NDArray[np.float32],
                     dem: NDArray[np.float32] | None, gains: tuple[float, ...],
                     opts: RocOptions, config: PatchConfig, fringe_spacing_m: float,
                     look: SecondLookSettings, seconds: dict[str, float],
                     look_seconds: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Fused scores of every model, and the fused P after the second look with ``dem``."""
    out = {}
    for label, m in models:
        detector = CnnDetector(m.model, gains=gains, method=opts.method, config=config,
                               fringe_spacing_m=fringe_spacing_m, calibration=m.calibration,
                               pixel_m=opts.pixel_m)
        start = time.perf_counter()
        det = detector.detect(x)
        seconds[label] += time.perf_counter() - start
        rec: dict[str, Any] = {"p_fused": det.p_fused,
                               "p_by_gain": {f"{g:g}": p for g, p in det.p_by_gain.items()}}
        if dem is None:
            rec[SECOND_LOOK], rec["second_look_reason"] = det.p_fused, "no DEM"
        else:
            start = time.perf_counter()
            second = second_look(x, dem, detector, opts.pixel_m, look, raw=det)
            look_seconds[label] += time.perf_counter() - start
            rec[SECOND_LOOK] = second.final.p_fused
            if second.reason is not None:
                rec["second_look_reason"] = second.reason
        out[label] = rec
    return out


def _column(rec: dict[str, Any], col: str) -> float:
    if col == "fused":
        return float(rec["p_fused"])
    if col == SECOND_LOOK:
        return float(rec[SECOND_LOOK])
    return float(rec["p_by_gain"][col.removeprefix("mu=")])


def _auc_by_min_peak(scores: NDArray[np.float64], y: NDArray[np.int64],
                     peaks_cm: NDArray[np.float64]) -> list[dict[str, Any]]:
    out = []
    for low in AUC_MIN_PEAKS_CM:
        keep = (y == 0) | (peaks_cm >= low)
        n_pos = int((keep & (y == 1)).sum())
        auc = roc_curve(scores[keep], y[keep]).auc if n_pos else math.nan
        out.append({"min_peak_cm": low, "n_positives": n_pos, "auc": auc})
    return out


def run_roc(opts: RocOptions) -> list[str]:
    """Score the held-out and atmosphere-only sets with every model; write the report.

    Writes ``detection_roc.json``, ``.md`` and ``.png`` into ``opts.out``; returns one
    summary line per model.
    """
    if opts.n < 2 or opts.n_atmosphere < 0:
        raise InputError(f"--n must be at least 2 and --n-atmosphere >= 0, got {opts.n}, "
                         f"{opts.n_atmosphere}")
    if not 0 <= opts.decorrelation_fraction <= 1:
        raise InputError(f"--decorrelation-fraction must lie in [0, 1], got "
                         f"{opts.decorrelation_fraction}")
    models, gains, config, settings, out = setup(opts)
    look = settings.correction.second_look(opts.second_look_radius_km * 1e3)
    fringe = settings.science.fringe_spacing_m
    held_out, atmosphere = _roc_recipes(opts, settings.science.coherence_threshold)
    pool = dem_pool(opts.dems, opts.pixel_m, opts.size)
    tall = dem_pool(opts.atmosphere_dems, opts.pixel_m, opts.size) if opts.n_atmosphere else []
    seconds = {label: 0.0 for label, _ in models}
    look_seconds = {label: 0.0 for label, _ in models}
    labels, peaks = [], []
    scores: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in models}
    for i in progress(range(opts.n), opts.n, "img"):
        s = dataset_sample(opts.seed, i, held_out, "2class", pool)
        labels.append(s.label)
        peaks.append(float(s.meta.get("peak_los_m", 0.0)) if s.label else 0.0)
        for label, sc in _score_with_look(models, s.x, s.dem, gains, opts, config, fringe,
                                          look, seconds, look_seconds).items():
            scores[label].append(sc)
    atm_scores: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in models}
    for i in progress(range(opts.n_atmosphere), opts.n_atmosphere, "img"):
        s = make_sample(sample_rng(opts.seed + 1, i), atmosphere, "2class", 0, tall)
        for label, sc in _score_with_look(models, s.x, s.dem, gains, opts, config, fringe,
                                          look, seconds, look_seconds).items():
            atm_scores[label].append(sc)
    y = np.array(labels)
    if y.min() == y.max():
        raise InputError(f"--n {opts.n} gives one class only; use at least 2")
    columns = [f"mu={g:g}" for g in gains] + ["fused", SECOND_LOOK]
    peaks_cm = np.array(peaks) * 100.0
    report_models = []
    for label, m in models:
        per_col = {col: np.array([_column(sc, col) for sc in scores[label]])
                   for col in columns}
        curves = {col: roc_curve(v, y) for col, v in per_col.items()}
        pos = y == 1
        n_images = opts.n + opts.n_atmosphere
        deciding: dict[str, dict[str, Any]] = {}
        for col in ("fused", SECOND_LOOK):
            conf = confusion_at(per_col[col], y)
            flags = per_col[col] > conf.threshold
            atm = np.array([_column(sc, col) for sc in atm_scores[label]])
            deciding[col] = {
                "confusion": {**asdict(conf), "precision": conf.precision,
                              "recall": conf.recall, "accuracy": conf.accuracy,
                              "false_positive_rate": conf.false_positive_rate},
                "recall_by_peak": [{"low_cm": a, "high_cm": b, "n": n, "recall": r}
                                   for a, b, n, r in recall_by_bin(peaks_cm[pos], flags[pos],
                                                                   PEAK_BINS_CM)],
                "auc_by_min_peak": _auc_by_min_peak(per_col[col], y, peaks_cm),
                "atmosphere": {"n": int(atm.size), "flagged": int((atm > conf.threshold).sum()),
                               "false_positive_rate": float((atm > conf.threshold).mean())
                               if atm.size else math.nan,
                               "p_fused": atm.tolist()},
            }
        report_models.append({
            **model_header(label, m, seconds[label]),
            "seconds_per_image": seconds[label] / n_images,
            "second_look_seconds_per_image": look_seconds[label] / n_images,
            "second_look_not_possible": sum("second_look_reason" in sc for sc in
                                            scores[label] + atm_scores[label]),
            "auc": {col: c.auc for col, c in curves.items()},
            "roc": {col: {"fpr": c.fpr.tolist(), "tpr": c.tpr.tolist(),
                          "thresholds": c.thresholds.tolist()} for col, c in curves.items()},
            **deciding["fused"],
            "second_look": deciding[SECOND_LOOK],
            "scores": {"label": labels, "peak_los_m": peaks, **{
                col: v.tolist() for col, v in per_col.items()}},
        })
    report = {
        "kind": "roc", "code_version": __version__,
        "sets": {"seed": opts.seed, "n": opts.n, "n_atmosphere": opts.n_atmosphere,
                 "held_out_recipe": asdict(held_out), "atmosphere_recipe": asdict(atmosphere),
                 "dems": list(opts.dems), "atmosphere_dems": list(opts.atmosphere_dems),
                 "gains": list(gains), "method": opts.method, "coverage": opts.coverage,
                 "second_look": asdict(look)},
        "statement": _roc_statement(opts, held_out, gains, look),
        "columns": columns, "models": report_models,
    }
    write_json(out / "detection_roc.json", report)
    (out / "detection_roc.md").write_text(roc_markdown(report))
    plot_roc(out / "detection_roc.png", report)
    lines = []
    for model in report_models:
        parts = []
        for col, block in (("fused", model), (SECOND_LOOK, model["second_look"])):
            atm = block["atmosphere"]
            parts.append(f"{col}: AUC {model['auc'][col]:.4f}, precision "
                         f"{block['confusion']['precision']:.3f}, recall "
                         f"{block['confusion']['recall']:.3f}, atmosphere FP rate "
                         + ("-" if atm["n"] == 0 else f"{atm['false_positive_rate']:.3f}"))
        lines.append(f"{model['label']}: " + "; ".join(parts)
                     + f" ({model['seconds']:.1f} s)")
    return lines



"""Tropospheric correction of flagged maps: atmosphere-only flags cleared, true positives kept.

Atmosphere-only and deformation cases with strong stratification over tall edifices (see
:mod:`monitor.science.detect.atmosphere_eval`); every flagged case is corrected (empirical
phase-elevation fit; simulated weather-model delays) and scored again.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from monitor import __version__
from monitor.errors import InputError
from monitor.evaluation.grids import dem_pool, dem_window
from monitor.evaluation.runs import EvaluationOptions, model_header, progress, setup
from monitor.io.atmosphere_report import atmosphere_markdown
from monitor.io.models import LoadedModel
from monitor.io.reports import write_json
from monitor.science.detect.atmosphere_eval import METHODS as ATMOSPHERE_METHODS
from monitor.science.detect.atmosphere_eval import (
    AtmosphereEvalConfig,
    draw_case,
    evaluate_case,
    summarise,
)
from monitor.science.detect.fusion import Detection, detect_displacement


@dataclass(frozen=True, kw_only=True)
class AtmosphereOptions(EvaluationOptions):
    """``evaluate atmosphere``: the cases, the fits and the simulated weather model.

    Attributes:
        n: Cases per class (atmosphere only; deformation).
        dems: Packaged DEMs (tall edifices), used in turn.
        target_radius_km: Target disc on the summit, km.
        peak_exclusion_radii: Disc around the detected peak left out of the fit, target
            radii.
        fit_exclusion_radii: Disc on the summit left out of the fit, target radii.
        band_sigma_m: The fit's band: below this Gaussian sigma, metres; 0 = plain fit.
        order: Order in height of the fit: 1, 2 or ``"auto"``.
        plain_exclusion_radii: Disc left out of the plain linear fit, target radii.
        incidence_deg: Incidence range, degrees.
        turbulent_sigma_mm: T standard deviation range, mm.
        turbulent_length_km: T e-folding length range, km.
        peak_los_cm: Peak |LOS| range of D, log-uniform, cm.
        depth_km: Mogi depth range, km.
        wm_scale_error: Weather model: relative error on S, standard deviation.
        wm_error_mm: Weather model: per-date smooth error, mm of zenith delay.
        wm_error_length_km: Weather model: e-folding length of that error, km.
    """

    n: int
    dems: tuple[str, ...]
    target_radius_km: float
    peak_exclusion_radii: float
    fit_exclusion_radii: float
    band_sigma_m: float
    order: Literal[1, 2, "auto"]
    plain_exclusion_radii: float
    incidence_deg: tuple[float, float]
    turbulent_sigma_mm: tuple[float, float]
    turbulent_length_km: tuple[float, float]
    peak_los_cm: tuple[float, float]
    depth_km: tuple[float, float]
    wm_scale_error: float
    wm_error_mm: float
    wm_error_length_km: float


def _atmosphere_config(opts: AtmosphereOptions) -> AtmosphereEvalConfig:
    return AtmosphereEvalConfig(
        size=opts.size, pixel_m=opts.pixel_m, target_radius_m=opts.target_radius_km * 1e3,
        peak_exclusion_radii=opts.peak_exclusion_radii,
        fit_exclusion_radii=opts.fit_exclusion_radii, band_sigma_m=opts.band_sigma_m,
        order=opts.order, plain_exclusion_radii=opts.plain_exclusion_radii,
        incidence_deg=opts.incidence_deg,
        turbulent_sigma_m=(opts.turbulent_sigma_mm[0] * 1e-3, opts.turbulent_sigma_mm[1] * 1e-3),
        turbulent_length_m=(opts.turbulent_length_km[0] * 1e3,
                            opts.turbulent_length_km[1] * 1e3),
        peak_los_m=(opts.peak_los_cm[0] * 1e-2, opts.peak_los_cm[1] * 1e-2),
        depth_m=(opts.depth_km[0] * 1e3, opts.depth_km[1] * 1e3),
        wm_scale_error=opts.wm_scale_error, wm_error_sigma_m=opts.wm_error_mm * 1e-3,
        wm_error_length_m=opts.wm_error_length_km * 1e3, seed=opts.seed)


def _atmosphere_statement(cfg: AtmosphereEvalConfig, opts: AtmosphereOptions,
                          dems: dict[str, NDArray[np.float32]],
                          gains: tuple[float, ...]) -> list[str]:
    heights = ", ".join(f"{k} {float(v.min()):.0f}-{float(v.max()):.0f} m"
                        for k, v in dems.items())
    return [
        f"{opts.n} atmosphere-only (S + T) and {opts.n} deformation (D + S + T) cases of "
        f"{cfg.size} x {cfg.size} pixels of {cfg.pixel_m:g} m over the packaged SRTM crops "
        f"({heights}), taken in turn; case i of class k drawn with default_rng([{cfg.seed}, "
        "k, i])",
        "S = -(k1 dh + k2 dh^2) / cos(incidence), strong stratification: |k1| uniform "
        "1-3 cm/km (random sign), k2 = -f k1 / (2 H), f in 0-0.5, H in 1.5-3 km; incidence "
        f"{cfg.incidence_deg[0]:g}-{cfg.incidence_deg[1]:g} deg",
        f"T: exponential covariance, sigma {1e3 * cfg.turbulent_sigma_m[0]:g}-"
        f"{1e3 * cfg.turbulent_sigma_m[1]:g} mm, L {cfg.turbulent_length_m[0] / 1e3:g}-"
        f"{cfg.turbulent_length_m[1] / 1e3:g} km; no decorrelation",
        f"D: Mogi source under the summit, depth {cfg.depth_m[0] / 1e3:g}-"
        f"{cfg.depth_m[1] / 1e3:g} km, peak |LOS| log-uniform {100 * cfg.peak_los_m[0]:g}-"
        f"{100 * cfg.peak_los_m[1]:g} cm",
        f"flag: fused P (gains {', '.join(f'{g:g}' for g in gains)}) maximum within a "
        f"{cfg.target_radius_m / 1e3:g} km disc on the summit > {cfg.threshold:g}",
        "empirical (the watch's fit): robust (Huber then Tukey IRLS) phase-elevation fit "
        f"of order {cfg.order}, "
        + (f"coefficients from the band below a Gaussian of {cfg.band_sigma_m:g} m, "
           if cfg.band_sigma_m > 0 else "over the whole band, ")
        + f"outside a {cfg.fit_exclusion_radii * cfg.target_radius_m / 1e3:g} km disc on "
        f"the summit ({_radii(cfg.fit_exclusion_radii)}), the P > {cfg.threshold:g} "
        f"region (unless fewer than {cfg.min_pixels} pixels would remain) and "
        f"{_radii(cfg.peak_exclusion_radii)} around the detected peak",
        "plain linear fit (LiCSBAS/MintPy style; the watch's fit before the band filter): "
        "the same without the band filter, order 1, outside a "
        f"{cfg.plain_exclusion_radii * cfg.target_radius_m / 1e3:g} km disc",
        f"weather model (simulated GACOS): (1 + e) S + E, e ~ N(0, {cfg.wm_scale_error:g}), "
        f"E the LOS difference of two per-date errors of sigma {1e3 * cfg.wm_error_sigma_m:g}"
        f" mm (zenith), L = {cfg.wm_error_length_m / 1e3:g} km",
        "perfect: x - S, what no correction can beat; a deformation case is detectable "
        "when this map is flagged (kept of detectable = true positives kept)",
        "corrected maps re-referenced to the median outside twice the target radius",
    ]


def _radii(n: float) -> str:
    return f"{n:g} target radius" if n == 1 else f"{n:g} target radii"


def run_atmosphere(opts: AtmosphereOptions) -> list[str]:
    """Score atmosphere-only and deformation cases, correct the flagged ones, rescore.

    Writes ``detection_atmosphere.json`` and ``.md`` into ``opts.out``; returns one
    summary line per model.
    """
    if opts.n < 1:
        raise InputError(f"--n must be at least 1, got {opts.n}")
    if not opts.dems:
        raise InputError("--dems must name at least one packaged DEM")
    models, gains, config, settings, out = setup(opts)
    cfg = _atmosphere_config(opts)
    fringe = settings.science.fringe_spacing_m
    dems = {name: dem_window(dem, opts.size, name)
            for name, dem in zip(opts.dems, dem_pool(opts.dems, opts.pixel_m, opts.size),
                                 strict=True)}
    names = list(dems)
    cases = [draw_case(cfg, kind, i, names[i % len(names)], dems[names[i % len(names)]])
             for kind in ("atmosphere", "deformation") for i in range(opts.n)]
    report_models = []
    for label, m in models:
        def score(x: NDArray[np.float32], model: LoadedModel = m) -> Detection:
            return detect_displacement(model.model, x, gains=gains, method=opts.method,
                                       config=config, fringe_spacing_m=fringe,
                                       threshold=cfg.threshold,
                                       calibration=model.calibration, pixel_m=opts.pixel_m)

        start = time.perf_counter()
        results = [evaluate_case(c, dems[c.dem_name], score, cfg)
                   for c in progress(cases, len(cases), "case")]
        seconds = time.perf_counter() - start
        report_models.append({**model_header(label, m, seconds),
                              "summary": summarise(results, cfg.threshold),
                              "cases": [asdict(r) for r in results]})
    report = {"kind": "atmosphere", "code_version": __version__, "config": asdict(cfg),
              "dems": names, "gains": list(gains), "method": opts.method,
              "coverage": opts.coverage, "methods": list(ATMOSPHERE_METHODS),
              "statement": _atmosphere_statement(cfg, opts, dems, gains),
              "models": report_models}
    write_json(out / "detection_atmosphere.json", report)
    (out / "detection_atmosphere.md").write_text(atmosphere_markdown(report))
    lines = []
    for model in report_models:
        o = model["summary"]["overall"]
        a, d = o["atmosphere"], o["deformation"]
        parts = [f"{meth}: atmosphere cleared {a[meth]['cleared_share']:.2f}, deformation "
                 f"kept {d[meth]['kept_share']:.2f} ({d[meth]['kept_share_detectable']:.2f} "
                 "of those detectable without S)" for meth in ATMOSPHERE_METHODS]
        lines.append(f"{model['label']}: flagged atmosphere {a['flagged']}/{a['n']}, "
                     f"deformation {d['flagged']}/{d['n']}; " + "; ".join(parts)
                     + f" ({model['seconds']:.1f} s)")
    return lines

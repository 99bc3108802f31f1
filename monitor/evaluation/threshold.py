"""The threshold protocol of Anantrasirichai et al. (2019b), for every model side by side.

Mogi sources at 3, 4, 5 km depth, incidence 1, 23, 44 degrees, volume 10^5-10^7 m^3 in
half-decade steps, ``X = D + alpha S + beta T`` for alpha, beta in {0, 0.5, 1}: 405
interferograms (:func:`monitor.science.detect.evaluation.protocol_samples`). S is one
fixed stratified delay over a packaged SRTM crop, T an exponential-covariance field (or,
with ``turbulence="powerlaw"``, a power-law field of the same standard deviation over the
grid). Each is scored at every gain; P (fused and per gain: the maximum of the map)
against the maximum |D| gets a sigmoid per (alpha, beta), whose 0.5 crossing is the threshold.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor import __version__
from monitor.errors import InputError
from monitor.evaluation.grids import dem_on_grid, dem_window
from monitor.evaluation.runs import EvaluationOptions, Models, model_header, progress, setup
from monitor.figures.evaluation import plot_threshold
from monitor.io.reports import threshold_markdown, threshold_text, write_json
from monitor.science.detect.evaluation import (
    SigmoidFit,
    ThresholdProtocol,
    fit_sigmoid,
    protocol_samples,
    stratified_los,
    turbulent_los,
)
from monitor.science.detect.fusion import detect_displacement
from monitor.science.detect.patching import PatchConfig


@dataclass(frozen=True, kw_only=True)
class ThresholdOptions(EvaluationOptions):
    """``evaluate threshold``: the protocol's grid and delays (units as in the names).

    Attributes:
        dem: Packaged DEM under S.
        strat_k1_cm_per_km: Stratified delay, cm of zenith delay per km of height.
        strat_curvature: ``k2 = -f k1 / (2 * 2 km)``: f.
        turbulent_sigma2_mm2: T variance, mm^2.
        turbulent_length_km: T e-folding length, km.
        depths_km: Source depths, km.
        incidences: Incidence angles, degrees.
        log10_volumes: log10 of the volume changes, m^3.
        weights: Values of alpha and of beta.
        fit: Sigmoid fitted in displacement (``linear``) or log displacement (``log``).
        turbulence: T model, ``exponential`` (the paper) or ``powerlaw``.
        powerlaw_beta: 2-D spectral exponent of a power-law T (8/3).
    """

    dem: str
    strat_k1_cm_per_km: float
    strat_curvature: float
    turbulent_sigma2_mm2: float
    turbulent_length_km: float
    depths_km: tuple[float, ...]
    incidences: tuple[float, ...]
    log10_volumes: tuple[float, ...]
    weights: tuple[float, ...]
    fit: str
    turbulence: str = "exponential"
    powerlaw_beta: float = 8.0 / 3.0


def _score(models: Models, x: NDArray[np.float32],
           gains: tuple[float, ...], opts: ThresholdOptions, config: PatchConfig,
           fringe_spacing_m: float, seconds: dict[str, float]) -> dict[str, dict[str, Any]]:
    out = {}
    for label, m in models:
        start = time.perf_counter()
        det = detect_displacement(m.model, x, gains=gains, method=opts.method, config=config,
                                  fringe_spacing_m=fringe_spacing_m,
                                  calibration=m.calibration, pixel_m=opts.pixel_m)
        seconds[label] += time.perf_counter() - start
        out[label] = {"p_fused": det.p_fused,
                      "p_by_gain": {f"{g:g}": p for g, p in det.p_by_gain.items()}}
    return out


def _protocol(opts: ThresholdOptions) -> ThresholdProtocol:
    k1 = opts.strat_k1_cm_per_km * 1e-2 / 1e3
    if opts.turbulent_sigma2_mm2 < 0 or opts.turbulent_length_km <= 0:
        raise InputError("--turbulent-sigma2-mm2 must be >= 0 and --turbulent-length-km "
                         f"> 0, got {opts.turbulent_sigma2_mm2}, {opts.turbulent_length_km}")
    return ThresholdProtocol(
        shape=(opts.size, opts.size), pixel_m=opts.pixel_m,
        depths_m=tuple(1000.0 * d for d in opts.depths_km),
        incidences_deg=tuple(opts.incidences), log10_volumes_m3=tuple(opts.log10_volumes),
        alphas=tuple(opts.weights), betas=tuple(opts.weights),
        strat_k1_m_per_m=k1, strat_k2_m_per_m2=-opts.strat_curvature * k1 / (2 * 2000.0),
        turbulent_sigma_m=math.sqrt(opts.turbulent_sigma2_mm2) * 1e-3,
        turbulent_length_m=opts.turbulent_length_km * 1e3, seed=opts.seed,
        turbulence=opts.turbulence, powerlaw_beta=opts.powerlaw_beta,
    )


def _protocol_statement(protocol: ThresholdProtocol, dem_name: str, dem: NDArray[np.float32],
                        gains: tuple[float, ...], opts: ThresholdOptions) -> list[str]:
    ny, nx = protocol.shape
    s_ptp = {inc: float(np.ptp(stratified_los(dem, protocol, inc)))
             for inc in protocol.incidences_deg}
    t_std = float(np.std(turbulent_los(protocol, 0)))
    if protocol.turbulence == "powerlaw":
        t_model = (f"power law, 2-D spectrum k^-{protocol.powerlaw_beta:.3g} (Hanssen 2001, "
                   f"4.7), standard deviation over the grid sigma")
    else:
        t_model = (f"exponential covariance, L = {protocol.turbulent_length_m / 1e3:g} km, "
                   "pointwise standard deviation sigma")
    return [
        f"grid {ny} x {nx} pixels of {protocol.pixel_m:g} m; Mogi source at the centre, "
        f"nu = {protocol.nu}, heading {protocol.heading_deg:g} deg",
        f"D: depths {', '.join(f'{d / 1e3:g}' for d in protocol.depths_m)} km, incidences "
        f"{', '.join(f'{i:g}' for i in protocol.incidences_deg)} deg, volumes 10^"
        f"{{{', '.join(f'{v:g}' for v in protocol.log10_volumes_m3)}}} m^3 "
        f"({protocol.n_deformations} deformations, {protocol.n_cases} interferograms)",
        f"S: one stratified delay over the packaged SRTM crop {dem_name!r} resampled to the "
        f"grid (heights {float(dem.min()):.0f}-{float(dem.max()):.0f} m), S = -(k1 dh + k2 "
        f"dh^2) / cos(incidence) with k1 = {protocol.strat_k1_m_per_m * 1e5:g} cm/km, k2 = "
        f"{protocol.strat_k2_m_per_m2:.3g} m/m^2; peak-to-peak S (alpha = 1) = "
        + ", ".join(f"{100 * v:.2f} cm at {inc:g} deg" for inc, v in s_ptp.items()),
        f"T: {t_model}, sigma^2 = {(protocol.turbulent_sigma_m * 1e3) ** 2:.3g} "
        f"mm^2 (sigma {protocol.turbulent_sigma_m * 1e3:.2f} mm); one field per deformation, "
        f"seed {protocol.seed} (std of the first field {t_std * 1e3:.2f} mm)",
        "no decorrelation; alpha, beta in {"
        + ", ".join(f"{a:g}" for a in protocol.alphas) + "}",
        f"scored at gains {', '.join(f'{g:g}' for g in gains)} (fused P = mean of the "
        f"per-gain maps, P = maximum of the map); method {opts.method}, coverage "
        f"{opts.coverage}; sigmoid fitted in "
        f"{'log10 ' if opts.fit == 'log' else ''}maximum |D|",
    ]


def _fit_dict(fit: SigmoidFit) -> dict[str, Any]:
    return asdict(fit)


def run_threshold(opts: ThresholdOptions) -> list[str]:
    """Run the threshold protocol for every model and write the report.

    Writes ``detection_threshold.json``, ``.md`` and one ``detection_threshold_<model>.png``
    per model into ``opts.out``; returns one summary line per model.
    """
    models, gains, config, settings, out = setup(opts)
    fringe = settings.science.fringe_spacing_m
    protocol = _protocol(opts)
    dem = dem_window(dem_on_grid(opts.dem, protocol.pixel_m), opts.size, opts.dem)
    seconds = {label: 0.0 for label, _ in models}
    cases: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in models}
    samples = protocol_samples(protocol, dem)
    for sample in progress(samples, protocol.n_cases, "ifg"):
        c = sample.case
        base = {"depth_m": c.deformation.depth_m, "incidence_deg": c.deformation.incidence_deg,
                "dvolume_m3": c.deformation.dvolume_m3, "alpha": c.alpha, "beta": c.beta,
                "max_abs_d_m": sample.max_abs_d_m}
        for label, scores in _score(models, sample.x, gains, opts, config, fringe,
                                    seconds).items():
            cases[label].append({**base, **scores})
    columns = [f"mu={g:g}" for g in gains] + ["fused"]
    report_models = []
    for label, m in models:
        thresholds = []
        for a in protocol.alphas:
            for b in protocol.betas:
                sel = [c for c in cases[label] if c["alpha"] == a and c["beta"] == b]
                x = np.array([c["max_abs_d_m"] for c in sel])
                fits = {}
                for col in columns:
                    p = np.array([c["p_fused"] if col == "fused"
                                  else c["p_by_gain"][col.removeprefix("mu=")] for c in sel])
                    fits[col] = _fit_dict(fit_sigmoid(x, p, log_x=opts.fit == "log"))
                thresholds.append({"alpha": a, "beta": b, "fits": fits})
        report_models.append({**model_header(label, m, seconds[label]),
                              "cases": cases[label], "thresholds": thresholds})
    report = {
        "kind": "threshold", "code_version": __version__,
        "protocol": {**asdict(protocol), "dem": opts.dem, "fit": opts.fit,
                     "gains": list(gains), "method": opts.method, "coverage": opts.coverage,
                     "statement": _protocol_statement(protocol, opts.dem, dem, gains, opts)},
        "columns": columns, "models": report_models,
    }
    write_json(out / "detection_threshold.json", report)
    (out / "detection_threshold.md").write_text(threshold_markdown(report))
    for model in report_models:
        plot_threshold(out / f"detection_threshold_{model['label']}.png", model, columns)
    lines = []
    for model in report_models:
        fused = {f"{t['alpha']:g},{t['beta']:g}": t["fits"]["fused"]
                 for t in model["thresholds"]}
        lines.append(_summary_line(model["label"], fused, model["seconds"]))
    return lines


def _summary_line(label: str, fused: dict[str, dict[str, Any]], seconds: float) -> str:
    parts = [f"a,b={k}: {threshold_text(fit)} cm" for k, fit in fused.items()]
    return f"{label}: fused thresholds " + "; ".join(parts) + f" ({seconds:.1f} s)"



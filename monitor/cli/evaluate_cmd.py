"""``insar-monitor evaluate threshold|roc|atmosphere``: measure detectors, side by side.

``threshold``: seed 003's protocol (see :mod:`monitor.science.detect.evaluation`): Mogi
sources at 3, 4, 5 km depth, incidence 1, 23, 44 degrees, volume 10^5-10^7 m^3 in
half-decade steps, ``X = D + alpha S + beta T`` for alpha, beta in {0, 0.5, 1}: 405
interferograms. S is one fixed stratified delay over a packaged SRTM crop (default Agung,
resampled to the grid, centred on the summit: the source sits under the edifice), T an
exponential-covariance field of sigma^2 = 7.5 mm^2, L = 8 km per deformation. Each is
scored at every gain; P (fused and per gain: the maximum of the map) is plotted against
the maximum |D| and a sigmoid is fitted per (alpha, beta); its 0.5 crossing is the
detection threshold. Writes ``detection_threshold.json``, ``detection_threshold.md`` and
``detection_threshold_<model>.png`` into ``--out``.

``roc``: a held-out 2-class set (S+T vs D+S+T) drawn with another seed and wider ranges
than the training recipe (peak LOS, turbulence, decorrelation; S over the real packaged
DEMs instead of synthetic edifices), scored by the fused P_max: ROC, AUC (fused and per
gain), precision/recall at P > 0.5, recall by peak LOS; and an atmosphere-only set with
strong stratification over tall edifices (Agung, Sakurajima) whose flagged fraction is the
false-positive rate. Writes ``detection_roc.json``, ``detection_roc.md`` and
``detection_roc.png``.

``atmosphere``: atmosphere-only and deformation cases with strong stratification over tall
edifices (see :mod:`monitor.science.detect.atmosphere_eval`); every flagged case is
corrected (empirical phase-elevation fit; simulated weather-model delays) and scored again.
Writes ``detection_atmosphere.json`` and ``detection_atmosphere.md``.

Several models: ``--model A.pt --model B.pt`` or ``--compare A.pt B.pt``; every image is
drawn once and scored by each. Without a model, the packaged weights of ``--arch``.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from monitor import __version__
from monitor.cli.detector_options import (
    add_second_look_radius,
    gains_arg,
    load_detector,
    resolve_device,
    second_look_settings,
    set_threads,
)
from monitor.config import Settings, load_settings
from monitor.errors import InputError
from monitor.figures.evaluation import plot_roc, plot_threshold
from monitor.io.atmosphere_report import atmosphere_markdown
from monitor.io.dem import dem_grid_metres, packaged_dem, packaged_dem_names
from monitor.io.models import LoadedModel
from monitor.io.reports import (
    roc_markdown,
    threshold_markdown,
    threshold_text,
    write_json,
)
from monitor.science.atmosphere import turbulent_delay
from monitor.science.dem import resample_dem
from monitor.science.detect.atmosphere_eval import METHODS as ATMOSPHERE_METHODS
from monitor.science.detect.atmosphere_eval import (
    AtmosphereEvalConfig,
    draw_case,
    evaluate_case,
    summarise,
)
from monitor.science.detect.evaluation import (
    SEED003_DEPTHS_M,
    SEED003_INCIDENCES_DEG,
    SEED003_LOG10_VOLUMES_M3,
    SEED003_WEIGHTS,
    SigmoidFit,
    ThresholdProtocol,
    confusion_at,
    fit_sigmoid,
    protocol_samples,
    recall_by_bin,
    roc_curve,
    stratified_los,
)
from monitor.science.detect.fusion import Detection, detect_displacement
from monitor.science.detect.inference import METHODS
from monitor.science.detect.patching import COVERAGES, PatchConfig
from monitor.science.detect.registry import ARCHITECTURES
from monitor.science.detect.second_look import SecondLookSettings, second_look
from monitor.science.synth import SynthRecipe, dataset_sample, make_sample, sample_rng
from monitor.science.windows import centre_crop

log = logging.getLogger(__name__)

#: Peak-LOS bin edges (cm) for recall by amplitude.
PEAK_BINS_CM = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0, math.inf)


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         "numbers") from None
    if not vals:
        raise argparse.ArgumentTypeError("give at least one number")
    return vals


def _pair(text: str) -> tuple[float, float]:
    vals = _floats(text)
    if len(vals) != 2 or not vals[0] <= vals[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX with MIN <= MAX")
    return vals[0], vals[1]


def _order(text: str) -> int | str:
    if text in ("1", "2", "auto"):
        return text if text == "auto" else int(text)
    raise argparse.ArgumentTypeError(f"expected 1, 2 or auto, got {text!r}")


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _common(parser: argparse.ArgumentParser, default_seed: int) -> None:
    parser.add_argument("--model", action="append", default=[], metavar="PATH",
                        help="model file to evaluate (repeat for several)")
    parser.add_argument("--compare", nargs="+", default=[], metavar="PATH",
                        help="model files to evaluate side by side")
    parser.add_argument("--arch", default=None, choices=sorted(ARCHITECTURES),
                        help="without a model file: the packaged weights of this arch")
    parser.add_argument("--out", default="docs", help="output directory (docs)")
    parser.add_argument("--seed", type=int, default=default_seed,
                        help="seed of the random fields (%(default)s)")
    parser.add_argument("--size", type=int, default=224, help="grid side, pixels (224)")
    parser.add_argument("--pixel-m", type=float, default=100.0, help="pixel spacing (100 m)")
    parser.add_argument("--gains", type=gains_arg, default=None,
                        help="wrap gains (default science.gains: 1,2,4,8)")
    parser.add_argument("--method", default="auto", choices=METHODS)
    parser.add_argument("--coverage", default="seed", choices=COVERAGES,
                        help="patch padding rule (centres; seed = the seeds' literal rule, "
                             "fewer patches)")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--config", help="TOML configuration (science section)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate threshold``, ``evaluate roc`` and ``evaluate atmosphere``."""
    parser = subparsers.add_parser(
        "evaluate", help="detection thresholds (seed 003) and ROC of detectors",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="evaluate_command", metavar="WHAT")
    sub.required = True

    th = sub.add_parser("threshold", help="seed-003 detection-threshold protocol")
    _common(th, default_seed=3)
    th.add_argument("--dem", default="agung", help="packaged DEM under S (agung)")
    th.add_argument("--strat-k1-cm-per-km", type=float, default=1.0,
                    help="stratified delay, cm of zenith delay per km of height (1.0)")
    th.add_argument("--strat-curvature", type=float, default=0.5,
                    help="k2 = -f k1 / (2 * 2 km): f (0.5)")
    th.add_argument("--turbulent-sigma2-mm2", type=float, default=7.5,
                    help="T variance, mm^2 (seed 003: 7.5)")
    th.add_argument("--turbulent-length-km", type=float, default=8.0,
                    help="T e-folding length, km (seed 003: 8)")
    th.add_argument("--depths-km", type=_floats,
                    default=tuple(d / 1000 for d in SEED003_DEPTHS_M))
    th.add_argument("--incidences", type=_floats, default=SEED003_INCIDENCES_DEG,
                    help="incidence angles, degrees (1,23,44)")
    th.add_argument("--log10-volumes", type=_floats, default=SEED003_LOG10_VOLUMES_M3,
                    help="log10 of the volume changes, m^3 (5,5.5,6,6.5,7)")
    th.add_argument("--weights", type=_floats, default=SEED003_WEIGHTS,
                    help="values of alpha and of beta (0,0.5,1)")
    th.add_argument("--fit", default="linear", choices=["linear", "log"],
                    help="fit the sigmoid in displacement (seed 003) or log displacement")
    th.set_defaults(func=run_threshold)

    roc = sub.add_parser("roc", help="held-out ROC/AUC and atmosphere-only false positives")
    _common(roc, default_seed=303)
    roc.add_argument("--n", type=int, default=1000, help="held-out images, both classes")
    roc.add_argument("--n-atmosphere", type=int, default=200,
                     help="atmosphere-only images with strong stratification (200)")
    roc.add_argument("--peak-los-cm", type=_pair, default=(0.5, 50.0),
                     help="peak |LOS| of D, log-uniform, cm (0.5,50; training 0.5,30)")
    roc.add_argument("--turbulent-sigma-mm", type=_pair, default=(2.0, 5.0),
                     help="T standard deviation range, mm (2,5; training 2.2,3.0)")
    roc.add_argument("--turbulent-length-km", type=_pair, default=(2.0, 20.0),
                     help="T e-folding length range, km (2,20; training 4,18)")
    roc.add_argument("--decorrelation-fraction", type=float, default=0.8,
                     help="fraction of images with decorrelation (0.8; training 0.5)")
    roc.add_argument("--dems", type=_names, default=("agung", "sakurajima", "taal",
                                                     "campi_flegrei"),
                     help="packaged DEMs under S in the held-out set")
    roc.add_argument("--atmosphere-dems", type=_names, default=("agung", "sakurajima"),
                     help="packaged DEMs under the strong S of the atmosphere-only set")
    add_second_look_radius(roc)
    roc.set_defaults(func=run_roc)

    atm = sub.add_parser("atmosphere", help="tropospheric correction of flagged maps: "
                         "atmosphere-only flags cleared, true positives kept")
    _common(atm, default_seed=606)
    atm.add_argument("--n", type=int, default=150,
                     help="cases per class (atmosphere only; deformation) (150)")
    atm.add_argument("--dems", type=_names, default=("agung", "sakurajima"),
                     help="packaged DEMs (tall edifices), used in turn (agung,sakurajima)")
    atm.add_argument("--target-radius-km", type=float, default=3.0,
                     help="target disc on the summit, km (3, the watch's default)")
    atm.add_argument("--peak-exclusion-radii", type=float, default=1.0,
                     help="disc around the detected peak left out of the fit, target radii")
    atm.add_argument("--fit-exclusion-radii", type=float, default=1.0,
                     help="disc on the summit left out of the fit, target radii (1, the "
                          "watch's default)")
    atm.add_argument("--band-sigma-m", type=float, default=1000.0,
                     help="the fit's coefficients come from the band below this Gaussian "
                          "sigma, metres; 0 = plain fit (1000, the watch's default)")
    atm.add_argument("--order", type=_order, default=2,
                     help="order in height of the fit: 1, 2 or auto (2, the watch's default)")
    atm.add_argument("--plain-exclusion-radii", type=float, default=2.0,
                     help="disc on the summit left out of the plain linear fit measured "
                          "for comparison, target radii (2)")
    atm.add_argument("--incidence-deg", type=_pair, default=(30.0, 45.0))
    atm.add_argument("--turbulent-sigma-mm", type=_pair, default=(2.0, 5.0),
                     help="T standard deviation range, mm (2,5)")
    atm.add_argument("--turbulent-length-km", type=_pair, default=(2.0, 20.0),
                     help="T e-folding length range, km (2,20)")
    atm.add_argument("--peak-los-cm", type=_pair, default=(1.0, 30.0),
                     help="peak |LOS| of D, log-uniform, cm (1,30)")
    atm.add_argument("--depth-km", type=_pair, default=(2.0, 5.0),
                     help="Mogi depth range, km (2,5)")
    atm.add_argument("--wm-scale-error", type=float, default=0.15,
                     help="weather model: relative error on S, standard deviation (0.15)")
    atm.add_argument("--wm-error-mm", type=float, default=3.0,
                     help="weather model: per-date smooth error, mm of zenith delay (3)")
    atm.add_argument("--wm-error-length-km", type=float, default=15.0,
                     help="weather model: e-folding length of that error, km (15)")
    atm.set_defaults(func=run_atmosphere)


# --------------------------------------------------------------------------- shared


def _models(args: argparse.Namespace, device: str) -> list[tuple[str, LoadedModel]]:
    paths = list(args.model) + list(args.compare)
    loaded = [load_detector(p, args.arch, device) for p in paths] if paths \
        else [load_detector(None, args.arch, device)]
    out: list[tuple[str, LoadedModel]] = []
    used: set[str] = set()
    for m in loaded:
        label = Path(m.path).stem
        k = 2
        while label in used:
            label = f"{Path(m.path).stem}-{k}"
            k += 1
        used.add(label)
        out.append((label, m))
    return out


def _check_common(args: argparse.Namespace) -> None:
    if args.size < 8:
        raise InputError(f"--size must be at least 8 pixels, got {args.size}")
    if not (args.pixel_m > 0 and math.isfinite(args.pixel_m)):
        raise InputError(f"--pixel-m must be a positive number of metres, got {args.pixel_m}")


def dem_on_grid(name: str, pixel_m: float) -> NDArray[np.float32]:
    """A packaged SRTM crop resampled to square pixels of ``pixel_m`` metres."""
    tile = packaged_dem(name)
    dx, dy = dem_grid_metres(tile)
    return resample_dem(tile.height_m, (dy, dx), pixel_m)


def _dem_window(dem: NDArray[np.float32], size: int, name: str) -> NDArray[np.float32]:
    """The central ``--size`` window of a packaged DEM, saying which option to change."""
    ny, nx = dem.shape
    if ny < size or nx < size:
        raise InputError(f"packaged DEM {name!r} covers only {ny} x {nx} pixels at this "
                         f"spacing; use --size <= {min(ny, nx)} or a larger --pixel-m")
    return centre_crop(dem, size, name)


def _score(models: list[tuple[str, LoadedModel]], x: NDArray[np.float32],
           gains: tuple[float, ...], args: argparse.Namespace, config: PatchConfig,
           fringe_spacing_m: float, seconds: dict[str, float]) -> dict[str, dict[str, Any]]:
    out = {}
    for label, m in models:
        start = time.perf_counter()
        det = detect_displacement(m.model, x, gains=gains, method=args.method, config=config,
                                  fringe_spacing_m=fringe_spacing_m)
        seconds[label] += time.perf_counter() - start
        out[label] = {"p_fused": det.p_fused,
                      "p_by_gain": {f"{g:g}": p for g, p in det.p_by_gain.items()}}
    return out


def _model_header(label: str, m: LoadedModel, seconds: float) -> dict[str, Any]:
    return {"label": label, "path": m.path, "arch": m.arch, "sha256": m.sha256,
            "config": m.config, "seconds": seconds,
            "trained": {k: m.meta.get(k) for k in ("command", "best_epoch", "validation")}}


def _progress(items: Iterable[Any], total: int, what: str) -> Iterable[Any]:
    return tqdm(items, total=total, unit=what, file=sys.stderr,
                disable=not sys.stderr.isatty())


def _setup(args: argparse.Namespace) -> tuple[list[tuple[str, LoadedModel]],
                                               tuple[float, ...], PatchConfig, Settings, Path]:
    _check_common(args)
    settings = load_settings(args.config)
    gains = tuple(args.gains or settings.science.gains)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(args.threads)
    models = _models(args, resolve_device(args.device))
    return models, gains, PatchConfig(coverage=args.coverage), settings, out


# --------------------------------------------------------------------------- threshold


def _protocol(args: argparse.Namespace) -> ThresholdProtocol:
    k1 = args.strat_k1_cm_per_km * 1e-2 / 1e3
    if args.turbulent_sigma2_mm2 < 0 or args.turbulent_length_km <= 0:
        raise InputError("--turbulent-sigma2-mm2 must be >= 0 and --turbulent-length-km "
                         f"> 0, got {args.turbulent_sigma2_mm2}, {args.turbulent_length_km}")
    return ThresholdProtocol(
        shape=(args.size, args.size), pixel_m=args.pixel_m,
        depths_m=tuple(1000.0 * d for d in args.depths_km),
        incidences_deg=tuple(args.incidences), log10_volumes_m3=tuple(args.log10_volumes),
        alphas=tuple(args.weights), betas=tuple(args.weights),
        strat_k1_m_per_m=k1, strat_k2_m_per_m2=-args.strat_curvature * k1 / (2 * 2000.0),
        turbulent_sigma_m=math.sqrt(args.turbulent_sigma2_mm2) * 1e-3,
        turbulent_length_m=args.turbulent_length_km * 1e3, seed=args.seed,
    )


def _protocol_statement(protocol: ThresholdProtocol, dem_name: str, dem: NDArray[np.float32],
                        gains: tuple[float, ...], args: argparse.Namespace) -> list[str]:
    ny, nx = protocol.shape
    s_ptp = {inc: float(np.ptp(stratified_los(dem, protocol, inc)))
             for inc in protocol.incidences_deg}
    t_std = float(np.std(turbulent_delay(protocol.shape, protocol.pixel_m,
                                         protocol.turbulent_sigma_m,
                                         protocol.turbulent_length_m,
                                         np.random.default_rng([protocol.seed, 0]))))
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
        f"T: exponential covariance, sigma^2 = {(protocol.turbulent_sigma_m * 1e3) ** 2:.3g} "
        f"mm^2 (sigma {protocol.turbulent_sigma_m * 1e3:.2f} mm), L = "
        f"{protocol.turbulent_length_m / 1e3:g} km; one field per deformation, seed "
        f"{protocol.seed} (std of the first field {t_std * 1e3:.2f} mm)",
        "no decorrelation; alpha, beta in {"
        + ", ".join(f"{a:g}" for a in protocol.alphas) + "}",
        f"scored at gains {', '.join(f'{g:g}' for g in gains)} (fused P = mean of the "
        f"per-gain maps, P = maximum of the map); method {args.method}, coverage "
        f"{args.coverage}; sigmoid fitted in "
        f"{'log10 ' if args.fit == 'log' else ''}maximum |D|",
    ]


def _fit_dict(fit: SigmoidFit) -> dict[str, Any]:
    return asdict(fit)


def run_threshold(args: argparse.Namespace) -> int:
    """Run the seed-003 threshold protocol for every model and write the report."""
    models, gains, config, settings, out = _setup(args)
    fringe = settings.science.fringe_spacing_m
    protocol = _protocol(args)
    dem = _dem_window(dem_on_grid(args.dem, protocol.pixel_m), args.size, args.dem)
    seconds = {label: 0.0 for label, _ in models}
    cases: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in models}
    samples = protocol_samples(protocol, dem)
    for sample in _progress(samples, protocol.n_cases, "ifg"):
        c = sample.case
        base = {"depth_m": c.deformation.depth_m, "incidence_deg": c.deformation.incidence_deg,
                "dvolume_m3": c.deformation.dvolume_m3, "alpha": c.alpha, "beta": c.beta,
                "max_abs_d_m": sample.max_abs_d_m}
        for label, scores in _score(models, sample.x, gains, args, config, fringe,
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
                    fits[col] = _fit_dict(fit_sigmoid(x, p, log_x=args.fit == "log"))
                thresholds.append({"alpha": a, "beta": b, "fits": fits})
        report_models.append({**_model_header(label, m, seconds[label]),
                              "cases": cases[label], "thresholds": thresholds})
    report = {
        "kind": "threshold", "code_version": __version__,
        "protocol": {**asdict(protocol), "dem": args.dem, "fit": args.fit,
                     "gains": list(gains), "method": args.method, "coverage": args.coverage,
                     "statement": _protocol_statement(protocol, args.dem, dem, gains, args)},
        "columns": columns, "models": report_models,
    }
    write_json(out / "detection_threshold.json", report)
    (out / "detection_threshold.md").write_text(threshold_markdown(report))
    for model in report_models:
        plot_threshold(out / f"detection_threshold_{model['label']}.png", model, columns)
    for model in report_models:
        fused = {f"{t['alpha']:g},{t['beta']:g}": t["fits"]["fused"]
                 for t in model["thresholds"]}
        print(_summary_line(model["label"], fused, model["seconds"]))
    return 0


def _summary_line(label: str, fused: dict[str, dict[str, Any]], seconds: float) -> str:
    parts = [f"a,b={k}: {threshold_text(fit)} cm" for k, fit in fused.items()]
    return f"{label}: fused thresholds " + "; ".join(parts) + f" ({seconds:.1f} s)"


# --------------------------------------------------------------------------- ROC


def _roc_recipes(args: argparse.Namespace,
                 coherence_threshold: float) -> tuple[SynthRecipe, SynthRecipe]:
    lo, hi = args.peak_los_cm
    s_lo, s_hi = args.turbulent_sigma_mm
    l_lo, l_hi = args.turbulent_length_km
    if not (lo > 0 and s_lo >= 0 and l_lo > 0):
        raise InputError("--peak-los-cm and --turbulent-length-km must be > 0 and "
                         "--turbulent-sigma-mm >= 0")
    held_out = SynthRecipe(
        shape=(args.size, args.size), pixel_m=args.pixel_m,
        peak_los_m=(lo * 1e-2, hi * 1e-2), stratified_strength="mixed",
        turbulent_sigma_m=(s_lo * 1e-3, s_hi * 1e-3),
        turbulent_length_m=(l_lo * 1e3, l_hi * 1e3),
        decorrelation_fraction=args.decorrelation_fraction,
        coherence_threshold=coherence_threshold)
    return held_out, replace(held_out, peak_los_m=None, stratified_strength="strong")


def _pool(names: tuple[str, ...], pixel_m: float, size: int) -> list[NDArray[np.float32]]:
    known = packaged_dem_names()
    pool = []
    for name in names:
        if name not in known:
            raise InputError(f"no packaged DEM named {name!r}; available: {', '.join(known)}")
        dem = dem_on_grid(name, pixel_m)
        if min(dem.shape) < size:
            raise InputError(f"packaged DEM {name!r} covers only {dem.shape[0]} x "
                             f"{dem.shape[1]} pixels at {pixel_m:g} m; use --size <= "
                             f"{min(dem.shape)}")
        pool.append(dem)
    return pool


def _roc_statement(args: argparse.Namespace, held_out: SynthRecipe,
                   gains: tuple[float, ...], look: SecondLookSettings) -> list[str]:
    return [
        f"held-out set: {args.n} images of {args.size} x {args.size} pixels of "
        f"{args.pixel_m:g} m, classes alternate S+T / D+S+T, sample i drawn with "
        f"default_rng([{args.seed}, i]); all source kinds, incidence 0-45 deg",
        f"D rescaled to a log-uniform peak |LOS| of {args.peak_los_cm[0]:g}-"
        f"{args.peak_los_cm[1]:g} cm (training: 0.5-30 cm); T sigma "
        f"{args.turbulent_sigma_mm[0]:g}-{args.turbulent_sigma_mm[1]:g} mm, L "
        f"{args.turbulent_length_km[0]:g}-{args.turbulent_length_km[1]:g} km; decorrelation "
        f"in {100 * args.decorrelation_fraction:g}% of images; S weak or strong (k1 0-0.6 or "
        f"1-3 cm/km) over random crops of the SRTM DEMs {', '.join(args.dems)}",
        f"atmosphere-only set: {args.n_atmosphere} S+T images, strong stratification (k1 1-3 "
        f"cm/km) over {', '.join(args.atmosphere_dems)}, drawn with "
        f"default_rng([{args.seed + 1}, i]); false-positive rate = fraction with fused P > "
        f"0.5",
        f"score = fused P_max at gains {', '.join(f'{g:g}' for g in gains)}; method "
        f"{args.method}, coverage {args.coverage}",
        f"{SECOND_LOOK}: the detector's second look with the image's DEM: a flagged image "
        f"is corrected by the band-filtered phase-elevation fit (order {look.order}, band "
        f"{look.band_sigma_m:g} m, outside {look.exclusion_radius_m / 1e3:g} km of the "
        "detected peak and of the largest smoothed anomaly, and outside the flagged "
        "region) and scored again; its fused P_max decides",
    ]


#: Smallest peak |LOS| (cm) of the positives kept for the AUC-by-amplitude figures: all,
#: and from the seed-003 fused thresholds (about 1 cm without atmosphere, 2 cm with T)
#: and the issue's goal with S and T (3.5 cm) up.
AUC_MIN_PEAKS_CM = (0.0, 1.0, 2.0, 3.5)
#: Name of the column scored after the detector's second look with the DEM.
SECOND_LOOK = "fused+DEM"


def _score_with_look(models: list[tuple[str, LoadedModel]], x: NDArray[np.float32],
                     dem: NDArray[np.float32] | None, gains: tuple[float, ...],
                     args: argparse.Namespace, config: PatchConfig, fringe_spacing_m: float,
                     look: SecondLookSettings, seconds: dict[str, float],
                     look_seconds: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Fused scores of every model, and the fused P after the second look with ``dem``."""
    out = {}
    for label, m in models:
        def score(img: NDArray[np.float32], model: LoadedModel = m) -> Detection:
            return detect_displacement(model.model, img, gains=gains, method=args.method,
                                       config=config, fringe_spacing_m=fringe_spacing_m)

        start = time.perf_counter()
        det = score(x)
        seconds[label] += time.perf_counter() - start
        rec: dict[str, Any] = {"p_fused": det.p_fused,
                               "p_by_gain": {f"{g:g}": p for g, p in det.p_by_gain.items()}}
        if dem is None:
            rec[SECOND_LOOK], rec["second_look_reason"] = det.p_fused, "no DEM"
        else:
            start = time.perf_counter()
            second = second_look(x, dem, score, args.pixel_m, look, raw=det)
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


def run_roc(args: argparse.Namespace) -> int:
    """Score the held-out and atmosphere-only sets with every model; write the report."""
    if args.n < 2 or args.n_atmosphere < 0:
        raise InputError(f"--n must be at least 2 and --n-atmosphere >= 0, got {args.n}, "
                         f"{args.n_atmosphere}")
    if not 0 <= args.decorrelation_fraction <= 1:
        raise InputError(f"--decorrelation-fraction must lie in [0, 1], got "
                         f"{args.decorrelation_fraction}")
    models, gains, config, settings, out = _setup(args)
    look = second_look_settings(args.second_look_radius_km, settings.correction)
    fringe = settings.science.fringe_spacing_m
    held_out, atmosphere = _roc_recipes(args, settings.science.coherence_threshold)
    pool = _pool(args.dems, args.pixel_m, args.size)
    tall = _pool(args.atmosphere_dems, args.pixel_m, args.size) if args.n_atmosphere else []
    seconds = {label: 0.0 for label, _ in models}
    look_seconds = {label: 0.0 for label, _ in models}
    labels, peaks = [], []
    scores: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in models}
    for i in _progress(range(args.n), args.n, "img"):
        s = dataset_sample(args.seed, i, held_out, "2class", pool)
        labels.append(s.label)
        peaks.append(float(s.meta.get("peak_los_m", 0.0)) if s.label else 0.0)
        for label, sc in _score_with_look(models, s.x, s.dem, gains, args, config, fringe,
                                          look, seconds, look_seconds).items():
            scores[label].append(sc)
    atm_scores: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in models}
    for i in _progress(range(args.n_atmosphere), args.n_atmosphere, "img"):
        s = make_sample(sample_rng(args.seed + 1, i), atmosphere, "2class", 0, tall)
        for label, sc in _score_with_look(models, s.x, s.dem, gains, args, config, fringe,
                                          look, seconds, look_seconds).items():
            atm_scores[label].append(sc)
    y = np.array(labels)
    if y.min() == y.max():
        raise InputError(f"--n {args.n} gives one class only; use at least 2")
    columns = [f"mu={g:g}" for g in gains] + ["fused", SECOND_LOOK]
    peaks_cm = np.array(peaks) * 100.0
    report_models = []
    for label, m in models:
        per_col = {col: np.array([_column(sc, col) for sc in scores[label]])
                   for col in columns}
        curves = {col: roc_curve(v, y) for col, v in per_col.items()}
        pos = y == 1
        n_images = args.n + args.n_atmosphere
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
            **_model_header(label, m, seconds[label]),
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
        "sets": {"seed": args.seed, "n": args.n, "n_atmosphere": args.n_atmosphere,
                 "held_out_recipe": asdict(held_out), "atmosphere_recipe": asdict(atmosphere),
                 "dems": list(args.dems), "atmosphere_dems": list(args.atmosphere_dems),
                 "gains": list(gains), "method": args.method, "coverage": args.coverage,
                 "second_look": asdict(look)},
        "statement": _roc_statement(args, held_out, gains, look),
        "columns": columns, "models": report_models,
    }
    write_json(out / "detection_roc.json", report)
    (out / "detection_roc.md").write_text(roc_markdown(report))
    plot_roc(out / "detection_roc.png", report)
    for model in report_models:
        parts = []
        for col, block in (("fused", model), (SECOND_LOOK, model["second_look"])):
            atm = block["atmosphere"]
            parts.append(f"{col}: AUC {model['auc'][col]:.4f}, precision "
                         f"{block['confusion']['precision']:.3f}, recall "
                         f"{block['confusion']['recall']:.3f}, atmosphere FP rate "
                         + ("-" if atm["n"] == 0 else f"{atm['false_positive_rate']:.3f}"))
        print(f"{model['label']}: " + "; ".join(parts) + f" ({model['seconds']:.1f} s)")
    return 0


# --------------------------------------------------------------------------- atmosphere


def _atmosphere_config(args: argparse.Namespace) -> AtmosphereEvalConfig:
    return AtmosphereEvalConfig(
        size=args.size, pixel_m=args.pixel_m, target_radius_m=args.target_radius_km * 1e3,
        peak_exclusion_radii=args.peak_exclusion_radii,
        fit_exclusion_radii=args.fit_exclusion_radii, band_sigma_m=args.band_sigma_m,
        order=args.order, plain_exclusion_radii=args.plain_exclusion_radii,
        incidence_deg=args.incidence_deg,
        turbulent_sigma_m=(args.turbulent_sigma_mm[0] * 1e-3, args.turbulent_sigma_mm[1] * 1e-3),
        turbulent_length_m=(args.turbulent_length_km[0] * 1e3,
                            args.turbulent_length_km[1] * 1e3),
        peak_los_m=(args.peak_los_cm[0] * 1e-2, args.peak_los_cm[1] * 1e-2),
        depth_m=(args.depth_km[0] * 1e3, args.depth_km[1] * 1e3),
        wm_scale_error=args.wm_scale_error, wm_error_sigma_m=args.wm_error_mm * 1e-3,
        wm_error_length_m=args.wm_error_length_km * 1e3, seed=args.seed)


def _atmosphere_statement(cfg: AtmosphereEvalConfig, args: argparse.Namespace,
                          dems: dict[str, NDArray[np.float32]],
                          gains: tuple[float, ...]) -> list[str]:
    heights = ", ".join(f"{k} {float(v.min()):.0f}-{float(v.max()):.0f} m"
                        for k, v in dems.items())
    return [
        f"{args.n} atmosphere-only (S + T) and {args.n} deformation (D + S + T) cases of "
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


def run_atmosphere(args: argparse.Namespace) -> int:
    """Score atmosphere-only and deformation cases, correct the flagged ones, rescore."""
    if args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    if not args.dems:
        raise InputError("--dems must name at least one packaged DEM")
    models, gains, config, settings, out = _setup(args)
    cfg = _atmosphere_config(args)
    fringe = settings.science.fringe_spacing_m
    dems = {name: _dem_window(dem, args.size, name)
            for name, dem in zip(args.dems, _pool(args.dems, args.pixel_m, args.size),
                                 strict=True)}
    names = list(dems)
    cases = [draw_case(cfg, kind, i, names[i % len(names)], dems[names[i % len(names)]])
             for kind in ("atmosphere", "deformation") for i in range(args.n)]
    report_models = []
    for label, m in models:
        def score(x: NDArray[np.float32], model: LoadedModel = m) -> Detection:
            return detect_displacement(model.model, x, gains=gains, method=args.method,
                                       config=config, fringe_spacing_m=fringe,
                                       threshold=cfg.threshold)

        start = time.perf_counter()
        results = [evaluate_case(c, dems[c.dem_name], score, cfg)
                   for c in _progress(cases, len(cases), "case")]
        seconds = time.perf_counter() - start
        report_models.append({**_model_header(label, m, seconds),
                              "summary": summarise(results, cfg.threshold),
                              "cases": [asdict(r) for r in results]})
    report = {"kind": "atmosphere", "code_version": __version__, "config": asdict(cfg),
              "dems": names, "gains": list(gains), "method": args.method,
              "coverage": args.coverage, "methods": list(ATMOSPHERE_METHODS),
              "statement": _atmosphere_statement(cfg, args, dems, gains),
              "models": report_models}
    write_json(out / "detection_atmosphere.json", report)
    (out / "detection_atmosphere.md").write_text(atmosphere_markdown(report))
    for model in report_models:
        o = model["summary"]["overall"]
        a, d = o["atmosphere"], o["deformation"]
        parts = [f"{meth}: atmosphere cleared {a[meth]['cleared_share']:.2f}, deformation "
                 f"kept {d[meth]['kept_share']:.2f} ({d[meth]['kept_share_detectable']:.2f} "
                 "of those detectable without S)" for meth in ATMOSPHERE_METHODS]
        print(f"{model['label']}: flagged atmosphere {a['flagged']}/{a['n']}, deformation "
              f"{d['flagged']}/{d['n']}; " + "; ".join(parts)
              + f" ({model['seconds']:.1f} s)")
    return 0

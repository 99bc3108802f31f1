"""The detector on real interferograms: false positives on quiet epochs, semi-real recall.

Each product of a LiCSAR-layout frame (one interferogram, LOS metres, NaN incoherent) is
scored as a single map, as ``insar-monitor scan`` does: the multi-gain CNN's fused P_max
(flag P > 0.5) and its per-gain maxima, and beside it the plain baseline
(:class:`~monitor.science.detect.baseline.PeakToNoiseDetector`: smoothed peak over robust
noise, flagged above 5 sigma, i.e. P > 0.5).

* **Quiet epochs** are the products whose date pair overlaps no ``--events`` window
  (:func:`overlaps`: shared time of positive length). Their
  flagged fraction is the false-positive rate, overall and per calendar year of the pair's
  second date (blocks of time: neighbouring epochs share atmosphere, so a random split
  would overstate how independent they are).
* **Semi-real positives**: ``n_inject`` quiet epochs (drawn with
  ``default_rng(seed)``, without replacement when there are enough) each receive one
  Mogi source (depth 2-5 km, within 3 km of the frame centre, Sentinel-1 ascending
  geometry), scaled to every amplitude of ``amplitudes_cm`` (peak |LOS|), NaN kept
  (:mod:`monitor.science.injection`). Injected vs all quiet epochs: ROC AUC (a rank
  statistic), AUC with peaks of 2 cm and more, recall per amplitude at P > 0.5.
* **References** that know the injections' source family: the white-noise Mogi matched
  filter and the GLS one, which weighs the frame's noise correlation. That correlation is
  estimated from the quiet products of the years *not* scored (blocks of time), or, when
  every year is scored, from the scored quiet products themselves (in-sample; the report
  says which).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitor import __version__
from monitor.compute_device import resolve_device, set_threads
from monitor.config import load_settings
from monitor.errors import InputError
from monitor.evaluation.runs import DetectorOptions, labelled_models, model_header, progress
from monitor.event_windows import Window, in_years, overlaps
from monitor.event_windows import parse_events as parse_events
from monitor.figures.evaluation import plot_real, plot_reliability
from monitor.io.licsar_frame import open_frame, read_frame, read_grid
from monitor.io.models import load_block_model
from monitor.io.reports import real_markdown, write_json
from monitor.science.detect.baseline import PeakToNoiseDetector
from monitor.science.detect.blocks import BlockDetector
from monitor.science.detect.calibration import reliability
from monitor.science.detect.detector import Detector
from monitor.science.detect.evaluation import roc_curve
from monitor.science.detect.fusion import CnnDetector
from monitor.science.detect.gated_blocks import GatedBlockNet
from monitor.science.detect.gls_filter import GlsMogiFilter
from monitor.science.detect.matched_filter import MogiMatchedFilter
from monitor.science.detect.patching import PatchConfig
from monitor.science.detect.second_look import second_look
from monitor.science.injection import draw_mogi_injection
from monitor.science.interferograms import Interferogram
from monitor.science.noise_covariance import block_factor, estimate_correlation
from monitor.science.second_look_settings import SecondLookSettings

#: Label of the baseline detector in the report.
BASELINE = "baseline"
#: Label of the Mogi matched filter (a reference that knows the injections' source family).
MATCHED = "mogi matched filter"
#: Label of the GLS Mogi filter (the same family, the noise's correlation weighed).
GLS = "mogi GLS filter"
#: Block size of the GLS filter, metres: small against sources 2-5 km deep.
GLS_BLOCK_M = 650.0
#: False-alarm rate at which recall is also reported (threshold = that quantile of the
#: quiet products' scores), so that detectors are compared at one false-alarm rate.
FIXED_FPR = 0.05
#: Label suffix of a calibrated model scored with the raw fusion of every gain.
RAW_SUFFIX = " (raw fusion)"
#: Label suffix of the first model's row confirmed by the GLS filter: flagged only where
#: both flag, P the smaller of the two (each is 0.5 at its own threshold).
CONFIRMED_SUFFIX = ", confirmed by GLS"
#: Label of the block detector (:mod:`monitor.science.detect.blocks`).
BLOCKS = "block network"
#: ``blocks`` option value for the packaged block detector.
PACKAGED = "packaged"
#: Smallest injected peak (cm) of the second AUC.
AUC_MIN_PEAK_CM = 2.0

@dataclass(frozen=True, kw_only=True)
class RealOptions(DetectorOptions):
    """``evaluate real``: one real frame, its events and the injections (and the detector
    options of :class:`~monitor.evaluation.runs.DetectorOptions`).

    Attributes:
        archive: LiCSAR-layout archive directory.
        frame: Frame id.
        events: Event windows (inclusive dates); overlapping products are not quiet.
        n_inject: Quiet epochs that receive an injected source.
        amplitudes_cm: Peak |LOS| of the injected sources, cm.
        out: Directory of the reports, or None to print only.
        seed: Seed of the choice of epochs and of the sources.
        about: A paragraph placed at the top of the markdown (what the data are), or
            None.
        years: Only epochs whose second date falls in these years are scored (held-out
            blocks of time), or None for all.
        raw_fusion: Score calibrated models a second time with the raw fusion of every
            gain (label suffix :data:`RAW_SUFFIX`), for comparison.
        blocks: The block detector's model file, :data:`PACKAGED` for the packaged one,
            or None to leave it out (label :data:`BLOCKS`).
    """

    archive: str
    frame: str
    events: tuple[Window, ...]
    n_inject: int
    amplitudes_cm: tuple[float, ...]
    out: str | None
    seed: int
    about: str | None = None
    years: frozenset[int] | None = None
    raw_fusion: bool = True
    blocks: str | None = PACKAGED


def _pair(ifg: Interferogram) -> str:
    return f"{ifg.date1:%Y%m%d}_{ifg.date2:%Y%m%d}"


@dataclass(frozen=True)
class _Look:
    """What the second look needs: the frame's DEM, its pixel size, the fit's settings."""

    dem: np.ndarray
    pixel_m: tuple[float, float]
    settings: SecondLookSettings


def _noise_correlation_maps(interferograms: Sequence[Interferogram], opts: RealOptions
                            ) -> tuple[list[np.ndarray], str]:
    """The quiet maps the GLS filter's noise correlation is estimated from, and which."""
    quiet = [i for i in interferograms if not overlaps((i.date1, i.date2), opts.events)]
    other = [i.displacement_m for i in quiet if not in_years((i.date1, i.date2), opts.years)]
    if other:
        return other, "quiet products of the years not scored"
    return ([i.displacement_m for i in quiet if in_years((i.date1, i.date2), opts.years)],
            "the scored quiet products themselves (in-sample: no other year)")


def _confirmed(network: dict[str, Any], gls: dict[str, Any]) -> dict[str, Any]:
    """A network's record confirmed by the GLS filter's (:data:`CONFIRMED_SUFFIX`)."""
    p = min(network["p"], gls["p"])
    rec: dict[str, Any] = {"p": p, "flag": bool(p > 0.5)}
    if "p_second_look" in network:
        rec["p_second_look"] = min(network["p_second_look"], gls["p"])
        rec["flag_second_look"] = bool(network["flag_second_look"] and gls["flag"])
    return rec


def _score(detectors: list[tuple[str, Detector]], x: np.ndarray,
           baseline: PeakToNoiseDetector, seconds: dict[str, float],
           look: _Look | None = None, confirmed: Sequence[str] = ()) -> dict[str, Any]:
    """Every detector's scores of one map (and the CNNs' after the second look), and the
    ``confirmed`` networks' rows (their label plus :data:`CONFIRMED_SUFFIX`)."""
    out: dict[str, Any] = {}
    for label, det in detectors:
        start = time.perf_counter()
        d = det.detect(x)
        seconds[label] += time.perf_counter() - start
        rec: dict[str, Any] = {"p": d.p_fused, "flag": bool(d.p_fused > 0.5)}
        if d.p_by_gain:
            rec["p_by_gain"] = {f"{g:g}": p for g, p in d.p_by_gain.items()}
            rec["gains_fused"] = [float(g) for g in d.gains_fused]
            if d.noise_m is not None:
                rec["noise_m"] = d.noise_m
            if look is not None:
                final = second_look(x, look.dem, det, look.pixel_m, look.settings,
                                    raw=d).final
                rec["p_second_look"] = final.p_fused
                rec["flag_second_look"] = bool(final.flag)
        out[label] = rec
    out[BASELINE]["ratio"] = baseline.measure(x).ratio
    for label in confirmed:
        out[label + CONFIRMED_SUFFIX] = _confirmed(out[label], out[GLS])
    return out


def _rate(flags: list[bool]) -> dict[str, Any]:
    n = len(flags)
    k = int(sum(flags))
    return {"n": n, "flagged": k, "rate": k / n if n else math.nan}


def _summary(label: str, quiet: list[dict[str, Any]], injected: list[dict[str, Any]],
             events: list[dict[str, Any]], amplitudes_cm: tuple[float, ...]
             ) -> dict[str, Any]:
    """FPR (overall, per year), AUC, AUC >= 2 cm and recall per amplitude of one detector."""
    years = sorted({r["year"] for r in quiet})
    block: dict[str, Any] = {
        "false_positive_rate": _rate([r["scores"][label]["flag"] for r in quiet]),
        "false_positive_rate_by_year": {
            str(y): _rate([r["scores"][label]["flag"] for r in quiet if r["year"] == y])
            for y in years},
        "events_flagged": _rate([r["scores"][label]["flag"] for r in events]),
    }
    if quiet and "flag_second_look" in quiet[0]["scores"][label]:
        block["false_positive_rate_second_look"] = _rate(
            [r["scores"][label]["flag_second_look"] for r in quiet])
    gains = quiet[0]["scores"][label].get("p_by_gain") if quiet else None
    if gains:
        block["quiet_by_gain"] = {
            g: {"mean_p": float(np.mean([r["scores"][label]["p_by_gain"][g] for r in quiet])),
                **_rate([r["scores"][label]["p_by_gain"][g] > 0.5 for r in quiet])}
            for g in gains}
    if injected:
        neg = np.array([r["scores"][label]["p"] for r in quiet])
        pos = np.array([r["scores"][label]["p"] for r in injected])
        amp = np.array([r["amplitude_cm"] for r in injected])

        def auc(keep: np.ndarray) -> float:
            if not keep.any():
                return math.nan
            s = np.concatenate([neg, pos[keep]])
            y = np.concatenate([np.zeros(neg.size, int), np.ones(int(keep.sum()), int)])
            return roc_curve(s, y).auc

        bins, ece = reliability(np.concatenate([neg, pos]),
                                np.concatenate([np.zeros(neg.size), np.ones(pos.size)]))
        block["reliability"] = {"ece": ece, "bins": [asdict(b) for b in bins]}
        block["auc"] = auc(np.ones(pos.size, bool))
        block["auc_min_2cm"] = auc(amp >= AUC_MIN_PEAK_CM)
        block["recall_by_amplitude"] = {
            f"{a:g}": _rate([r["scores"][label]["flag"] for r in injected
                             if r["amplitude_cm"] == a]) for a in amplitudes_cm}
        # The score that flags FIXED_FPR of the quiet products (higher: flagged).
        cut = float(np.quantile(neg, 1.0 - FIXED_FPR, method="higher"))
        block["recall_at_fixed_fpr"] = {
            "fpr": float(np.mean(neg > cut)), "threshold": cut,
            "by_amplitude": {f"{a:g}": _rate([bool(p > cut) for p in pos[amp == a]])
                             for a in amplitudes_cm}}
    return block


def _check(opts: RealOptions) -> None:
    if opts.n_inject < 0:
        raise InputError(f"--n-inject must be >= 0, got {opts.n_inject}")
    if not opts.amplitudes_cm or any(not (a > 0 and math.isfinite(a))
                                     for a in opts.amplitudes_cm):
        raise InputError(f"--amplitudes-cm must be positive numbers, got {opts.amplitudes_cm}")


def run_real(opts: RealOptions) -> list[str]:
    """Score every product of the frame and the injected quiet epochs; write the report.

    With ``opts.out``, writes ``detection_real.json``, ``.md`` and ``.png`` there; returns
    the summary lines.

    Raises:
        InputError: bad options, or a frame without a quiet epoch (named).
        DatasetError: the archive or frame cannot be read.
    """
    _check(opts)
    settings = load_settings(opts.config)
    gains = tuple(opts.gains or settings.science.gains)
    layout = open_frame(opts.archive, opts.frame)
    grid, dem = read_grid(layout, settings.rasters.max_pixels)
    products = read_frame(layout, grid, dem,
                          coherence_threshold=settings.science.coherence_threshold,
                          max_pixels=settings.rasters.max_pixels)
    interferograms = [i for i in products.interferograms
                      if in_years((i.date1, i.date2), opts.years)]
    quiet_ifgs = [i for i in interferograms
                  if not overlaps((i.date1, i.date2), opts.events)]
    if not quiet_ifgs:
        raise InputError(f"frame {opts.frame}: no quiet epoch: all "
                         f"{len(interferograms)} products of the years asked for overlap "
                         "the --events windows; narrow them or widen --years")
    set_threads(opts.threads)
    models = labelled_models(opts, resolve_device(opts.device))
    config = PatchConfig(coverage=opts.coverage)
    baseline = PeakToNoiseDetector(grid.pixel_m)
    detectors: list[tuple[str, Detector]] = [
        (label, CnnDetector(m.model, gains=gains, method=opts.method, config=config,
                            fringe_spacing_m=settings.science.fringe_spacing_m,
                            calibration=m.calibration,
                            pixel_m=0.5 * (grid.pixel_m[0] + grid.pixel_m[1])))
        for label, m in models]
    if opts.raw_fusion:
        detectors += [
            (label + RAW_SUFFIX, CnnDetector(m.model, gains=gains, method=opts.method,
                                             config=config,
                                             fringe_spacing_m=settings.science.fringe_spacing_m))
            for label, m in models if m.calibration is not None]
    block_model = None
    if opts.blocks is not None:
        block_model = load_block_model(None if opts.blocks == PACKAGED else opts.blocks)
        detectors.append((BLOCKS, BlockDetector(block_model.model, block_model.calibration,
                                                grid.pixel_m, dem)))
    detectors.append((BASELINE, baseline))
    matched = MogiMatchedFilter(grid.pixel_m)
    detectors.append((MATCHED, matched))
    noise_maps, noise_from = _noise_correlation_maps(products.interferograms, opts)
    correlation = estimate_correlation(noise_maps,
                                       block_factor(grid.pixel_m, GLS_BLOCK_M, grid.shape))
    gls = GlsMogiFilter(grid.pixel_m, correlation, height_m=dem)
    try:
        gls = gls.with_null_threshold(noise_maps)
        threshold_from = (f"the conformal {1 - gls.alpha:g} quantile of that score on "
                          f"those {gls.null_maps} maps (an empirical null)")
    except InputError as err:  # too few quiet maps: the Gaussian bound, said as such
        threshold_from = (f"the Bonferroni bound at alpha {gls.alpha:g} over the templates "
                          f"(valid for Gaussian noise of that correlation only; {err})")
    detectors.append((GLS, gls))
    confirmed = ([models[0][0]] if models else []) + ([BLOCKS] if block_model else [])
    look = None if dem is None else _Look(dem, grid.pixel_m, settings.correction.second_look())
    seconds = {label: 0.0 for label, _ in detectors}
    start = time.perf_counter()

    records: list[dict[str, Any]] = []
    n = len(interferograms)
    for ifg in progress(interferograms, n, "map"):
        quiet = not overlaps((ifg.date1, ifg.date2), opts.events)
        records.append({"pair": _pair(ifg), "year": ifg.date2.year,
                        "kind": "quiet" if quiet else "event", "amplitude_cm": None,
                        "scores": _score(detectors, ifg.displacement_m, baseline, seconds,
                                         look, confirmed)})

    rng = np.random.default_rng(opts.seed)
    k = opts.n_inject
    chosen: list[int] = [int(i) for i in rng.choice(len(quiet_ifgs), size=k,
                                                    replace=k > len(quiet_ifgs))] if k else []
    injected: list[dict[str, Any]] = []
    for idx in progress(chosen, k, "epoch"):
        ifg = quiet_ifgs[idx]
        source = draw_mogi_injection(rng, grid.shape, grid.pixel_m)
        for amp in opts.amplitudes_cm:
            x = ifg.displacement_m + source.scaled(amp / 100.0)
            injected.append({
                "pair": _pair(ifg), "year": ifg.date2.year, "kind": "injected",
                "amplitude_cm": amp,
                "source": {"east_m": source.east_m, "north_m": source.north_m,
                           "depth_m": source.depth_m},
                "scores": _score(detectors, x, baseline, seconds, confirmed=confirmed)})
    quiet_recs = [r for r in records if r["kind"] == "quiet"]
    event_recs = [r for r in records if r["kind"] == "event"]
    labels = [label for label, _ in detectors] + [c + CONFIRMED_SUFFIX for c in confirmed]
    summaries = {label: _summary(label, quiet_recs, injected, event_recs, opts.amplitudes_cm)
                 for label in labels}
    elapsed = time.perf_counter() - start
    report: dict[str, Any] = {
        "kind": "real", "code_version": __version__, "frame": opts.frame,
        "about": opts.about,
        "grid": {"shape": list(grid.shape), "pixel_m": list(grid.pixel_m)},
        "events": [[a.isoformat(), b.isoformat()] for a, b in opts.events],
        "years": sorted(opts.years) if opts.years is not None else "all",
        "counts": {"products": n, "quiet": len(quiet_recs), "event": len(event_recs),
                   "skipped": len(products.failures), "injected_epochs": k,
                   "injected_maps": len(injected)},
        "injection": {"seed": opts.seed, "amplitudes_cm": list(opts.amplitudes_cm),
                      "source": "Mogi, depth uniform 2-5 km, uniform within 3 km of the "
                                "frame centre, heading -10 deg, incidence 39 deg, peak "
                                "|LOS| over the grid scaled to each amplitude, NaN kept",
                      "with_replacement": bool(k > len(quiet_ifgs))},
        "detectors": {
            **{label: {**model_header(label, m, seconds[label]), "gains": list(gains),
                       "method": opts.method, "coverage": opts.coverage}
               for label, m in models},
            **({} if block_model is None else {BLOCKS: {
                "label": BLOCKS, "seconds": seconds[BLOCKS],
                "model": Path(block_model.path).name, "sha256": block_model.sha256,
                "calibration": block_model.calibration.to_meta(),
                "trained_on": block_model.meta.get("options", {}),
                "gap_gate": (block_model.model.gate
                             if isinstance(block_model.model, GatedBlockNet) else None),
                "score": "the best 20 km window's logit, P = sigmoid(slope (logit - "
                         "threshold)), the slope above the threshold its own; flag P > 0.5"}}),
            BASELINE: {"label": BASELINE, "seconds": seconds[BASELINE],
                       "smoothing_m": baseline.smoothing_m,
                       "threshold_ratio": baseline.threshold_ratio,
                       "noise_exclusion_m": baseline.noise_exclusion_m,
                       "score": "P = 1 - 2^(-ratio / threshold_ratio); flag P > 0.5"},
            MATCHED: {"label": MATCHED, "seconds": seconds[MATCHED],
                      "depths_m": list(matched.depths_m),
                      "max_offset_m": matched.max_offset_m, "step_m": matched.step_m,
                      "score": "largest fraction of the plane-removed map explained by "
                               "one Mogi template; flag above 0.5"},
            GLS: {"label": GLS, "seconds": seconds[GLS], "depths_m": list(gls.depths_m),
                  "max_offset_m": gls.max_offset_m, "step_m": gls.step_m,
                  "block_px": correlation.factor,
                  "block_m": correlation.factor * 0.5 * (grid.pixel_m[0] + grid.pixel_m[1]),
                  "correlation_maps": correlation.n_maps, "correlation_from": noise_from,
                  "correlation_1_2_4_blocks": [correlation.at(0, k) for k in (1, 2, 4)],
                  "threshold_t": gls.threshold, "alpha": gls.alpha,
                  "threshold_maps": gls.null_maps, "threshold_from": threshold_from,
                  "nuisance": "plane" if dem is None else "plane and height",
                  "scale_beyond_m": gls.scale_beyond_m,
                  "score": "largest |t| of one Mogi template's amplitude, GLS with the "
                           "frame's noise correlation and the map's own scale; "
                           "P = 1 - 2^(-|t| / threshold); flag P > 0.5"},
            **{c + CONFIRMED_SUFFIX: {
                "label": c + CONFIRMED_SUFFIX, "confirmed": [c, GLS],
                "score": f"P = min(P of {c}, P of {GLS}): flagged only when both flag"}
               for c in confirmed}},
        "summary": summaries, "seconds": elapsed,
        "epochs": records + injected,
    }
    if opts.out is not None:
        out = Path(opts.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "detection_real.json", report)
        (out / "detection_real.md").write_text(real_markdown(report))
        plot_real(out / "detection_real.png", report)
        if any("reliability" in s for s in summaries.values()):
            plot_reliability(out / "detection_reliability.png", report)
    return _lines(report)


def _lines(report: dict[str, Any]) -> list[str]:
    c = report["counts"]
    lines = [f"{report['frame']}: {c['products']} products, {c['quiet']} quiet, "
             f"{c['event']} in event windows, {c['injected_maps']} injected maps "
             f"({report['seconds']:.1f} s)"]
    for label, s in report["summary"].items():
        fpr = s["false_positive_rate"]
        years = ", ".join(f"{y} {b['rate']:.2f}" for y, b in
                          s["false_positive_rate_by_year"].items())
        text = f"{label}: FPR {fpr['rate']:.3f} ({fpr['flagged']}/{fpr['n']}; {years})"
        if "false_positive_rate_second_look" in s:
            look = s["false_positive_rate_second_look"]
            text += f", after the second look {look['rate']:.3f} ({look['flagged']}/{look['n']})"
        if "auc" in s:
            rec = ", ".join(f"{a} cm {b['rate']:.2f}" for a, b in
                            s["recall_by_amplitude"].items())
            fixed = ", ".join(f"{a} cm {b['rate']:.2f}" for a, b in
                              s["recall_at_fixed_fpr"]["by_amplitude"].items())
            text += (f"; AUC {s['auc']:.3f}, AUC >= 2 cm {s['auc_min_2cm']:.3f}; "
                     f"recall {rec}; at FPR {s['recall_at_fixed_fpr']['fpr']:.2f}: {fixed}")
        lines.append(text)
    return lines

"""The block detector on the generator's held-out set, beside the CNN and the baseline.

Draws the held-out set of ``insar-monitor evaluate roc`` with its own defaults (224 x 224
images of 100 m, classes alternating S+T / D+S+T, sample i from ``default_rng([seed,
i])``, every source kind, peak |LOS| 0.5-50 cm log-uniform, turbulence 2-5 mm, weak or
strong stratification over crops of the packaged SRTM DEMs, decorrelation in 80%) and
scores every image, in one run, with:

* the packaged CNN (calibrated fused P_max, as ``evaluate roc``'s "fused" column);
* the packaged block detector (:mod:`monitor.science.detect.blocks`), given the image's
  DEM for its height term as the watch gives it the frame's;
* the peak-to-noise baseline (:class:`~monitor.science.detect.baseline.
  PeakToNoiseDetector`).

It prints the AUC over all images and over positives of 1, 2 and 3.5 cm and more, and
the false-positive and true-positive rates at P > 0.5.

With ``--threshold-protocol exponential|powerlaw`` it runs instead the threshold protocol
of ``insar-monitor evaluate threshold`` (Anantrasirichai et al. 2019b: Mogi sources at 3,
4, 5 km depth, three incidences, five volumes, ``D + alpha S + beta T``; its defaults and
seed) with that turbulence, scoring every interferogram with the packaged CNN and the
block detector (given the protocol's DEM), and prints each one's threshold (the 0.5
crossing of a sigmoid of P against the peak |D|) for every (alpha, beta).

The block detector was calibrated on real Sentinel-1 noise of Erta Ale, whose quiet maps
vary more than the generator's; its rates at P > 0.5 are therefore those of a threshold
set for other noise, and the AUC is the figure that compares.

Run: ``python bench/bench_block_synthetic.py --n 1000 --json out.json`` (about 4 minutes
on 2 cores at 1000 images); ``--threshold-protocol powerlaw`` (405 interferograms).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from monitor.cli import build_parser
from monitor.config import load_settings
from monitor.evaluation.grids import dem_on_grid, dem_pool, dem_window
from monitor.evaluation.roc import RocOptions, _roc_recipes
from monitor.evaluation.threshold import ThresholdOptions, _protocol
from monitor.io.models import load_block_model, load_detector
from monitor.io.reports import threshold_text
from monitor.science.detect.baseline import PeakToNoiseDetector
from monitor.science.detect.blocks import BlockDetector
from monitor.science.detect.evaluation import fit_sigmoid, protocol_samples
from monitor.science.detect.fusion import CnnDetector
from monitor.science.detect.patching import PatchConfig
from monitor.science.detect.training import roc_auc
from monitor.science.synth import dataset_sample

MIN_PEAKS_CM = (0.0, 1.0, 2.0, 3.5)


def packaged_cnn(settings: Any, method: str, coverage: str, pixel_m: float) -> CnnDetector:
    """The packaged CNN with its calibration, as ``evaluate`` scores it."""
    loaded = load_detector(None, None)
    return CnnDetector(loaded.model, gains=tuple(settings.science.gains), method=method,
                       config=PatchConfig(coverage=coverage),
                       fringe_spacing_m=settings.science.fringe_spacing_m,
                       calibration=loaded.calibration, pixel_m=pixel_m)


def threshold_protocol(turbulence: str, threads: int) -> dict[str, Any]:
    """The threshold protocol with ``turbulence``: both detectors' fitted thresholds."""
    from dataclasses import asdict, fields

    parsed = build_parser().parse_args(["evaluate", "threshold", "--out", "unused",
                                        "--turbulence", turbulence, "--threads",
                                        str(threads)])
    opts = ThresholdOptions(**{f.name: getattr(parsed, f.name)
                               for f in fields(ThresholdOptions)})
    settings = load_settings(None)
    protocol = _protocol(opts)
    dem = dem_window(dem_on_grid(opts.dem, protocol.pixel_m), opts.size, opts.dem)
    cnn = packaged_cnn(settings, opts.method, opts.coverage, opts.pixel_m)
    blocks = load_block_model()
    block = BlockDetector(blocks.model, blocks.calibration, (opts.pixel_m, opts.pixel_m),
                          dem)
    cases: list[dict[str, Any]] = []
    for sample in protocol_samples(protocol, dem):
        cases.append({"alpha": sample.case.alpha, "beta": sample.case.beta,
                      "peak_m": sample.max_abs_d_m,
                      "packaged CNN": cnn.detect(sample.x).p_fused,
                      "block network": block.detect(sample.x).p_fused})
    out: dict[str, Any] = {}
    for name in ("packaged CNN", "block network"):
        out[name] = {}
        for a in protocol.alphas:
            for b in protocol.betas:
                sel = [c for c in cases if c["alpha"] == a and c["beta"] == b]
                fit = asdict(fit_sigmoid(np.array([c["peak_m"] for c in sel]),
                                         np.array([c[name] for c in sel]),
                                         log_x=opts.fit == "log"))
                out[name][f"{a:g},{b:g}"] = fit
        print(f"{name:14s} {turbulence}: " + "; ".join(
            f"a,b={k}: {threshold_text(f)} cm" for k, f in out[name].items()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=303, help="evaluate roc's seed (303)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threshold-protocol", choices=("exponential", "powerlaw"),
                    default=None, help="run the threshold protocol with this turbulence")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.threshold_protocol is not None:
        fits = threshold_protocol(args.threshold_protocol, args.threads)
        if args.json is not None:
            args.json.write_text(json.dumps({"turbulence": args.threshold_protocol,
                                             "fits": fits}, indent=1))
        return
    parsed = build_parser().parse_args(["evaluate", "roc", "--out", "unused", "--seed",
                                        str(args.seed), "--n", str(args.n)])
    from dataclasses import fields

    opts = RocOptions(**{f.name: getattr(parsed, f.name) for f in fields(RocOptions)})
    settings = load_settings(None)
    held_out, _ = _roc_recipes(opts, settings.science.coherence_threshold)
    pool = dem_pool(opts.dems, opts.pixel_m, opts.size)
    cnn = packaged_cnn(settings, opts.method, opts.coverage, opts.pixel_m)
    blocks = load_block_model()
    baseline = PeakToNoiseDetector((opts.pixel_m, opts.pixel_m))
    scores: dict[str, list[float]] = {"packaged CNN": [], "block network": [],
                                      "baseline": []}
    seconds = dict.fromkeys(scores, 0.0)
    labels, peaks = [], []
    for i in range(args.n):
        s = dataset_sample(opts.seed, i, held_out, "2class", pool)
        labels.append(s.label)
        peaks.append(100.0 * float(s.meta.get("peak_los_m", 0.0)) if s.label else 0.0)
        block = BlockDetector(blocks.model, blocks.calibration, (opts.pixel_m, opts.pixel_m),
                              s.dem)
        for name, det in (("packaged CNN", cnn), ("block network", block),
                          ("baseline", baseline)):
            start = time.perf_counter()
            scores[name].append(det.detect(s.x).p_fused)
            seconds[name] += time.perf_counter() - start
    y = np.asarray(labels)
    peak = np.asarray(peaks)
    results: dict[str, Any] = {}
    for name, values in scores.items():
        p = np.asarray(values)
        by_peak = {}
        for low in MIN_PEAKS_CM:
            keep = (y == 0) | (peak >= low)
            by_peak[f"{low:g}"] = roc_auc(p[keep], y[keep])
        results[name] = {"auc_by_min_peak_cm": by_peak,
                         "fpr_at_0.5": float(np.mean(p[y == 0] > 0.5)),
                         "tpr_at_0.5": float(np.mean(p[y == 1] > 0.5)),
                         "seconds_per_image": seconds[name] / args.n}
        print(f"{name:14s} AUC all {by_peak['0']:.3f}, >= 1 cm {by_peak['1']:.3f}, >= 2 cm "
              f"{by_peak['2']:.3f}, >= 3.5 cm {by_peak['3.5']:.3f}; at P > 0.5 FPR "
              f"{results[name]['fpr_at_0.5']:.3f}, TPR {results[name]['tpr_at_0.5']:.3f}; "
              f"{1e3 * seconds[name] / args.n:.1f} ms per image")
    if args.json is not None:
        args.json.write_text(json.dumps({"seed": args.seed, "n": args.n,
                                         "block_model_sha256": blocks.sha256,
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()

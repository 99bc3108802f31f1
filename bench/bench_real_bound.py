"""How much can a single real map tell about a source? A bound on ``evaluate real``.

``insar-monitor evaluate real`` injects Mogi sources (2-5 km deep within 3 km of the
centre, peak |LOS| of 1-4 cm) into real quiet maps and asks each detector to tell them
from the quiet maps. This script asks the same of detectors that know more than any
detector of unknown deformation can, on the same draws (same seed, same order):

- ``white family``: the white-noise matched filter over the injections' template family
  (:mod:`monitor.science.detect.matched_filter`; the reference row of the report);
- ``GLS family``: the same family with the frame's noise correlation
  (:mod:`monitor.science.detect.gls_filter`), estimated from the quiet maps of the years
  *not* evaluated (blocks of time), and each map's plane and height term (stratified
  delay) as nuisance (the report's row);
- ``GLS family, plane``: the same with the plane alone as nuisance;
- ``GLS family, own map``: the same filter (plane and height as nuisance) with no frame
  history at all: each map is whitened with the isotropic exponential correlation
  ``exp(-r / L)`` fitted to that map's own block correlation
  (:func:`~monitor.science.noise_covariance.correlation_of_blocks` of the one map with
  ``prior_maps`` infinite). It asks how much of the GLS filter's ranking
  comes from the frame's years of quiet maps, and how much from the physics of a
  kilometre-scale correlation that one map fixes by itself; its scores are ranked here
  against the same quiet maps' (its threshold would still need a history);
- ``GLS oracle``: the GLS t (plane and height as nuisance) of the one template each
  injection was made with (its exact position and depth; a quiet map gets a template
  drawn from the same distribution). For Gaussian noise of the estimated correlation
  this is the most powerful test of all (Neyman-Pearson); no detector that does not know
  where and how deep the source is separates better, up to the noise's departure from
  that model;
- ``white oracle``: the same without the noise correlation.

It prints, per detector, the AUC of injected maps of 2 cm and more against the quiet maps,
and the recall per amplitude at the threshold that flags 5% of the quiet maps, and writes
them as JSON with ``--json``.

With ``--shapes N``, sources the references do *not* know are injected too: ``N`` of each
other kind of the generator (:func:`monitor.science.sources.draws.draw_source`: dyke,
penny-shaped and Okada sills, a pair of Mogi sources, a Gaussian sill; within 2 km of the
centre in east and north, scaled to a peak |LOS| of 2 and 3 cm, on quiet maps drawn with
``--seed + 2``), scored by the two family filters and, with ``--cnn``, by the packaged
network (its fused P) and, with ``--blocks``, by the packaged block detector (its P), to
see whether whitening still pays when the shape is not a Mogi source.

Run: ``python bench/bench_real_bound.py --archive DIR --frame F --events A:B --years
2017,2018,2023,2024`` (80 s on 2 cores for 47 quiet maps, most of it the own-map row's
correlation of every map). Without arguments it runs on the small real crop the tests
use (``tests/data/erta_ale_014A``: 12 quiet pairs of 2016 scored, the correlation from
the one quiet pair of 2017), which only shows it runs.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from real_frame_args import add_real_frame_arguments  # bench/, beside this script

from monitor.config import load_settings
from monitor.event_windows import in_years, parse_events, parse_years
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.gls_filter import GlsMogiFilter
from monitor.science.detect.matched_filter import MogiMatchedFilter
from monitor.science.detect.training import roc_auc
from monitor.science.injection import draw_mogi_injection, frame_xy, source_unit_los
from monitor.science.noise_covariance import (
    block_factor,
    block_mean,
    correlation_of_blocks,
    estimate_correlation,
)


def _summary(quiet: list[float], injected: dict[float, list[float]]) -> dict[str, Any]:
    q = np.asarray(quiet)
    strong = [s for a, v in injected.items() if a >= 2.0 for s in v]
    auc = roc_auc(np.r_[q, strong], np.r_[np.zeros(q.size), np.ones(len(strong))])
    threshold = float(np.quantile(q, 0.95, method="higher"))
    return {"auc_ge_2cm": auc, "threshold": threshold,
            "fpr": float(np.mean(q > threshold)),
            "recall": {str(a): float(np.mean(np.asarray(v) > threshold))
                       for a, v in injected.items()}}


OTHER_KINDS = ("dyke", "sill_penny", "sill_okada", "mogi_pair", "sill_gaussian")


def grid_xy(grid: Any) -> tuple[np.ndarray, np.ndarray]:
    """East and north of every pixel from the grid's centre, metres."""
    return frame_xy(grid.shape, grid.pixel_m)


def other_shape_maps(rng: np.random.Generator, grid: Any, maps: list[Any], n: int,
                     jitter_m: float = 2000.0, amplitudes: tuple[float, ...] = (2.0, 3.0)
                     ) -> dict[str, dict[float, list[np.ndarray]]]:
    """``n`` sources of each of :data:`OTHER_KINDS` (within ``jitter_m`` of the centre in
    east and north), each on a quiet map drawn from ``maps`` and scaled to each peak |LOS|
    of ``amplitudes`` (cm)."""
    xy = grid_xy(grid)
    out: dict[str, dict[float, list[np.ndarray]]] = {}
    for kind in OTHER_KINDS:
        out[kind] = {a: [] for a in amplitudes}
        for _ in range(n):
            base = maps[int(rng.integers(len(maps)))].displacement_m
            unit = source_unit_los(rng, kind, xy, jitter_m)
            for a in amplitudes:
                out[kind][a].append(base + (unit * a / 100.0).astype(np.float32))
    return out


def _other_shapes(args: argparse.Namespace, grid: Any, test: list[Any], settings: Any,
                  white: MogiMatchedFilter, gls: GlsMogiFilter,
                  own_map: Callable[[np.ndarray], float], dem: np.ndarray | None
                  ) -> dict[str, dict[str, dict[str, Any]]]:
    """AUC and recall at 5% FPR of each detector on each other source kind."""
    detectors: dict[str, Callable[[np.ndarray], float]] = {
        "white family": lambda x: white.measure(x).r2,
        "GLS family": lambda x: gls.measure(x).t,
        "GLS family, own map": own_map,
    }
    if args.cnn:
        from monitor.io.models import load_detector
        from monitor.science.detect.fusion import CnnDetector

        loaded = load_detector(None, None)
        cnn = CnnDetector(loaded.model, gains=tuple(settings.science.gains),
                          fringe_spacing_m=settings.science.fringe_spacing_m,
                          calibration=loaded.calibration,
                          pixel_m=0.5 * (grid.pixel_m[0] + grid.pixel_m[1]))
        detectors["network"] = lambda x: cnn.detect(x).p_fused
    if args.blocks:
        from monitor.io.models import load_block_model
        from monitor.science.detect.blocks import BlockDetector

        packaged = load_block_model()
        block = BlockDetector(packaged.model, packaged.calibration, grid.pixel_m, dem)
        detectors["block network"] = lambda x: block.detect(x).p_fused
    quiet = {name: [f(i.displacement_m) for i in test] for name, f in detectors.items()}
    made = other_shape_maps(np.random.default_rng(args.seed + 2), grid, test, args.shapes)
    return {kind: {name: _summary(quiet[name],
                                  {a: [f(x) for x in v] for a, v in by_amp.items()})
                   for name, f in detectors.items()}
            for kind, by_amp in made.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows A:B[,A:B]")
    ap.add_argument("--years", default="2016", help="the evaluated (held-out) years")
    ap.add_argument("--n-inject", type=int, default=40)
    ap.add_argument("--seed", type=int, default=707)
    ap.add_argument("--amplitudes-cm", default="1,2,3,4")
    ap.add_argument("--block-m", type=float, default=650.0,
                    help="block size of the GLS filter, metres")
    ap.add_argument("--shapes", type=int, default=0,
                    help="sources of each other kind to inject (0: none)")
    ap.add_argument("--cnn", action="store_true",
                    help="also score the other shapes with the packaged network")
    ap.add_argument("--blocks", action="store_true",
                    help="also score the other shapes with the packaged block detector")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    events = parse_events(args.events)
    years = parse_years(args.years)
    amplitudes = [float(a) for a in args.amplitudes_cm.split(",")]
    settings = load_settings(None)
    bank = load_noise_bank(args.archive, args.frame, settings, events=events)
    grid, quiet_all = bank.grid, bank.epochs
    test = [i for i in quiet_all if in_years((i.date1, i.date2), years)]
    other = [i.displacement_m for i in quiet_all if not in_years((i.date1, i.date2), years)]
    start = time.perf_counter()
    corr = estimate_correlation(other, block_factor(grid.pixel_m, args.block_m))
    gls = GlsMogiFilter(grid.pixel_m, corr, height_m=bank.dem)
    gls_flat = GlsMogiFilter(grid.pixel_m, corr)
    white = MogiMatchedFilter(grid.pixel_m)
    print(f"frame {args.frame}: {len(test)} quiet maps in {sorted(years or [])}, noise "
          f"correlation from {corr.n_maps} quiet maps of the other years, blocks of "
          f"{corr.factor} px ({corr.factor * grid.pixel_m[0]:.0f} m), grid {corr.shape}; "
          f"correlation at 1, 2, 4 blocks east: {corr.at(0, 1):.2f}, {corr.at(0, 2):.2f}, "
          f"{corr.at(0, 4):.2f}")

    rng = np.random.default_rng(args.seed)
    k = args.n_inject
    chosen = [int(i) for i in rng.choice(len(test), size=k, replace=k > len(test))]
    sources = [(idx, draw_mogi_injection(rng, grid.shape, grid.pixel_m)) for idx in chosen]

    def oracle(x: np.ndarray, unit: np.ndarray, with_noise: bool) -> float:
        if with_noise:
            tmpl = block_mean(unit, corr.factor)[None]
            return float(abs(gls.t_values(x, tmpl)[0]))
        ok = np.isfinite(x)
        rows, cols = np.nonzero(ok)
        q, _ = np.linalg.qr(np.column_stack([np.ones(rows.size), cols, rows]).astype(float))
        v = x[ok].astype(float)
        t = unit[ok].astype(float)
        v, t = v - q @ (q.T @ v), t - q @ (q.T @ t)
        a = (t @ v) / (t @ t)
        sigma = np.sqrt(max(v @ v - a * a * (t @ t), 0.0) / (v.size - 4))
        return float(abs(a) * np.sqrt(t @ t) / sigma)

    def own_map(x: np.ndarray) -> float:
        own = correlation_of_blocks([block_mean(x, corr.factor)], corr.factor,
                                    prior_maps=math.inf)
        return GlsMogiFilter(grid.pixel_m, own, height_m=bank.dem).measure(x).t

    detectors = {
        "white family": lambda x, u: white.measure(x).r2,
        "GLS family, plane": lambda x, u: gls_flat.measure(x).t,
        "GLS family": lambda x, u: gls.measure(x).t,
        "GLS family, own map": lambda x, u: own_map(x),
        "white oracle": lambda x, u: oracle(x, u, False),
        "GLS oracle": lambda x, u: oracle(x, u, True),
    }
    decoy = np.random.default_rng(args.seed + 1)
    decoys = [draw_mogi_injection(decoy, grid.shape, grid.pixel_m).unit_los for _ in test]
    results = {}
    for name, score in detectors.items():
        quiet = [score(i.displacement_m, u) for i, u in zip(test, decoys, strict=True)]
        injected: dict[float, list[float]] = {a: [] for a in amplitudes}
        for idx, src in sources:
            for a in amplitudes:
                injected[a].append(score(test[idx].displacement_m + src.scaled(a / 100.0),
                                         src.unit_los))
        results[name] = _summary(quiet, injected)
    shapes = (_other_shapes(args, grid, test, settings, white, gls, own_map, bank.dem)
              if args.shapes else {})
    elapsed = time.perf_counter() - start
    print(f"{'detector':19s} {'AUC>=2cm':>9s} {'FPR':>6s}  recall at that FPR per peak |LOS|")
    for name, r in results.items():
        rec = "  ".join(f"{a} cm {v:.2f}" for a, v in r["recall"].items())
        print(f"{name:19s} {r['auc_ge_2cm']:9.3f} {r['fpr']:6.3f}  {rec}")
    for kind, by_detector in shapes.items():
        print(f"{kind}: " + " | ".join(
            f"{name} AUC {r['auc_ge_2cm']:.2f}, recall at FPR {r['fpr']:.2f} "
            + " ".join(f"{a} cm {v:.2f}" for a, v in r["recall"].items())
            for name, r in by_detector.items()))
    print(f"{elapsed:.1f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "frame": args.frame, "years": sorted(years or []), "n_quiet": len(test),
            "n_inject": k, "seed": args.seed, "block_px": corr.factor,
            "correlation_maps": corr.n_maps, "results": results, "other_shapes": shapes,
            "seconds": elapsed},
            indent=1))


if __name__ == "__main__":
    main()

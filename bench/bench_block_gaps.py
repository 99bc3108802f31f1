"""The block detector on real maps with incoherent gaps of real shapes.

The real Erta Ale frame is coherent almost everywhere (0.8% of an interferogram's pixels
NaN, median); a vegetated or snow-covered volcano is not. This bench takes the quiet
products of ``--years`` (outside ``--events``) and ``--n`` copies of them with a Mogi
source of 2 and 3 cm (``evaluate real``'s injection), cut to the 20 km window around the
target as the watch scores it, and removes an incoherent region from each map (an
excursion set of a smooth random field, :func:`~monitor.science.incoherent_shapes.
excursion_mask`, over ``--fractions`` of the map, 0.5-3 km regions; a quiet map and its
injected copies share their region). Per model file and fraction it prints the AUC of
the injected maps' raw logits against the quiet maps' and the share of them above the
quiet maps' own 95% quantile (recall at a 5% false-alarm rate), every model on the same
maps, sources and regions.

Run: ``python bench/bench_block_gaps.py --archive DIR --model A.pt --model B.pt``
(three minutes a model on 2 cores for the four years of 2021-2024). Without
``--archive`` it runs on the small real crop the tests use: it only shows it runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from real_frame_args import (  # bench/, beside this script
    CROP,
    add_real_frame_arguments,
    target_history,
)

from monitor.config import load_settings
from monitor.errors import InputError
from monitor.event_windows import parse_events, parse_years
from monitor.io.models import load_block_model
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.blocks import BlockCalibration, BlockDetector
from monitor.science.detect.series_gls import GlsWindow
from monitor.science.detect.training import roc_auc
from monitor.science.incoherent_shapes import excursion_mask
from monitor.science.injection import draw_mogi_injection

AMPLITUDES_CM = (2.0, 3.0)


def logit(detector: BlockDetector, window: GlsWindow, d: np.ndarray,
          gap: np.ndarray | None) -> float:
    """The best window's raw logit of ``d`` cut to ``window``, NaN inside ``gap``."""
    m = np.asarray(d, np.float64).copy()
    if gap is not None:
        m[gap] = np.nan
    try:
        return max(w[2] for w in detector.window_logits(window.cut(m)))
    except InputError:  # too few valid blocks: not scored
        return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows (left out)")
    ap.add_argument("--years", default=None,
                    help="years of the quiet maps (2021-2024; on the crop, all)")
    ap.add_argument("--target", default="40.67,13.60", help="LON,LAT of the window's centre")
    ap.add_argument("--model", action="append", default=[],
                    help="block-detector model file (repeat; default: the packaged one)")
    ap.add_argument("--fractions", default="0,0.3,0.5,0.7",
                    help="area fractions of the incoherent region")
    ap.add_argument("--n", type=int, default=120, help="injected maps per amplitude")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.years is None:
        args.years = "2016-2017" if Path(args.archive) == CROP else "2021-2024"
    bank = load_noise_bank(args.archive, args.frame, load_settings(None),
                           events=parse_events(args.events), years=parse_years(args.years))
    grid = bank.grid
    window = target_history(grid, args.target).window
    epochs = list(bank.epochs)
    if not epochs:
        raise SystemExit(f"no quiet product in {args.years}")
    rng = np.random.default_rng(args.seed)
    draws = []
    for _ in range(args.n):
        i = int(rng.integers(len(epochs)))
        draws.append((i, draw_mogi_injection(rng, grid.shape, grid.pixel_m).unit_los))
    fractions = [float(f) for f in args.fractions.split(",")]
    regions: dict[float, list[np.ndarray | None]] = {}
    for f in fractions:
        regions[f] = [None] * len(epochs) if f == 0 else [
            excursion_mask(grid.shape, grid.pixel_m[0], rng, f, float(rng.uniform(500, 3000)))
            for _ in epochs]
    print(f"{len(epochs)} quiet products of {args.years}; {args.n} sources per amplitude")
    print("| model | gap | quiet unscored | " + " | ".join(
        f"{a:g} cm: AUC, recall at 5%" for a in AMPLITUDES_CM) + " |\n| --- | --- | --- | "
        + " | ".join("---" for _ in AMPLITUDES_CM) + " |")
    rows = []
    for path in args.model or [None]:
        model = load_block_model(path)
        detector = BlockDetector(model.model, BlockCalibration(0.0, 1.0), grid.pixel_m,
                                 bank.dem)

        for f in fractions:
            gaps = regions[f]
            quiet = np.array([logit(detector, window, e.displacement_m, gaps[k])
                              for k, e in enumerate(epochs)])
            q = quiet[np.isfinite(quiet)]
            limit = float(np.quantile(q, 0.95))
            figures = {}
            for a in AMPLITUDES_CM:
                p = np.array([logit(detector, window, epochs[i].displacement_m + u * a / 100.0,
                                    gaps[i])
                              for i, u in draws])
                p = p[np.isfinite(p)]
                figures[f"{a:g}"] = {"auc": roc_auc(np.r_[p, q], np.r_[np.ones(p.size),
                                                                      np.zeros(q.size)]),
                                     "recall": float(np.mean(p > limit))}
            name = Path(model.path).name
            rows.append({"model": name, "sha256": model.sha256, "gap": f,
                         "quiet_unscored": int((~np.isfinite(quiet)).sum()), **figures})
            print(f"| {name} | {f:g} | {rows[-1]['quiet_unscored']} | " + " | ".join(
                f"{v['auc']:.3f}, {v['recall']:.2f}" for v in figures.values()) + " |",
                flush=True)
    print(f"{time.perf_counter() - t0:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "frame": args.frame, "years": args.years, "events": args.events,
            "target": args.target, "n": args.n, "seed": args.seed, "rows": rows},
            indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

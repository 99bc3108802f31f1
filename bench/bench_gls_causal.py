"""The GLS Mogi filter as a watch would run it: from the series' own past only.

``evaluate real`` gives the GLS filter (:mod:`monitor.science.detect.gls_filter`) the
noise correlation and the threshold of whole other years, quiet by a known event list. A
watch has neither: when a new interferogram arrives it has the frame's earlier ones, some
of which may hold deformation, and no list. This script scores every product of a frame
in date order with a filter whose correlation
(:func:`monitor.science.noise_covariance.estimate_correlation`) and empirical threshold
(:meth:`GlsMogiFilter.with_null_threshold`, the conformal 95% quantile) come from **every earlier
product**, refreshed every ``--refresh`` products after the first ``--warm-up``, with the
frame's heights as nuisance. With ``--threshold-from arrivals`` the threshold is instead
the same quantile of the scores the earlier products got when they arrived, each with the
filter of its time: what a watch that keeps one number per product can afford, instead
of scoring its whole past again at every refresh.

The event windows are used only to score: products outside them count as quiet (false
alarms when flagged), and each quiet product also gets one Mogi source of each peak |LOS|
of ``--amplitudes-cm`` (2-5 km deep within 3 km of the centre, ``default_rng(--seed)``),
scored by the same causal filter.

It prints the false-alarm rate on the quiet products per year, the AUC of the injected
maps of 2 cm and more against them (score over the threshold of its date), the recall per
amplitude at the threshold, and the products of the event windows with their score.

Run: ``python bench/bench_gls_causal.py --archive DIR --frame F --events A:B`` (about a
minute for the 218 products of nine years on 2 cores). It needs more products than
``--warm-up`` (20: the empirical threshold's least); the small real crop the tests use
(``tests/data/erta_ale_014A``, the default archive) holds 14, and the script says so.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from real_frame_args import add_real_frame_arguments  # bench/, beside this script

from monitor.config import load_settings
from monitor.event_windows import overlaps, parse_events
from monitor.io.licsar_frame import open_frame, read_frame, read_grid
from monitor.science.detect.gls_filter import GlsMogiFilter, null_quantile
from monitor.science.detect.training import roc_auc
from monitor.science.injection import draw_mogi_injection
from monitor.science.noise_covariance import PRIOR_MAPS, block_factor, estimate_correlation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows A:B[,A:B]: used to score, never to fit")
    ap.add_argument("--warm-up", type=int, default=20,
                    help="products before the first score (the threshold needs 20)")
    ap.add_argument("--refresh", type=int, default=10,
                    help="products between two estimates of the correlation and threshold")
    ap.add_argument("--threshold-from", choices=("past", "arrivals"), default="past",
                    help="past: every earlier product scored again at each refresh; "
                         "arrivals: the scores earlier products got when they arrived")
    ap.add_argument("--block-m", type=float, default=650.0)
    ap.add_argument("--amplitudes-cm", default="1,2,3,4")
    ap.add_argument("--seed", type=int, default=707)
    ap.add_argument("--prior-maps", type=float, default=PRIOR_MAPS,
                    help="weight, in maps, of the exponential the correlation is shrunk "
                         "towards (0: the raw estimate)")
    args = ap.parse_args()
    events = parse_events(args.events)
    amplitudes = [float(a) for a in args.amplitudes_cm.split(",")]
    settings = load_settings(None)
    layout = open_frame(args.archive, args.frame)
    grid, dem = read_grid(layout, settings.rasters.max_pixels)
    products = sorted(read_frame(layout, grid, dem,
                                 coherence_threshold=settings.science.coherence_threshold,
                                 max_pixels=settings.rasters.max_pixels).interferograms,
                      key=lambda i: (i.date2, i.date1))
    factor = block_factor(grid.pixel_m, args.block_m, grid.shape)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    quiet: list[tuple[int, float]] = []  # (year, score over threshold)
    injected: dict[float, list[float]] = {a: [] for a in amplitudes}
    event_lines = []
    gls: GlsMogiFilter | None = None
    arrivals: list[float] = []  # each product's score with the filter of its time
    for k, ifg in enumerate(products):
        if k < args.warm_up:
            continue
        if gls is None or (k - args.warm_up) % args.refresh == 0:
            past = [p.displacement_m for p in products[:k]]
            corr = estimate_correlation(past, factor, prior_maps=args.prior_maps)
            gls = GlsMogiFilter(grid.pixel_m, corr, height_m=dem)
            if args.threshold_from == "past":
                gls = gls.with_null_threshold(past)
            elif not arrivals:  # the first fit: the warm-up's scores seed the history
                arrivals = [gls.measure(m).t for m in past]
        score = gls.measure(ifg.displacement_m).t
        if args.threshold_from == "arrivals":
            gls = replace(gls, null_threshold=null_quantile(arrivals, gls.alpha))
            arrivals.append(score)
        ratio = score / gls.threshold
        pair = f"{ifg.date1:%Y%m%d}_{ifg.date2:%Y%m%d}"
        if overlaps((ifg.date1, ifg.date2), events):
            event_lines.append(f"  {pair}: t / threshold {ratio:.2f}"
                               + (" (flagged)" if ratio > 1 else ""))
            continue
        quiet.append((ifg.date2.year, ratio))
        source = draw_mogi_injection(rng, grid.shape, grid.pixel_m)
        for a in amplitudes:
            x = ifg.displacement_m + source.scaled(a / 100.0)
            injected[a].append(gls.measure(x).t / gls.threshold)
    elapsed = time.perf_counter() - start
    if not quiet:
        raise SystemExit(f"no quiet product after the first {args.warm_up}: fewer products "
                         "or a shorter --warm-up")
    q = np.array([r for _, r in quiet])
    years = sorted({y for y, _ in quiet})
    print(f"frame {args.frame}: {len(products)} products, the first {args.warm_up} only "
          f"fitted; {q.size} quiet products scored, {len(event_lines)} in event windows; "
          f"blocks of {factor} px, heights {'given' if dem is not None else 'absent'}; "
          f"threshold from the {args.threshold_from}")
    print("false alarms on quiet products: "
          f"{int(np.sum(q > 1))}/{q.size} ({np.mean(q > 1):.3f}); by year "
          + ", ".join(f"{y} {sum(r > 1 for yy, r in quiet if yy == y)}/"
                      f"{sum(yy == y for yy, _ in quiet)}" for y in years))
    strong = np.array([r for a, v in injected.items() if a >= 2.0 for r in v])
    if strong.size:
        auc = roc_auc(np.r_[q, strong], np.r_[np.zeros(q.size), np.ones(strong.size)])
        print(f"AUC of injected maps >= 2 cm against the quiet ones: {auc:.3f}")
    print("recall at the causal threshold: "
          + ", ".join(f"{a:g} cm {np.mean(np.asarray(v) > 1):.2f}"
                      for a, v in injected.items()))
    print("products in the event windows:")
    print("\n".join(event_lines) if event_lines else "  none")
    print(f"{elapsed:.1f} s")


if __name__ == "__main__":
    main()

"""The GLS filter with the noise correlation of a short past, raw and shrunk.

A watch's first GLS filter (:mod:`monitor.science.detect.series_gls`) has the noise
correlation of its first 20 increments; ``evaluate real`` gives it the 135 quiet maps of
the frame's other years. This script asks what a short past costs the filter and what the
shrinkage of the estimate towards its fitted exponential
(:data:`monitor.science.noise_covariance.PRIOR_MAPS`) buys back: for each number of maps
``n`` of ``--maps``, the correlation comes from ``n`` consecutive quiet maps of the years
*not* scored, at ``--starts`` evenly spaced starts (blocks of time, in date order), with
each weight of ``--priors`` (0: the raw estimate); the filter (plane and height as
nuisance) then scores the scored years' quiet maps and the same maps with a Mogi source
(2-5 km deep within 3 km of the centre) of each peak |LOS| of ``--amplitudes-cm``
(``default_rng(--seed)``, quiet maps drawn with replacement).

It prints, per ``n`` and weight, the AUC of the injected maps against the quiet ones
(every amplitude together) for each start and their mean, and the recall at the largest
amplitude at the threshold that flags 5% of the quiet maps (their 95% quantile).

Run: ``python bench/bench_short_past.py --archive DIR --frame F --events A:B --years
2021,2022`` (about 10 minutes on 2 cores for the defaults). Without arguments it runs on
the small real crop the tests use, which holds too few maps for it and says so.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from real_frame_args import add_real_frame_arguments  # bench/, beside this script

from monitor.config import load_settings
from monitor.event_windows import in_years, parse_events, parse_years
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.gls_filter import GlsMogiFilter
from monitor.science.detect.series_gls import BLOCK_M
from monitor.science.detect.training import roc_auc
from monitor.science.injection import draw_mogi_injection
from monitor.science.noise_covariance import block_factor, estimate_correlation


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows A:B[,A:B]")
    ap.add_argument("--years", default="2021,2022", help="the scored (held-out) years")
    ap.add_argument("--maps", default="20,30,60",
                    help="numbers of consecutive quiet maps the correlation comes from")
    ap.add_argument("--priors", default="0,10",
                    help="weights, in maps, of the fitted exponential (0: raw)")
    ap.add_argument("--starts", type=int, default=3, help="starts per number of maps")
    ap.add_argument("--amplitudes-cm", default="2,3")
    ap.add_argument("--n-inject", type=int, default=40)
    ap.add_argument("--seed", type=int, default=707)
    ap.add_argument("--block-m", type=float, default=BLOCK_M)
    args = ap.parse_args()
    years = parse_years(args.years)
    amplitudes = _floats(args.amplitudes_cm)
    settings = load_settings(None)
    bank = load_noise_bank(args.archive, args.frame, settings,
                           events=parse_events(args.events))
    grid = bank.grid
    factor = block_factor(grid.pixel_m, args.block_m)
    test = [i for i in bank.epochs if in_years((i.date1, i.date2), years)]
    other = [i.displacement_m for i in bank.epochs
             if not in_years((i.date1, i.date2), years)]
    sizes = [int(n) for n in _floats(args.maps)]
    if not test or not sizes or max(sizes) > len(other):
        raise SystemExit(f"{len(test)} quiet maps in the scored years and {len(other)} in "
                         f"the others: need some of the first and {max(sizes or [0])} of "
                         "the second")
    rng = np.random.default_rng(args.seed)
    chosen = [int(i) for i in rng.choice(len(test), size=args.n_inject, replace=True)]
    sources = [(idx, draw_mogi_injection(rng, grid.shape, grid.pixel_m)) for idx in chosen]
    print(f"frame {args.frame}: {len(test)} quiet maps scored in {sorted(years or [])}, "
          f"{len(other)} quiet maps of the other years; {len(sources)} sources at "
          f"{', '.join(f'{a:g}' for a in amplitudes)} cm")
    began = time.perf_counter()
    for n in sizes:
        step = max(1, (len(other) - n) // args.starts)
        starts = list(range(0, len(other) - n + 1, step))[:args.starts]
        for prior in _floats(args.priors):
            aucs, recalls, lengths = [], [], []
            for s0 in starts:
                corr = estimate_correlation(other[s0:s0 + n], factor, prior_maps=prior)
                gls = GlsMogiFilter(grid.pixel_m, corr, height_m=bank.dem)
                quiet = np.array([gls.measure(i.displacement_m).t for i in test])
                injected = {a: np.array([gls.measure(test[k].displacement_m
                                                     + src.scaled(a / 100.0)).t
                                         for k, src in sources]) for a in amplitudes}
                positives = np.concatenate(list(injected.values()))
                aucs.append(roc_auc(np.r_[quiet, positives],
                                    np.r_[np.zeros(quiet.size), np.ones(positives.size)]))
                threshold = float(np.quantile(quiet, 0.95, method="higher"))
                recalls.append(float(np.mean(injected[max(amplitudes)] > threshold)))
                lengths.append(corr.length_blocks * factor * grid.pixel_m[0] / 1000.0)
            fitted = (f"L {np.mean(lengths):.1f} km" if prior > 0 else "raw")
            print(f"{n:4d} maps, prior {prior:g} ({fitted}): AUC {np.mean(aucs):.3f} "
                  f"[{' '.join(f'{a:.3f}' for a in aucs)}] from starts {starts}; recall at "
                  f"{max(amplitudes):g} cm {np.mean(recalls):.2f}", flush=True)
    print(f"{time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()

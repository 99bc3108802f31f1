"""What the block detector makes of real quiet maps longer than one interferogram.

The watch's series hold the displacement since a segment's first epoch; the block detector
was calibrated on single increments. This bench measures, on the quiet products of a real
frame (outside ``--events``), the detector's raw logit of every span of consecutive
increments that chain (the sum of increments ``i..j``: the displacement between two
acquisitions, as a cumulative map holds it), grouped by span length and by blocks of
years, against the calibration's threshold (the logit where P = 0.5); and where, in the
spans of ``--evidence-span`` increments, the best window's evidence lies (block row and
column, 650 m blocks) with the largest block of their mean map.

It then measures what the watch could judge instead, on each quiet product as it arrives
(``--fit-years`` give each rule its threshold, the conformal 95% quantile of its quiet
arrivals; the other years are counted): the newest increment alone (what the watch gives
the detector), or the largest logit of the spans of the newest 2, 3, 4 or 6 increments;
and the recall of a Mogi source of 1-4 cm (``evaluate real``'s draws) put into the newest
increment (a step) or spread evenly over the newest 3 or 6 (a ramp). Each rule is also
measured with **the series' own threshold**, as a watch could set it without a
calibration from other years: the conformal 95% quantile of the rule's scores of every
earlier quiet arrival of the frame (from the 21st on, the quantile's least), counted on
the arrivals of the years held out of both the network's training (``--train-years``)
and the fit years.

Run: ``python bench/bench_block_spans.py --archive DIR --frame F --events A:B`` (about a
minute on 2 cores; a 9-year frame holds some 12,000 spans). Without arguments it runs on
the small real crop the tests use, which only shows it runs.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from real_frame_args import add_real_frame_arguments  # bench/, beside this script

from monitor.config import load_settings
from monitor.event_windows import parse_events, parse_years
from monitor.io.models import load_block_model
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.blocks import BlockCalibration, BlockDetector
from monitor.science.detect.gls_filter import conformal_quantile
from monitor.science.injection import draw_mogi_injection
from monitor.science.noise_covariance import block_mean
from monitor.science.semireal import NoiseEpoch

#: Span lengths grouped in the table (increments).
SPAN_GROUPS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 63), (64, 10_000))
#: The arrival rules: the spans of the newest k increments each considers.
RULES = {"newest increment": (1,), "newest 2": (1, 2), "newest 3": (1, 2, 3),
         "newest 4": (1, 2, 3, 4), "newest 6": (1, 2, 3, 4, 5, 6)}
AMPLITUDES_CM = (1.0, 2.0, 3.0, 4.0)
#: Earlier quiet arrivals a series' own threshold needs (the conformal quantile's least at
#: 5%, as the GLS filter's warm-up).
MIN_HISTORY = 20
SHAPES = {"step": 1, "ramp over 3": 3, "ramp over 6": 6}


def chains(epochs: list[NoiseEpoch]) -> list[list[int]]:
    """Runs of consecutive increments that chain (each one's second date the next one's
    first)."""
    out: list[list[int]] = [[0]]
    for i in range(1, len(epochs)):
        if epochs[i - 1].date2 == epochs[i].date1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows left out (default: the dyke's)")
    ap.add_argument("--year-blocks", default="2014-2016;2019-2020;2021-2022;2023-2024",
                    help="blocks of years the table groups spans by (;-separated)")
    ap.add_argument("--fit-years", default="2021-2022",
                    help="years that set each arrival rule's threshold")
    ap.add_argument("--train-years", default="2014-2016,2019-2020",
                    help="the network's training years (the series' own threshold is not "
                         "counted on them)")
    ap.add_argument("--evidence-span", type=int, default=16)
    ap.add_argument("--blocks", default=None, help="block model (default: packaged)")
    ap.add_argument("--n", type=int, default=40, help="injections per amplitude")
    ap.add_argument("--seed", type=int, default=707)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    bank = load_noise_bank(args.archive, args.frame, load_settings(None),
                           events=parse_events(args.events))
    model = load_block_model(args.blocks)
    raw = BlockDetector(model.model, BlockCalibration(0.0, 1.0), bank.grid.pixel_m, bank.dem)
    threshold = model.calibration.threshold
    epochs = list(bank.epochs)

    def logit(x: np.ndarray) -> float:
        return max(w[2] for w in raw.window_logits(x))

    # 1. every span, by length and block of years
    spans: list[tuple[int, int, int, float]] = []  # first year, last year, length, logit
    evidence: dict[str, Counter[tuple[int, int]]] = {}
    means: dict[str, list[np.ndarray]] = {}
    blocks = {text: parse_years(text) or frozenset()
              for text in args.year_blocks.split(";")}
    for run in chains(epochs):
        for a in range(len(run)):
            acc = np.zeros(epochs[0].displacement_m.shape)
            for b in range(a, len(run)):
                acc = acc + epochs[run[b]].displacement_m
                first, last = epochs[run[a]].date1.year, epochs[run[b]].date2.year
                spans.append((first, last, b - a + 1, logit(acc)))
                if b - a + 1 != args.evidence_span or a % 2:
                    continue
                for text, years in blocks.items():
                    if first in years and last in years:
                        best = max(raw.window_logits(acc), key=lambda w: w[2])
                        evidence.setdefault(text, Counter())[(best[3], best[4])] += 1
                        means.setdefault(text, []).append(acc.copy())
    table = []
    for text, years in blocks.items():
        for lo, hi in SPAN_GROUPS:
            v = np.array([s[3] for s in spans if s[0] in years and s[1] in years
                          and lo <= s[2] <= hi])
            if v.size:
                table.append({"years": text, "spans": [lo, hi], "n": int(v.size),
                              "median": float(np.median(v)),
                              "q95": float(np.quantile(v, 0.95)),
                              "above_threshold": float(np.mean(v > threshold))})
    print(f"threshold (P = 0.5): logit {threshold:.2f}")
    print("| years | increments summed | spans | median logit | 95% quantile | above the "
          "threshold |\n| --- | --- | --- | --- | --- | --- |")
    for r in table:
        lo, hi = r["spans"]
        print(f"| {r['years']} | {lo}-{hi if hi < 10_000 else 'more'} | {r['n']} | "
              f"{r['median']:.2f} | {r['q95']:.2f} | {100 * r['above_threshold']:.0f}% |")
    where = {}
    for text, count in evidence.items():
        mean = block_mean(np.mean(means[text], axis=0), raw.factor)
        mean = mean - np.nanmedian(mean)
        k = np.unravel_index(int(np.nanargmax(np.abs(mean))), mean.shape)
        where[text] = {"evidence_blocks": [[int(r), int(c), n] for (r, c), n
                                           in count.most_common(3)],
                       "mean_map_largest_block": [int(k[0]), int(k[1])],
                       "mean_map_largest_mm": float(1000 * mean[k]),
                       "mean_map_block_std_mm": float(1000 * np.nanstd(mean))}
        print(f"{text}: spans of {args.evidence_span}: evidence at blocks "
              f"{where[text]['evidence_blocks']}; their mean map's largest block "
              f"{where[text]['mean_map_largest_block']}: "
              f"{where[text]['mean_map_largest_mm']:.1f} mm (blocks' std "
              f"{where[text]['mean_map_block_std_mm']:.1f} mm)")

    # 2. arrival rules: thresholds from the fit years, counted on the others
    fit = parse_years(args.fit_years) or frozenset()
    depth = max(max(k) for k in RULES.values())

    def behind(i: int) -> list[int]:
        out = [i]
        while (len(out) < depth and out[-1] > 0
               and epochs[out[-1] - 1].date2 == epochs[out[-1]].date1):
            out.append(out[-1] - 1)
        return out

    def arrival(i: int, extra: list[np.ndarray] | None = None) -> dict[int, float]:
        acc, out = np.zeros(epochs[0].displacement_m.shape), {}
        for j, k in enumerate(behind(i)):
            acc = acc + epochs[k].displacement_m + (extra[j] if extra and j < len(extra)
                                                    else 0.0)
            out[j + 1] = logit(acc)
        return {k: out[min(k, max(out))] for k in range(1, depth + 1)}

    def held(i: int) -> bool:
        return epochs[i].date1.year not in fit or epochs[i].date2.year not in fit

    def rule(s: dict[int, float], name: str) -> float:
        return max(s[k] for k in RULES[name])

    quiet = {i: arrival(i) for i in range(len(epochs))}
    fit_i = [i for i in quiet if not held(i)]
    test_i = [i for i in quiet if held(i)]
    if not fit_i or not test_i:
        print(f"\narrivals: {len(fit_i)} quiet products in {sorted(fit)} and {len(test_i)} "
              "in the other years; the arrival rules need both (the tests' crop holds one "
              "year)")
        return
    cut = {name: conformal_quantile([rule(quiet[i], name) for i in fit_i]) for name in RULES}
    rng = np.random.default_rng(args.seed)
    shape = epochs[0].displacement_m.shape

    def injected(candidates: list[int], cut_of: Callable[[str, int], float]
                 ) -> dict[tuple[str, str, float], list[bool]]:
        """Whether each rule flags ``args.n`` sources of each shape and amplitude put
        into arrivals drawn from ``candidates``, against ``cut_of(rule, arrival)``."""
        out: dict[tuple[str, str, float], list[bool]] = {}
        for _ in range(args.n):
            i = candidates[int(rng.integers(len(candidates)))]
            unit = draw_mogi_injection(rng, shape, bank.grid.pixel_m).unit_los
            for form, n in SHAPES.items():
                for a in AMPLITUDES_CM:
                    s = arrival(i, [unit * a / 100.0 / n] * n)
                    for name in RULES:
                        out.setdefault((form, name, a), []).append(
                            rule(s, name) > cut_of(name, i))
        return out

    hits = injected(test_i, lambda name, i: cut[name])
    rules = []
    print(f"\narrivals: thresholds from {sorted(fit)} ({len(fit_i)} quiet products); "
          f"{len(test_i)} others counted; {args.n} sources per amplitude")
    print("| rule | threshold | quiet flagged | " + " | ".join(
        f"{form}: recall 1/2/3/4 cm" for form in SHAPES) + " |\n|" + " --- |" * 6)
    for name in RULES:
        flagged = sum(rule(quiet[i], name) > cut[name] for i in test_i)
        recall = {form: [float(np.mean(hits[(form, name, a)])) for a in AMPLITUDES_CM]
                  for form in SHAPES}
        rules.append({"rule": name, "threshold": cut[name], "quiet_flagged": int(flagged),
                      "quiet": len(test_i), "recall": recall})
        print(f"| {name} | {cut[name]:.2f} | {flagged}/{len(test_i)} | " + " | ".join(
            "/".join(f"{r:.2f}" for r in recall[form]) for form in SHAPES) + " |")
    # the series' own threshold: from every earlier quiet arrival (causal)
    warm = MIN_HISTORY
    trained = parse_years(args.train_years) or frozenset()
    counted = [i for i in test_i if i >= warm and epochs[i].date1.year not in trained
               and epochs[i].date2.year not in trained]
    if not counted:
        print(f"\nno arrival outside the fit and training years has {warm} earlier quiet "
              "arrivals: no series' own threshold to measure")
    else:
        own = {name: {i: conformal_quantile([rule(quiet[j], name) for j in range(i)])
                      for i in counted} for name in RULES}
        own_hits = injected(counted, lambda name, i: own[name][i])
        print(f"\nthe series' own threshold (earlier quiet arrivals, from the {warm + 1}th); "
              f"counted on the {len(counted)} arrivals outside {sorted(fit)} and the training "
              f"years {sorted(trained)}")
        print("| rule | threshold: median (range) | quiet flagged | " + " | ".join(
            f"{form}: recall 1/2/3/4 cm" for form in SHAPES) + " |\n|" + " --- |" * 6)
        for name, rec in zip(RULES, rules, strict=True):
            cuts = np.array(list(own[name].values()))
            flagged = sum(rule(quiet[i], name) > t for i, t in own[name].items())
            recall = {form: [float(np.mean(own_hits[(form, name, a)])) for a in AMPLITUDES_CM]
                      for form in SHAPES}
            rec["own_threshold"] = {"median": float(np.median(cuts)), "min": float(cuts.min()),
                                    "max": float(cuts.max()), "quiet_flagged": int(flagged),
                                    "quiet": int(cuts.size), "recall": recall}
            print(f"| {name} | {np.median(cuts):.2f} ({cuts.min():.2f}-{cuts.max():.2f}) | "
                  f"{flagged}/{cuts.size} | " + " | ".join(
                      "/".join(f"{r:.2f}" for r in recall[form]) for form in SHAPES) + " |")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "frame": args.frame, "events": args.events, "model_sha256": model.sha256,
            "threshold_logit": threshold, "spans": table, "evidence_span": args.evidence_span,
            "evidence": where, "fit_years": sorted(fit), "arrival_rules": rules,
            "n": args.n, "seed": args.seed}, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

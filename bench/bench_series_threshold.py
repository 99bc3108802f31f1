"""The block detector against a series' own threshold, as the watch runs it, on a real frame.

Walks a real LiCSAR-layout frame's products in date order as a watch receives them,
events included (the watch knows no event windows), keeping the series' noise history over
the 20 km window centred on the target, and judges each arrival by rule 1 of
:mod:`monitor.science.detect.series_blocks` (the largest logit of the newest one or two
increments against the conformal 95% quantile of the earlier arrivals' scores, far-out
scores set aside). Counted: the quiet arrivals (outside ``--events``) of the years outside
the network's training years (``--train-years``), with 40 Mogi sources of 1-4 cm per
amplitude (``evaluate real``'s draws) put into a counted arrival's newest increment (a
step) or split evenly between it and the one before (a step between two acquisitions).
Each is also counted **by the next arrival**: flagged at its arrival or at the one after
(the watch's next judgement, whose span of two increments holds the step; a flag the next
arrival's own noise raises counts too, so this recall is high by at most the quiet rate
times the misses). In the same run, on the same arrivals and draws:

* **the newest increment alone**, or **the newest 1-3**, against its series' own
  threshold (the same rule with spans of one, or of one to three, increments);
* **packaged**: the packaged calibration on the newest increment alone (P = 0.5 at its
  threshold from the 2021-2022 quiet pairs; the watch before the series' threshold);
* **plain rule**: the smoothed peak-to-noise ratio of the newest increment
  (:class:`~monitor.science.detect.baseline.PeakToNoiseDetector`) against the series' own
  threshold by the same rule (:func:`~monitor.science.detect.series_blocks.series_threshold`
  of its earlier arrivals' ratios).

Run: ``python bench/bench_series_threshold.py --archive DIR --frame F --events A:B
--target LON,LAT [--model FILE]`` (one minute on an idle 2-core machine for a 9-year
frame, seven on a busy one, most of it the newest 1-3's sums). Without arguments it
runs on the small real crop the tests use, whose 14 products are too few for a threshold:
it only shows it runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from real_frame_args import add_real_frame_arguments, target_history  # bench/

from monitor.config import load_settings
from monitor.event_windows import overlaps, parse_events, parse_years
from monitor.io.models import load_block_model
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.baseline import PeakToNoiseDetector
from monitor.science.detect.blocks import BlockDetector
from monitor.science.detect.series_blocks import judge, series_threshold
from monitor.science.detect.series_gls import NoiseHistory
from monitor.science.injection import draw_mogi_injection

AMPLITUDES_CM = (1.0, 2.0, 3.0, 4.0)
SHAPES = ("step", "split over 2")
#: The same, flagged at the arrival or at the next one (the watch's next judgement).
LATER = tuple(f"{s}, by the next" for s in SHAPES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows (not counted; the watch still sees them)")
    ap.add_argument("--target", default="40.67,13.60", help="LON,LAT of the window's centre")
    ap.add_argument("--train-years", default="2014-2016,2019-2020",
                    help="the network's training years (not counted)")
    ap.add_argument("--n", type=int, default=40, help="sources per amplitude")
    ap.add_argument("--seed", type=int, default=707)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None,
                    help="block-detector model file (default: the packaged one)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    events = parse_events(args.events)
    trained = parse_years(args.train_years) or frozenset()
    bank = load_noise_bank(args.archive, args.frame, load_settings(None))  # every product
    model = load_block_model(args.model)
    grid = bank.grid
    detector = BlockDetector(model.model, model.calibration, grid.pixel_m, bank.dem)
    plain = PeakToNoiseDetector(grid.pixel_m)
    empty = target_history(grid, args.target)
    window = empty.window
    epochs = list(bank.epochs)
    for a, b in zip(epochs, epochs[1:], strict=False):
        if a.date2 != b.date1:
            print(f"note: {a.date1}_{a.date2} and {b.date1}_{b.date2} do not chain; "
                  "the span of two crosses the gap")

    def packaged_logit(increment: np.ndarray) -> float:
        return max(w[2] for w in detector.window_logits(window.cut(increment)))

    def ratio(increment: np.ndarray) -> float:
        return plain.measure(window.cut(increment)).ratio

    histories: list[NoiseHistory] = []
    history = empty
    ratios: list[float] = []
    rows = []
    for e in epochs:
        histories.append(history)
        d = np.asarray(e.displacement_m, np.float64)
        j = judge(detector, history, d)
        r = ratio(d)
        limit = series_threshold(np.array(ratios))
        rows.append({"pair": f"{e.date1}_{e.date2}", "event": overlaps((e.date1, e.date2),
                                                                       events),
                     "counted": (not overlaps((e.date1, e.date2), events)
                                 and e.date1.year not in trained
                                 and e.date2.year not in trained),
                     "series_p": None if j is None else j.p,
                     "series_threshold": None if j is None else j.threshold,
                     "set_aside": None if j is None else j.set_aside,
                     "packaged_p": float(model.calibration.probability(packaged_logit(d))),
                     "plain_ratio": r, "plain_threshold": None if limit is None else limit[0]})
        ratios.append(r)
        history = history.appended(d, None, e.date2)
    counted = [i for i, row in enumerate(rows) if row["counted"]
               and row["series_p"] is not None and row["plain_threshold"] is not None]
    print(f"{len(epochs)} products ({epochs[0].date1} to {epochs[-1].date2}); "
          f"{len(counted)} counted (quiet, outside the training years "
          f"{sorted(trained)}, with a series' threshold)")
    if not counted:
        print("no counted arrival: nothing to measure (the tests' crop holds 14 products)")
        return

    def flags(i: int, d: np.ndarray, h: NoiseHistory) -> dict[str, bool]:
        j = judge(detector, h, d)
        limit = rows[i]["plain_threshold"]
        one = judge(detector, h, d, spans=(1,))
        three = judge(detector, h, d, spans=(1, 2, 3))
        return {"series": j is not None and j.p > 0.5,
                "series newest 1-3": three is not None and three.p > 0.5,
                "series newest": one is not None and one.p > 0.5,
                "packaged": float(model.calibration.probability(packaged_logit(d))) > 0.5,
                "plain": limit is not None and ratio(d) > limit}

    quiet = {i: flags(i, np.asarray(epochs[i].displacement_m, np.float64), histories[i])
             for i in counted}
    rules = ("series", "series newest", "series newest 1-3", "packaged", "plain")
    rng = np.random.default_rng(args.seed)
    hits: dict[tuple[str, str, float], list[bool]] = {}
    for _ in range(args.n):
        i = counted[int(rng.integers(len(counted)))]
        unit = draw_mogi_injection(rng, grid.shape, grid.pixel_m).unit_los
        d = np.asarray(epochs[i].displacement_m, np.float64)
        before = np.asarray(epochs[i - 1].displacement_m, np.float64) if i else None
        for a in AMPLITUDES_CM:
            src = unit * a / 100.0
            got = {"step": flags(i, d + src, histories[i])}
            after = {"step": histories[i].appended(d + src, None, epochs[i].date2)}
            if before is not None:
                h = histories[i - 1].appended(before + src / 2, None, epochs[i - 1].date2)
                got["split over 2"] = flags(i, d + src / 2, h)
                after["split over 2"] = h.appended(d + src / 2, None, epochs[i].date2)
            if i + 1 < len(epochs):  # the next arrival, its span of two holding the step
                following = np.asarray(epochs[i + 1].displacement_m, np.float64)
                for shape, h in after.items():
                    then = flags(i + 1, following, h)
                    got[f"{shape}, by the next"] = {r: got[shape][r] or then[r] for r in rules}
            for shape, f in got.items():
                for rule in rules:
                    hits.setdefault((shape, rule, a), []).append(f[rule])
    table = []
    print("| rule | quiet flagged | " + " | ".join(f"{s}: recall 1/2/3/4 cm" for s in SHAPES)
          + " |\n| --- | --- | --- | --- |")
    names = {"series": "block detector, the series' own threshold (newest 1-2)",
             "series newest": "block detector, the series' own threshold (newest increment)",
             "series newest 1-3": "block detector, the series' own threshold (newest 1-3)",
             "packaged": "block detector, packaged threshold (newest increment)",
             "plain": "plain peak-to-noise, the series' own threshold (newest increment)"}
    for rule in rules:
        flagged = sum(quiet[i][rule] for i in counted)
        recall = {s: [float(np.mean(hits[(s, rule, a)])) for a in AMPLITUDES_CM]
                  for s in SHAPES + LATER if (s, rule, AMPLITUDES_CM[0]) in hits}
        table.append({"rule": rule, "quiet_flagged": int(flagged), "quiet": len(counted),
                      "recall": recall})
        print(f"| {names[rule]} | {flagged}/{len(counted)} | " + " | ".join(
            "/".join(f"{v:.2f}" for v in recall[s]) for s in SHAPES) + " |")
    print("\nFlagged at the arrival or at the next one (its span of two holds the step; a "
          "quiet flag of the next arrival counts too):\n\n| rule | " + " | ".join(
              f"{s}: recall 1/2/3/4 cm" for s in LATER) + " |\n| --- | --- | --- |")
    for row in table:
        print(f"| {names[row['rule']]} | " + " | ".join(
            "/".join(f"{v:.2f}" for v in row["recall"].get(s, [])) for s in LATER) + " |")
    nxt = [i + 1 for i in counted if i + 1 in quiet]
    print(f"quiet arrivals after a counted one, flagged by the shipped rule: "
          f"{sum(quiet[i]['series'] for i in nxt)}/{len(nxt)}")
    years = sorted({epochs[i].date2.year for i in counted})
    for y in years:
        sel = [i for i in counted if epochs[i].date2.year == y]
        thr = [rows[i]["series_threshold"] for i in sel]
        print(f"{y}: {len(sel)} quiet arrivals; flagged {sum(quiet[i]['series'] for i in sel)}"
              f" (packaged {sum(quiet[i]['packaged'] for i in sel)}); series' threshold "
              f"{np.median(thr):.2f} ({min(thr):.2f}-{max(thr):.2f})")
    high = [(rows[i]["pair"], round(rows[i]["series_p"], 3)) for i in range(len(rows))
            if rows[i]["series_p"] is not None and rows[i]["series_p"] > 0.5]
    print(f"arrivals at P > 0.5 by the series' threshold (events included): {high}")
    print(f"{time.perf_counter() - t0:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "frame": args.frame, "events": args.events, "target": args.target,
            "model": Path(model.path).name, "model_sha256": model.sha256,
            "train_years": sorted(trained), "n": args.n,
            "seed": args.seed, "rules": table, "arrivals": rows}, indent=1) + "\n",
            encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

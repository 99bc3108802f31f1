"""A small network on block means of real noise: does the input, not the frame, hold it back?

On the held-out years of the real Erta Ale frame the packaged network (full-resolution
wrapped phase at four gains) separates injected Mogi sources from real quiet maps with an
AUC of 0.85, the GLS Mogi filter with 0.95, and the same filter with no frame history at
all (each map whitened by the exponential fitted to its own correlation;
``bench/bench_real_bound.py``, "own map") with 0.946. So one map holds the information;
the question this script asks is whether a network can learn to take it when it reads the
map as the filter does: **unwrapped displacement averaged over blocks of 650 m**, each
map's plane and height term (stratified delay) fitted and removed by least squares, the
residual divided by its robust scale (1.4826 times its median absolute deviation), with a
validity mask as the second channel.

Training data, as ``synth semireal`` draws it, in block space: the real quiet maps of the
training years (increments, and sums of two or three consecutive ones along the daisy
chain), sign flipped with odds 1/2 and scaled by 0.7-1.4; half of them get one source of
the generator's six kinds (:func:`monitor.science.sources.draws.draw_source`: Mogi,
dyke, penny-shaped and Okada sills, a pair of Mogi sources, a Gaussian sill; within
2.5 km of the centre; Mogi sources as ``evaluate real`` injects them) with a peak |LOS| of
0.8-10 cm, log-uniform, deflation with odds 0.3; random quarter turns and flips. The
network: four 3 x 3 convolutions of 32 and 64 channels with two poolings, a fifth of 64,
and the maximum and mean of its map into one logit (102,337 parameters). Adam,
learning rate 1e-3, batches of 64.

The step count is chosen on the validation years alone (every ``--eval-every`` steps, the
best AUC there), and the test years are scored once with that network. Both are scored as
``evaluate real`` and ``bench/bench_real_bound.py`` score them (the same draws: 40 Mogi
sources of 1-4 cm, ``default_rng(--seed-eval)``): the AUC of injected maps of 2 cm and
more against the quiet maps, and the recall at the threshold that flags 5% of the quiet
ones; on the test years also at the threshold a watch would take from other years (the
conformal 95% quantile of the validation years' quiet scores,
:func:`~monitor.science.detect.gls_filter.null_quantile`). The GLS filter with the map's
own exponential (no history) is scored on the same maps in the same run as the
reference, and on the test years the other five kinds (20
sources each at 2 and 3 cm, drawn as ``bench_real_bound.py --shapes`` draws them but
within 2.5 km of the centre, as the training sources are).

This bench measures the representation; the detector the project ships from it is
:mod:`monitor.science.detect.blocks` (``insar-monitor train-blocks``: the same network and
input, scored window by window over any map, calibrated on the validation years).

Run: ``python bench/bench_block_cnn.py --archive DIR --frame F --events A:B --json
docs/detection_block_cnn.json`` (10 minutes on 2 cores). The small real crop the tests
use holds one year of quiet maps, too few for three blocks of years, and the script says
so.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_real_bound import grid_xy, other_shape_maps  # bench/
from numpy.typing import NDArray
from real_frame_args import CROP, add_real_frame_arguments  # bench/, beside this script
from torch import nn

from monitor.config import load_settings
from monitor.detector_blocks import KINDS
from monitor.event_windows import in_years, parse_events, parse_years
from monitor.noise_bank import NoiseEpoch, load_noise_bank
from monitor.science.detect.blocks import BlockNet, window_channels
from monitor.science.detect.gls_filter import GlsMogiFilter, null_quantile
from monitor.science.detect.training import roc_auc
from monitor.science.injection import draw_mogi_injection, source_unit_los
from monitor.science.noise_covariance import block_factor, block_mean, correlation_of_blocks
from monitor.science.semireal import spans


class BlockInput:
    """Block means of a map, its plane and height fitted out, robustly scaled."""

    def __init__(self, factor: int, heights: NDArray[np.floating] | None) -> None:
        self.factor = factor
        self.heights = None if heights is None else block_mean(heights, factor)

    def blocks(self, displacement_m: NDArray[np.floating]) -> NDArray[np.float64]:
        return block_mean(displacement_m, self.factor)

    def channels(self, b: NDArray[np.float64]) -> NDArray[np.float32]:
        """The two channels of :func:`monitor.science.detect.blocks.window_channels`."""
        return window_channels(b, self.heights)


def _training_noise(epochs: Sequence[NoiseEpoch], inputs: BlockInput) -> NDArray[np.float64]:
    """Block means of the increments, then of the sums of 2 and of 3 consecutive ones that
    chain (``synth semireal``'s spans)."""
    chained = sorted(spans(epochs, 3), key=lambda span: (span[1], span[0]))
    return np.stack([inputs.blocks(np.sum([e.displacement_m for e in epochs[i:i + k]], axis=0))
                     for i, k in chained])


def _unit_patterns(rng: np.random.Generator, n: int, grid: Any, inputs: BlockInput,
                   kinds: Sequence[str]) -> NDArray[np.float64]:
    """Block means of unit-peak LOS patterns of ``n`` sources, the kinds in turn (Mogi
    sources as ``evaluate real`` injects them, the others within 2.5 km of the centre)."""
    xy = grid_xy(grid)
    out = []
    for k in range(n):
        kind = kinds[k % len(kinds)]
        if kind == "mogi":
            unit = draw_mogi_injection(rng, grid.shape, grid.pixel_m).unit_los
        else:
            unit = source_unit_los(rng, kind, xy, 2500.0)
        out.append(np.nan_to_num(inputs.blocks(np.asarray(unit, dtype=np.float64))))
    return np.stack(out)


def _batch(rng: np.random.Generator, n: int, noise: NDArray[np.float64],
           units: NDArray[np.float64], inputs: BlockInput
           ) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(n):
        b = noise[rng.integers(len(noise))] * rng.choice([-1.0, 1.0]) * rng.uniform(0.7, 1.4)
        label = rng.random() < 0.5
        if label:
            peak = math.exp(rng.uniform(math.log(0.008), math.log(0.1)))
            b = b + peak * rng.choice([-1.0, 1.0], p=[0.3, 0.7]) * units[
                rng.integers(len(units))]
        x = np.rot90(inputs.channels(b), int(rng.integers(4)), axes=(1, 2))
        if rng.random() < 0.5:
            x = x[:, :, ::-1]
        xs.append(np.ascontiguousarray(x))
        ys.append(float(label))
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys)


def _summary(quiet: NDArray[np.floating], injected: dict[float, NDArray[np.floating]],
             given: float | None = None) -> dict[str, Any]:
    """AUC (2 cm and more) and recall at the threshold that flags 5% of ``quiet``; with a
    ``given`` threshold, the false-alarm rate and recall at it as well."""
    strong = np.concatenate([v for a, v in injected.items() if a >= 2.0])
    auc = roc_auc(np.r_[quiet, strong], np.r_[np.zeros(quiet.size), np.ones(strong.size)])
    threshold = float(np.quantile(quiet, 0.95, method="higher"))
    out: dict[str, Any] = {
        "auc_ge_2cm": auc, "fpr": float(np.mean(quiet > threshold)),
        "recall": {str(a): float(np.mean(v > threshold)) for a, v in injected.items()}}
    if given is not None:
        out["given_threshold"] = {
            "threshold": given, "fpr": float(np.mean(quiet > given)),
            "recall": {str(a): float(np.mean(v > given)) for a, v in injected.items()}}
    return out


def _score_mogi(score: Callable[[list[NDArray[np.floating]]], NDArray[np.floating]],
                maps: Sequence[NoiseEpoch], grid: Any, seed: int, n: int,
                amplitudes: Sequence[float], given: float | None = None) -> dict[str, Any]:
    """``evaluate real``'s draws: ``n`` Mogi sources on maps chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen = [int(i) for i in rng.choice(len(maps), size=n, replace=n > len(maps))]
    sources = [(i, draw_mogi_injection(rng, grid.shape, grid.pixel_m)) for i in chosen]
    quiet = score([m.displacement_m for m in maps])
    injected = {a: score([maps[i].displacement_m + s.scaled(a / 100.0) for i, s in sources])
                for a in amplitudes}
    return _summary(quiet, injected, given)


def _score_kinds(score: Callable[[list[NDArray[np.floating]]], NDArray[np.floating]],
                 maps: list[NoiseEpoch], grid: Any, seed: int, n: int
                 ) -> dict[str, dict[str, Any]]:
    """The other kinds, ``n`` of each at 2 and 3 cm, drawn with ``seed`` as
    ``bench_real_bound.py --shapes`` draws them but within 2.5 km of the centre, as the
    training sources."""
    quiet = score([m.displacement_m for m in maps])
    made = other_shape_maps(np.random.default_rng(seed), grid, maps, n, jitter_m=2500.0)
    return {kind: _summary(quiet, {a: score(v) for a, v in by_amp.items()})
            for kind, by_amp in made.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows A:B[,A:B]")
    ap.add_argument("--train-years", default="2014-2016,2019-2020")
    ap.add_argument("--val-years", default="2021-2022")
    ap.add_argument("--test-years", default="2017,2018,2023,2024")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--sources", type=int, default=1200, help="source patterns to draw from")
    ap.add_argument("--seed", type=int, default=0, help="network, batches and sources")
    ap.add_argument("--seed-eval", type=int, default=707, help="evaluate real's draws")
    ap.add_argument("--shapes", type=int, default=20, help="sources of each other kind")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not 1 <= args.eval_every <= args.steps:
        raise SystemExit(f"--eval-every ({args.eval_every}) must lie in [1, --steps "
                         f"({args.steps})]: the network is chosen at those steps")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    settings = load_settings(None)
    bank = load_noise_bank(args.archive, args.frame, settings, events=parse_events(args.events))
    grid = bank.grid
    sets = {name: [e for e in bank.epochs if in_years((e.date1, e.date2), parse_years(y))]
            for name, y in (("train", args.train_years), ("validation", args.val_years),
                            ("test", args.test_years))}
    short = [f"{name} ({len(v)})" for name, v in sets.items() if len(v) < 10]
    if short:
        message = (f"too few quiet maps in {', '.join(short)}: give --archive with the whole "
                   "frame, or other years")
        if args.archive == str(CROP):  # `make bench` without the archive: nothing to show
            print(f"bench_block_cnn: skipped on the tests' crop: {message}")
            return
        raise SystemExit(message)
    start = time.perf_counter()
    factor = block_factor(grid.pixel_m, 650.0)
    inputs = BlockInput(factor, bank.dem)
    noise = _training_noise(sets["train"], inputs)
    rng = np.random.default_rng(args.seed)
    units = _unit_patterns(rng, args.sources, grid, inputs, KINDS)
    net = BlockNet()
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()

    def cnn(maps: list[NDArray[np.floating]]) -> NDArray[np.floating]:
        net.eval()
        with torch.no_grad():
            x = np.stack([inputs.channels(inputs.blocks(m)) for m in maps])
            return net(torch.from_numpy(x)).numpy()

    def own_map(maps: list[NDArray[np.floating]]) -> NDArray[np.floating]:
        out = []
        for m in maps:
            corr = correlation_of_blocks([inputs.blocks(m)], factor, prior_maps=math.inf)
            out.append(GlsMogiFilter(grid.pixel_m, corr, height_m=bank.dem).measure(m).t)
        return np.asarray(out)

    amplitudes = (1.0, 2.0, 3.0, 4.0)
    history, best_auc, best_state, best_step = [], -1.0, None, 0
    for step in range(1, args.steps + 1):
        x, y = _batch(rng, 64, noise, units, inputs)
        net.train()
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        if step % args.eval_every == 0:
            val = _score_mogi(cnn, sets["validation"], grid, args.seed_eval, 40, amplitudes)
            history.append({"step": step, "loss": loss.item(), "validation": val})
            print(f"step {step}: validation AUC {val['auc_ge_2cm']:.3f}", flush=True)
            if val["auc_ge_2cm"] > best_auc:
                best_auc, best_step = val["auc_ge_2cm"], step
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:  # None only if every validation AUC was NaN
        net.load_state_dict(best_state)
    results: dict[str, dict[str, Any]] = {}
    for name, score in (("block network", cnn), ("GLS filter, own map", own_map)):
        # the threshold a watch would take from other years: the conformal 95% quantile
        # of the validation years' quiet scores, applied to the test years
        given = null_quantile(list(score([m.displacement_m for m in sets["validation"]])))
        results[name] = {
            block: _score_mogi(score, sets[block], grid, args.seed_eval, 40, amplitudes,
                               given if block == "test" else None)
            for block in ("validation", "test")}
        results[name]["test, other kinds"] = _score_kinds(score, sets["test"], grid,
                                                          args.seed_eval + 2, args.shapes)
    elapsed = time.perf_counter() - start
    print(f"frame {args.frame}: {len(noise)} training maps from {len(sets['train'])} quiet "
          f"increments, {len(units)} source patterns; blocks of {factor} px; network of step "
          f"{best_step} (best validation AUC)")
    for name, r in results.items():
        for block in ("validation", "test"):
            s = r[block]
            rec = " / ".join(f"{v:.2f}" for v in s["recall"].values())
            print(f"{name:20s} {block:10s} ({len(sets[block])} quiet): AUC >= 2 cm "
                  f"{s['auc_ge_2cm']:.3f}; recall at FPR {s['fpr']:.3f}, 1 / 2 / 3 / 4 cm: {rec}")
        at = r["test"]["given_threshold"]
        print(f"{name:20s} test at the validation years' threshold ({at['threshold']:.2f}): "
              f"FPR {at['fpr']:.3f}, recall 1 / 2 / 3 / 4 cm "
              + " / ".join(f"{v:.2f}" for v in at["recall"].values()))
        print(f"{name:20s} test, other kinds, AUC: " + ", ".join(
            f"{k} {v['auc_ge_2cm']:.2f}" for k, v in r["test, other kinds"].items()))
    print(f"{elapsed:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "frame": args.frame, "best_step": best_step, "history": history,
            "training_maps": len(noise), "results": results, "seconds": elapsed}, indent=1))


if __name__ == "__main__":
    main()

"""The network's single-map level confirmed by the series' own GLS filter, on a real frame.

The watch scores each epoch's **cumulative** map (its daisy chain since the series'
first epoch) with the network; :mod:`monitor.science.detect.series_gls` judges the same
map with the GLS Mogi filter whose noise model and threshold come from the series' own
earlier increments. This script runs a real frame the way the watch would, as series that
start at the given dates (``--starts``; a target's ``start``), and prints per series and
in all, for the epochs the filter judges (after its warm-up of 20 increments):

* epochs outside the event windows (``--events``) flagged by the network alone (P > 0.5,
  the watch's raw single-map score), by the filter alone, and by both (the confirmation);
* the same with a Mogi source of ``--amplitudes-cm`` added to each of those cumulative
  maps (2-5 km deep within 3 km of the target, ``default_rng(--seed)``): the recall, the
  price of the confirmation;
* a plain baseline: the smoothed peak-to-noise rule of ``evaluate real`` on the same maps;
* the epochs inside event windows, with their P values.

A series ends at the start of the first event window after it, since after a real event
every cumulative map of the series holds it. Outside the event windows is not the same
as quiet: on the real Erta Ale frame the cumulative maps of both series hold a growing
signal at the summit (the bell amplitude rises by about 2 cm/yr from 2019, the filter's
best source sits 1 km west and south of the target, 2 km deep, epoch after epoch), which
both detectors call; the single-map false-alarm rate on real data is ``evaluate real``'s,
on increments. What this bench measures on a real frame is whether the confirmation
removes what the network alone flags, and what it costs on injected sources.

With ``--borrow`` each series' noise history begins, as the watch's does for a target with
a ``start``, with up to 30 of the frame's products that chain back from the series' first
date (:func:`~monitor.science.detect.series_gls.chain_before`), so the filter judges from
the first increment; the epochs of the warm-up (the first 20 increments, where without
borrowing the network stands alone) are then counted apart. Many short series (``--starts``
every eight months) measure what borrowing changes. ``--first-date-only`` judges each
cumulative map against the series' first date alone instead of the level of its first
dates (:meth:`~monitor.science.detect.series_gls.NoiseHistory.level`): the A/B of that
level on the same maps.

Run: ``python bench/bench_watch_confirm.py --archive DIR --frame F --events A:B
--target LON,LAT --starts 2014-01-01,2019-01-01`` (a few minutes for nine years of a real
frame on 2 cores). Without arguments it runs on the small real crop the tests use, which
holds too few products for the filter and says so.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from datetime import date

import numpy as np
from real_frame_args import add_real_frame_arguments  # bench/, beside this script

from monitor.config import load_settings
from monitor.event_windows import overlaps, parse_events
from monitor.io.licsar_frame import open_frame, read_frame, read_grid
from monitor.io.models import load_detector
from monitor.science.detect.baseline import PeakToNoiseDetector
from monitor.science.detect.series_gls import (
    WARM_UP,
    NoiseHistory,
    chain_before,
    confirm,
    gls_window,
    step,
)
from monitor.science.grids import GroundDisc
from monitor.science.injection import draw_mogi_injection
from monitor.science.scoring import cnn_detector, score_map
from monitor.service.scoring import scoring_params
from monitor.service.series_scan import prepare_series


def _rate(flags: list[bool]) -> str:
    n = len(flags)
    return f"{sum(flags)}/{n} ({sum(flags) / n:.3f})" if n else "0/0"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_real_frame_arguments(ap, "event windows A:B[,A:B]: used to score, never to fit")
    ap.add_argument("--target", default="40.67,13.60,3", help="LON,LAT[,RADIUS_KM]")
    ap.add_argument("--starts", default="2014-01-01,2019-01-01",
                    help="first dates of the series, comma-separated")
    ap.add_argument("--amplitudes-cm", default="2,3,4")
    ap.add_argument("--seed", type=int, default=707)
    ap.add_argument("--borrow", action="store_true",
                    help="begin each history with the products before the series' start")
    ap.add_argument("--first-date-only", action="store_true",
                    help="judge each cumulative map against the series' first date alone "
                         "(as before the level of its first dates: the A/B)")
    args = ap.parse_args()
    events = parse_events(args.events)
    lon, lat, *rad = (float(v) for v in args.target.split(","))
    target = GroundDisc(lon, lat, rad[0] if rad else 3.0)
    amplitudes = [float(a) for a in args.amplitudes_cm.split(",")]
    settings = load_settings(None)
    layout = open_frame(args.archive, args.frame)
    grid, dem = read_grid(layout, settings.rasters.max_pixels)
    products = read_frame(layout, grid, dem,
                          coherence_threshold=settings.science.coherence_threshold,
                          max_pixels=settings.rasters.max_pixels)
    loaded = load_detector(None, None, "cpu")
    params = scoring_params(settings, lstt_permutations=50)
    cnn = cnn_detector(loaded.model, params, loaded.calibration, grid.pixel_m)
    baseline = PeakToNoiseDetector(grid.pixel_m)
    rng = np.random.default_rng(args.seed)
    starts = sorted(date.fromisoformat(s) for s in args.starts.split(","))
    t0 = time.perf_counter()
    keys = ("cnn", "gls", "both", "base")
    rows: dict[str, list[bool]] = {k: [] for k in keys}
    # each flag outside the event windows, and with each injected source
    hits: dict[float, dict[str, list[bool]]] = {a: {k: [] for k in keys} for a in amplitudes}
    # the same for the epochs of the warm-up (judged only with --borrow)
    early: dict[str, list[bool]] = {k: [] for k in keys}
    early_hits: dict[float, dict[str, list[bool]]] = {
        a: {k: [] for k in keys} for a in amplitudes}
    for k, first in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else date.max
        later = [e[0] for e in events if e[0] >= first]
        stop = min([end] + later)
        chain = [i for i in products.interferograms if i.date1 >= first and i.date2 <= stop]
        if len(chain) < 2:
            print(f"series from {first}: {len(chain)} products, nothing to score")
            continue
        prepared = prepare_series(replace(products, interferograms=chain), target, None,
                                  network="daisy",
                                  coherence_threshold=settings.science.coherence_threshold,
                                  dem=dem)
        regions = prepared.regions
        centre = grid.centre_rc(lon, lat)
        assert centre is not None
        window = gls_window(grid.shape, grid.pixel_m, centre)
        history = replace(NoiseHistory.empty(window), first_date_only=args.first_date_only)
        borrowed = []
        if args.borrow:
            borrowed = chain_before([i for i in products.interferograms
                                     if i.date1 < first], chain[0].date1)
            for i in borrowed:
                history = history.appended(i.displacement_m, None, i.date2)
        series = prepared.series
        judged = 0
        lines = []
        for j in range(1, len(series.epochs)):
            cum = prepared.maps[j].astype(np.float64)
            inc = cum - prepared.maps[j - 1]
            epoch = series.epochs[j]
            history, gls = step(history, cum, inc, grid.pixel_m, dem, epoch)
            if gls is None:
                continue
            raw = score_map(cnn, cum.astype(np.float32), regions, epoch, params)
            quiet = not overlaps((series.epochs[0], epoch), events)
            base = baseline.detect(window.cut(cum)).p_fused
            if not quiet:
                lines.append(f"  {epoch}: network {raw.p_fused:.2f}, GLS {gls.p:.2f}")
                continue
            judged += 1
            warm = j <= WARM_UP  # an epoch of the warm-up: judged only when borrowing
            flags = {"cnn": raw.p_fused > 0.5, "gls": gls.p > 0.5,
                     "base": base > 0.5}
            flags["both"] = flags["cnn"] and flags["gls"]
            if flags["cnn"] != flags["gls"]:
                lines.append(f"  {epoch}: {'network' if flags['cnn'] else 'GLS'} alone flags"
                             f" (network {raw.p_fused:.2f}, GLS {gls.p:.2f}, t/threshold "
                             f"{gls.t / gls.threshold:.2f})")
            for key, v in flags.items():
                (early if warm else rows)[key].append(v)
            source = draw_mogi_injection(rng, window.shape, grid.pixel_m)
            for a in amplitudes:
                x = cum.copy()
                r0, c0 = window.rows[0], window.cols[0]
                x[r0:window.rows[1], c0:window.cols[1]] += source.scaled(a / 100.0)
                p_cnn = score_map(cnn, x.astype(np.float32), regions, epoch, params).p_fused
                _, g = confirm(history.before(epoch), x, grid.pixel_m, dem)
                p_gls = 0.0 if g is None else g.p
                p_base = baseline.detect(window.cut(x)).p_fused
                h = (early_hits if warm else hits)[a]
                h["cnn"].append(p_cnn > 0.5)
                h["gls"].append(p_gls > 0.5)
                h["both"].append(p_cnn > 0.5 and p_gls > 0.5)
                h["base"].append(p_base > 0.5)
        lent = (f"{len(borrowed)} products borrowed ({borrowed[0].date1} to "
                f"{borrowed[-1].date2}), " if borrowed else "")
        print(f"series {first} to {stop}: {len(series.epochs)} epochs, {lent}{judged} "
              f"outside the event windows judged; window {window.shape} px, blocks of "
              f"{window.factor} px; epochs in event windows, and where the two disagree:")
        print("\n".join(lines) if lines else "  none")
    for name, r, hs in (("after the warm-up", rows, hits),
                        (f"of the warm-up (the first {WARM_UP} increments)", early,
                         early_hits)):
        if not r["cnn"]:
            continue
        print(f"cumulative maps {name} outside the event windows flagged: network "
              f"{_rate(r['cnn'])}, GLS {_rate(r['gls'])}, confirmed "
              f"{_rate(r['both'])}, peak-to-noise {_rate(r['base'])}")
        for a in amplitudes:
            h = hs[a]
            print(f"  +{a:g} cm Mogi: recall network {np.mean(h['cnn']):.2f}, GLS "
                  f"{np.mean(h['gls']):.2f}, confirmed {np.mean(h['both']):.2f}, "
                  f"peak-to-noise {np.mean(h['base']):.2f}")
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

"""Benchmark: the LSTT with an empirical null against the thinned LSTT, on a real archive.

Loads a LiCSAR-layout archive with the project's own readers and series builder
(:func:`monitor.service.series_scan.prepare_series`: automatic references on the first
product's coherence and the frame's DEM, series referenced to their union), then reports:

(a) availability: the fraction of scored epochs (cumulative maps, as the watch scores them)
    that get a p-value, for the thinned test at its default step
    (:func:`~monitor.science.lstt_regions.lstt_regions`), the thinned test with the
    previous watch's fallback to a finer step (``old``), and the new test
    (:func:`~monitor.science.lstt_null.lstt_null`);
(b) type-I error at alpha 0.05 and 0.01, with the binomial 99 % band, on three quiet sets
    (the quiet spans are the times before and after the ``--events`` windows): cumulative
    maps over at most ``--block`` epochs (the base moves every ``--block`` epochs, by year
    too), single increments (consecutive epochs), and cumulative maps from the start of
    each quiet span (by span length); then the yearly median spread of the target and of
    the references in the latter, which shows what accumulates in the target;
(c) power: ``--power-maps`` of the short-span quiet cumulative maps with a Mogi source
    added in the target disc (depth uniform 2-5 km, centre uniform within half the target
    radius of the target centre, Sentinel-1 ascending geometry, peak |LOS| over the frame
    scaled to each amplitude, the median over the series reference removed as the series
    does), rejection at alpha 0.05;
(d) type-I error and availability on synthetic 500 x 500 fields of 100 m pixels
    (exponential and power-law turbulence, :mod:`monitor.science.atmosphere` and
    :mod:`monitor.science.turbulence`) with a 3 km target disc and automatic references;
(e) median time per map.

Every figure line names the data it comes from. ``--json PATH`` writes everything.

Usage:
    python bench/bench_lstt_null.py ARCHIVE_DIR                 # all sections
    python bench/bench_lstt_null.py ARCHIVE_DIR --sections a,b --skip-old
    python bench/bench_lstt_null.py --sections d --synthetic 200  # synthetic only
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from monitor.errors import InputError
from monitor.event_windows import Window, overlaps, parse_events
from monitor.io.licsar_frame import open_frame, read_frame, read_grid
from monitor.science.atmosphere import turbulent_delay
from monitor.science.grids import GroundDisc
from monitor.science.injection import mogi_unit_los
from monitor.science.interferograms import DEFAULT_COHERENCE_THRESHOLD
from monitor.science.lstt_null import (
    DEFAULT_MARGIN_RADII,
    DEFAULT_MIN_WINDOW_FRACTION,
    DEFAULT_NULL_WINDOWS,
    DEFAULT_SIGMA_FACTOR,
    DEFAULT_TARGET_SAMPLES,
    lstt_null,
)
from monitor.science.lstt_regions import disc_mask, lstt_regions
from monitor.science.references import place_references
from monitor.science.turbulence import powerlaw_delay
from monitor.service.series_scan import prepare_series

FRAME = "014A_07688_131313"
TARGET = "40.67,13.60,3"
EVENTS = "2017-01-11:2018-12-31"
ALPHAS = (0.05, 0.01)
AMPLITUDES_CM = (1.0, 2.0, 3.0, 4.0)
#: Span bins (years) of the cumulative maps' type-I error.
SPAN_BINS_YR = ((0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 99.0))
#: Samples wanted from the smallest region by the previous watch's fallback step.
OLD_MIN_SAMPLES = 16

Test = Callable[[NDArray[np.floating], np.random.Generator], float | None]


@dataclass(frozen=True)
class Frame:
    """A frame's cumulative maps and regions."""

    maps: NDArray[np.float32]
    epochs: list[date]
    target: NDArray[np.bool_]
    references: tuple[NDArray[np.bool_], ...]
    union: NDArray[np.bool_]
    pixel_m: tuple[float, float]
    centre_rc: tuple[float, float]
    radius_px: float


def load_frame(archive: str, frame: str, target: GroundDisc) -> Frame:
    """The frame's series as ``scan-series`` builds it (automatic references, DEM)."""
    layout = open_frame(archive, frame)
    grid, dem = read_grid(layout)
    products = read_frame(layout, grid, dem, coherence_threshold=DEFAULT_COHERENCE_THRESHOLD)
    prep = prepare_series(products, target, None,
                          coherence_threshold=DEFAULT_COHERENCE_THRESHOLD, dem=dem)
    centre = grid.centre_rc(target.lon, target.lat)
    assert centre is not None
    union = prep.regions.reference_union
    assert union is not None
    return Frame(np.asarray(prep.maps), list(prep.series.epochs), prep.regions.target_mask,
                 prep.regions.references, union, grid.pixel_m, centre,
                 prep.regions.target_radius_px)


def quiet_cumulative(fr: Frame, events: tuple[Window, ...], block: int | None = None
                     ) -> tuple[list[NDArray[np.float32]], list[int], list[int]]:
    """Displacement from the first epoch of each quiet span to each later epoch in it, and
    each map's span in days and year. With ``block``, the base moves to every ``block``-th epoch of
    a span (maps over at most ``block`` epochs); without, the bases are the first epochs of
    the quiet spans (the watch's cumulative maps, restarted after each event window)."""
    out, days, years = [], [], []
    base: int | None = None
    for k, epoch in enumerate(fr.epochs):
        if base is not None and overlaps((fr.epochs[base], epoch), events):
            base = None
        if base is None:
            if k + 1 < len(fr.epochs) and overlaps((epoch, fr.epochs[k + 1]), events):
                continue
            base = k
            continue
        out.append(fr.maps[k] - fr.maps[base])
        days.append((epoch - fr.epochs[base]).days)
        years.append(epoch.year)
        if block is not None and k - base >= block:
            base = k
    return out, days, years


def spread_by_year(fr: Frame, events: tuple[Window, ...]) -> dict[int, tuple[float, float]]:
    """Median over each year's quiet cumulative maps (from the start of their quiet span)
    of the standard deviation of the target's and of the references' valid values, metres."""
    maps, _, years = quiet_cumulative(fr, events)
    out: dict[int, list[tuple[float, float]]] = {}
    for x, y in zip(maps, years, strict=True):
        out.setdefault(y, []).append((float(np.nanstd(x[fr.target])),
                                      float(np.nanstd(x[fr.union]))))
    return {y: (float(np.median([a for a, _ in v])), float(np.median([b for _, b in v])))
            for y, v in sorted(out.items())}


def quiet_increments(fr: Frame, events: tuple[Window, ...]) -> list[NDArray[np.float32]]:
    """Consecutive-epoch increments whose pair overlaps no event window."""
    return [fr.maps[k] - fr.maps[k - 1] for k in range(1, len(fr.epochs))
            if not overlaps((fr.epochs[k - 1], fr.epochs[k]), events)]


def new_test(target: NDArray[np.bool_], refs: tuple[NDArray[np.bool_], ...],
             **options: Any) -> Test:
    def run(x: NDArray[np.floating], rng: np.random.Generator) -> float | None:
        try:
            return lstt_null(x, target, list(refs), rng=rng, **options).p_value
        except InputError:
            return None
    return run


def thinned_test(target: NDArray[np.bool_], refs: tuple[NDArray[np.bool_], ...],
                 fallback: bool) -> Test:
    """The thinned LSTT; with ``fallback`` the previous watch's rule 2 (a finer step so that
    the smallest region holds about 16 samples when the default step leaves too few)."""
    def run(x: NDArray[np.floating], rng: np.random.Generator) -> float | None:
        try:
            return lstt_regions(x, target, list(refs), rng=rng).p_value
        except InputError:
            if not fallback:
                return None
        smallest = min(int(r.sum()) for r in (target, *refs))
        step = max(1, int(math.sqrt(smallest / OLD_MIN_SAMPLES)))
        try:
            return lstt_regions(x, target, list(refs), spacing_px=step, rng=rng).p_value
        except InputError:
            return None
    return run


def run_all(test: Test, maps: list[NDArray[np.floating]], seed: int
            ) -> tuple[list[float | None], list[float]]:
    ps, times = [], []
    for k, x in enumerate(maps):
        t0 = time.perf_counter()
        ps.append(test(x, np.random.default_rng((seed, k))))
        times.append(time.perf_counter() - t0)
    return ps, times


def band(n: int, alpha: float) -> tuple[float, float]:
    """Binomial 99 % band of the rejection rate of ``n`` independent level-alpha tests."""
    if n == 0:
        return math.nan, math.nan
    lo, hi = stats.binom.ppf([0.005, 0.995], n, alpha)
    return float(lo) / n, float(hi) / n


def summary(ps: list[float | None]) -> dict[str, Any]:
    got = [p for p in ps if p is not None]
    out: dict[str, Any] = {"n": len(ps), "with_p": len(got),
                           "available": len(got) / len(ps) if ps else math.nan}
    for alpha in ALPHAS:
        k = sum(p <= alpha for p in got)
        lo, hi = band(len(got), alpha)
        out[f"reject_{alpha:g}"] = {"k": k, "rate": k / len(got) if got else math.nan,
                                    "band99": [lo, hi]}
    return out


def line(label: str, s: dict[str, Any]) -> str:
    parts = [f"{label}: p-value on {s['with_p']}/{s['n']} ({s['available']:.1%})"]
    for alpha in ALPHAS:
        r = s[f"reject_{alpha:g}"]
        lo, hi = r["band99"]
        parts.append(f"reject@{alpha:g} {r['k']}/{s['with_p']} = {r['rate']:.3f} "
                     f"(99% band {lo:.3f}-{hi:.3f})")
    return "; ".join(parts)


def inject(fr: Frame, maps: list[NDArray[np.float32]], amplitudes_cm: tuple[float, ...],
           seed: int) -> dict[float, list[NDArray[np.float32]]]:
    """Each map plus a Mogi source in the target disc at every amplitude (same source)."""
    rng = np.random.default_rng(seed)
    ny, nx = fr.target.shape
    out: dict[float, list[NDArray[np.float32]]] = {a: [] for a in amplitudes_cm}
    for x in maps:
        depth = float(rng.uniform(2000.0, 5000.0))
        rad = 0.5 * fr.radius_px * math.sqrt(float(rng.uniform()))
        az = float(rng.uniform(0.0, 2.0 * math.pi))
        row, col = fr.centre_rc[0] + rad * math.cos(az), fr.centre_rc[1] + rad * math.sin(az)
        east = (col - (nx - 1) / 2.0) * fr.pixel_m[0]
        north = ((ny - 1) / 2.0 - row) * fr.pixel_m[1]
        unit = mogi_unit_los((ny, nx), fr.pixel_m, east, north, depth)
        unit = unit - np.median(unit[fr.union])
        unit = unit / np.abs(unit).max()
        for a in amplitudes_cm:
            out[a].append((x + unit * (a / 100.0)).astype(np.float32))
    return out


def synthetic_maps(kind: str, n: int, seed: int, size: int = 500, pixel_m: float = 100.0
                   ) -> list[NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        if kind == "exponential":
            f = turbulent_delay((size, size), pixel_m, 0.01, 2000.0, rng)
        else:
            f = powerlaw_delay((size, size), pixel_m, 0.01, rng)
        out.append(f)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", nargs="?", help="LiCSAR-layout archive directory")
    parser.add_argument("--frame", default=FRAME)
    parser.add_argument("--target", default=TARGET, help="LON,LAT,RADIUS_KM")
    parser.add_argument("--events", default=EVENTS, help="START:END[,START:END] (not quiet)")
    parser.add_argument("--sections", default="a,b,c,d,e")
    parser.add_argument("--skip-old", action="store_true", help="only the new test")
    parser.add_argument("--synthetic", type=int, default=100, help="synthetic fields per kind")
    parser.add_argument("--block", type=int, default=6,
                        help="epochs of the short-span cumulative maps")
    parser.add_argument("--power-maps", type=int, default=60,
                        help="quiet cumulative maps that receive a source (at random)")
    parser.add_argument("--n-null", type=int, default=DEFAULT_NULL_WINDOWS)
    parser.add_argument("--margin-radii", type=float, default=DEFAULT_MARGIN_RADII)
    parser.add_argument("--min-window-fraction", type=float,
                        default=DEFAULT_MIN_WINDOW_FRACTION)
    parser.add_argument("--target-samples", type=int, default=DEFAULT_TARGET_SAMPLES)
    parser.add_argument("--sigma-factor", type=float, default=DEFAULT_SIGMA_FACTOR)
    parser.add_argument("--no-demean", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    options = {"n_null": args.n_null, "margin_radii": args.margin_radii,
               "min_window_fraction": args.min_window_fraction,
               "target_samples": args.target_samples, "demean": not args.no_demean,
               "sigma_factor": args.sigma_factor}
    report: dict[str, Any] = {"options": options, "seed": args.seed}
    print(f"new test options: {options}")
    times: dict[str, list[float]] = {}

    if sections & {"a", "b", "c", "e"}:
        if not args.archive:
            parser.error("sections a, b, c, e need the archive directory")
        lon, lat, radius = (float(v) for v in args.target.split(","))
        fr = load_frame(args.archive, args.frame, GroundDisc(lon, lat, radius))
        events = parse_events(args.events)
        src = f"real frame {args.frame} ({fr.maps.shape[1]} x {fr.maps.shape[2]} px)"
        tests: dict[str, Test] = {"new": new_test(fr.target, fr.references, **options)}
        if not args.skip_old:
            tests["thinned"] = thinned_test(fr.target, fr.references, fallback=False)
            tests["old (thinned + fallback)"] = thinned_test(fr.target, fr.references,
                                                           fallback=True)
        scored = [fr.maps[k] for k in range(1, len(fr.epochs))]
        quiet, quiet_days, _ = quiet_cumulative(fr, events)
        short, _, short_years = quiet_cumulative(fr, events, block=args.block)
        incs = quiet_increments(fr, events)
        if "a" in sections or "e" in sections:
            print(f"(a) availability, {src}: every scored epoch's cumulative map "
                  f"({len(scored)} epochs, {fr.epochs[0]} to {fr.epochs[-1]})")
            for label, test in tests.items():
                ps, ts = run_all(test, scored, args.seed)
                s = summary(ps)
                times[label] = ts
                report.setdefault("a_availability", {})[label] = s
                print(f"  {label}: p-value on {s['with_p']}/{s['n']} ({s['available']:.1%})")
        if "b" in sections:
            sets = ((f"quiet cumulative maps over at most {args.block} epochs", short, None,
                     short_years),
                    ("quiet increments", incs, None, None),
                    ("quiet cumulative maps from the start of each quiet span", quiet,
                     quiet_days, None))
            for name, maps, days, years in sets:
                print(f"(b) type-I, {src}: {len(maps)} {name} (events {args.events})")
                for label, test in tests.items():
                    ps = run_all(test, maps, args.seed + 1)[0]
                    s = summary(ps)
                    report.setdefault("b_type1", {}).setdefault(name, {})[label] = s
                    print("  " + line(label, s))
                    if years is not None:
                        by_year = {y: summary([p for p, yy in zip(ps, years, strict=True)
                                               if yy == y]) for y in sorted(set(years))}
                        report["b_type1"][name][f"{label}, by year"] = by_year
                        print("    reject@0.05 by year: " + ", ".join(
                            f"{y} {b['reject_0.05']['k']}/{b['with_p']}"
                            for y, b in by_year.items()))
                    if days is None:
                        continue
                    for lo, hi in SPAN_BINS_YR:
                        sel = [p for p, d in zip(ps, days, strict=True)
                               if lo * 365.25 <= d < hi * 365.25]
                        if sel:
                            sb = summary(sel)
                            report["b_type1"][name][f"{label}, span {lo:g}-{hi:g} yr"] = sb
                            print("    " + line(f"span {lo:g}-{hi:g} yr", sb))
        if "b" in sections:
            print(f"(b) spread, {src}: median over each year's quiet cumulative maps (from "
                  "the start of their quiet span) of the sd of the target's and of the "
                  "references' values, cm")
            spread = spread_by_year(fr, events)
            report["b_spread_cm"] = {str(y): [100 * a, 100 * b] for y, (a, b) in spread.items()}
            print("  " + ", ".join(f"{y} {100 * a:.1f}/{100 * b:.1f}"
                                   for y, (a, b) in spread.items()))
        if "c" in sections:
            rng = np.random.default_rng(args.seed)
            pick = sorted(rng.choice(len(short), min(args.power_maps, len(short)),
                                     replace=False))
            chosen = [short[int(i)] for i in pick]
            injected = inject(fr, chosen, AMPLITUDES_CM, args.seed)
            print(f"(c) power, {src}: {len(chosen)} quiet cumulative maps over at most "
                  f"{args.block} epochs + Mogi in the target disc (depth 2-5 km), "
                  "rejection at alpha 0.05")
            for label, test in tests.items():
                base = summary(run_all(test, chosen, args.seed + 2)[0])
                report.setdefault("c_power", {}).setdefault(label, {})["0"] = base
                parts = [f"none {base['reject_0.05']['rate']:.2f}"]
                for a in AMPLITUDES_CM:
                    s = summary(run_all(test, injected[a], args.seed + 2)[0])
                    report["c_power"][label][f"{a:g}"] = s
                    parts.append(f"{a:g} cm {s['reject_0.05']['rate']:.2f} "
                                 f"({s['reject_0.05']['k']}/{s['with_p']})")
                print(f"  {label}: " + ", ".join(parts))

    if "d" in sections:
        size, pixel_m, radius_km = 500, 100.0, 3.0
        r_px = radius_km * 1000.0 / pixel_m
        centre = ((size - 1) / 2.0, (size - 1) / 2.0)
        target = disc_mask((size, size), centre, r_px)
        place = place_references(np.ones((size, size)), target_centre_rc=centre,
                                 target_radius_px=r_px, coherence_threshold=0.1)
        tests = {"new": new_test(target, place.masks, **options)}
        if not args.skip_old:
            tests["old (thinned + fallback)"] = thinned_test(target, place.masks, True)
        for kind in ("exponential", "power-law"):
            maps = synthetic_maps(kind, args.synthetic, args.seed)
            what = ("exponential covariance, sigma 1 cm, L 2 km" if kind == "exponential"
                    else "power law beta 8/3, sigma 1 cm")
            print(f"(d) synthetic {size} x {size} px of {pixel_m:g} m, {what}, 3 km disc, "
                  f"{len(place.masks)} automatic references: {len(maps)} fields")
            for label, test in tests.items():
                ps, ts = run_all(test, maps, args.seed + 3)
                s = summary(ps)
                times.setdefault(f"synthetic {label}", []).extend(ts)
                report.setdefault("d_synthetic", {}).setdefault(kind, {})[label] = s
                print("  " + line(label, s))

    if "e" in sections or "d" in sections:
        print("(e) median time per map (s):")
        for label, ts in times.items():
            report.setdefault("e_seconds", {})[label] = statistics.median(ts)
            print(f"  {label}: {statistics.median(ts):.3f} over {len(ts)} maps")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

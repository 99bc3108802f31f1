"""How early can any detector of the bell amplitude see a steady uplift? A bound.

The time-series rule (``monitor/science/trend.py``) reads one number per epoch: the bell
amplitude of the cumulative map (``monitor/science/series_signal.py``: the uplift of a
point source one target radius deep, with an offset and a plane, over three radii). Each
date's atmosphere is a separate realisation, so the series is a ramp in white noise of the
bell amplitude's scatter ``sigma``. This script measures that scatter and bounds the delay:

1. ``sigma`` of the watch's estimator (ordinary least squares, the code path itself) over
   turbulent delays of the project's generator (exponential covariance, ``--turbulence-cm``
   and ``--length-km``), by Monte Carlo; and the scatter of the best linear unbiased
   estimator of the same amplitude (generalised least squares with the true covariance:
   the Gauss-Markov bound for any linear estimator of the bell with the same nuisance
   terms), computed on the same window at a coarser spacing.
2. For a ramp of ``rate`` starting at a **known** onset after ``--before`` quiet epochs (an
   advantage no watch has), the z of the rate after ``n`` epochs, ``z = rate * sqrt(S) /
   sigma`` with ``S`` the ramp regressor's sum of squares after the offset is fitted; the
   first ``n`` where ``z`` reaches ``--z`` is the shortest delay any test on this series can
   have at that z.

The 60-day goal for 8.5 cm/yr with 1 cm of atmosphere per epoch needs ``z`` of about 4.5
(the rule's watch threshold) after 5 epochs, i.e. ``sigma`` under about 0.46 cm.

3. With ``--archive DIR --frame F``: the same two estimators on **real** quiet increments,
   by block of years: the watch's (ordinary least squares on the window) and a GLS fit of
   the same bell and plane whose covariance is the frame's noise correlation
   (:mod:`monitor.science.noise_covariance`, estimated from the quiet increments of the
   other years, on blocks of ``--block-m``), each date's scale left free. An increment
   holds two dates' atmospheres, so the per-date scatter is the increment's over sqrt(2);
   the delays are those of step 2 with it.

4. With ``--policy --target LON,LAT,R`` as well: the frame scored as ``evaluate series
   --archive`` scores it (the watch's path), then the alert policy run twice over the same
   epochs, once with the watch's bell amplitudes and once with GLS amplitudes of the same
   cumulative maps (the correlation from the series' own increments: all of them, or only
   those before the first event window). False alerts outside the event windows at the
   operating point and over the sweep of ``trend_z_watch``, and the delay of each event.

Run: ``python bench/bench_series_bound.py`` (about a minute on 2 cores); the real part
adds about 20 s for nine years of one frame, the policy part about a minute.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
from affine import Affine
from numpy.typing import NDArray
from scipy.linalg import cholesky, solve_triangular

from monitor.config import load_settings
from monitor.event_windows import in_years, parse_events
from monitor.noise_bank import load_noise_bank
from monitor.science.atmosphere import turbulent_delay
from monitor.science.grids import FrameGrid
from monitor.science.noise_covariance import (
    StationaryCorrelation,
    block_factor,
    block_mean,
    estimate_correlation,
)
from monitor.science.series_signal import (
    DEPTH_RADII,
    WINDOW_RADII,
    bell_amplitude,
    bell_design,
)


def ols_scatter(sigma_m: float, length_m: float, radius_m: float, pixel_m: float,
                size: int, draws: int, seed: int) -> float:
    """Standard deviation (metres) of the watch's bell amplitude over turbulent maps."""
    grid = FrameGrid((size, size), Affine(pixel_m, 0, 0, 0, -pixel_m, 0), (pixel_m, pixel_m),
                     "bound")
    rng = np.random.default_rng(seed)
    centre = ((size - 1) / 2, (size - 1) / 2)
    values = [bell_amplitude(turbulent_delay((size, size), pixel_m, sigma_m, length_m, rng),
                             grid, centre, radius_m) for _ in range(draws)]
    return float(np.std([v for v in values if v is not None], ddof=1))


def gls_scatter(sigma_m: float, length_m: float, radius_m: float, spacing_m: float
                ) -> tuple[float, float]:
    """(GLS, OLS) standard deviations (metres) of the bell amplitude with the true
    exponential covariance, on the watch's window sampled every ``spacing_m``."""
    half = WINDOW_RADII * radius_m
    axis = np.arange(-half, half + spacing_m / 2, spacing_m)
    x, y = np.meshgrid(axis, axis)
    inside = x ** 2 + y ** 2 <= half ** 2
    x, y = x[inside], y[inside]
    depth = DEPTH_RADII * radius_m
    design = np.column_stack([np.ones_like(x), x / radius_m, y / radius_m,
                              (1.0 + (x ** 2 + y ** 2) / depth ** 2) ** -1.5])
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    cov = sigma_m ** 2 * np.exp(-d / length_m)
    chol = np.linalg.cholesky(cov + 1e-9 * sigma_m ** 2 * np.eye(len(x)))
    white = np.linalg.solve(chol, design)
    gls = np.linalg.inv(white.T @ white)[3, 3]
    pinv = np.linalg.pinv(design)
    ols = (pinv @ cov @ pinv.T)[3, 3]
    return math.sqrt(gls), math.sqrt(ols)


def shortest_delay_days(rate_m_per_yr: float, sigma_m: float, z: float, before: int,
                        revisit_days: float, most: int = 200) -> tuple[int, float]:
    """First epoch after a known onset where the ramp's z reaches ``z``: (days, cumulative
    metres). The series: offset + ramp from the onset, white noise ``sigma_m``."""
    step = rate_m_per_yr * revisit_days / 365.25
    for n in range(1, most + 1):
        ramp = np.r_[np.zeros(before), np.arange(1, n + 1)].astype(float)
        centred = ramp - ramp.mean()  # the offset fitted
        if step * math.sqrt(float(centred @ centred)) / sigma_m >= z:
            return round(n * revisit_days), n * step
    return -1, float("nan")


def gls_bell(x: NDArray[np.floating], corr: StationaryCorrelation,
             window: NDArray[np.bool_], columns: NDArray[np.float64]) -> float:
    """The bell amplitude by GLS with the frame's correlation, on the window's blocks."""
    f = corr.factor
    b = block_mean(x, f)
    ok = np.isfinite(b) & (block_mean(window.astype(float), f) > 0.5)
    design = np.stack([block_mean(columns[..., k], f)[ok] for k in range(4)], axis=-1)
    chol = cholesky(corr.matrix(ok), lower=True)
    coef, *_ = np.linalg.lstsq(solve_triangular(chol, design, lower=True),
                               solve_triangular(chol, b[ok], lower=True), rcond=None)
    return float(coef[3])


def real_scatter(args: argparse.Namespace) -> None:
    """Part 3 of the module docstring: OLS and GLS bell scatter on real increments."""
    events = parse_events(args.events)
    bank = load_noise_bank(args.archive, args.frame, load_settings(None), events=events)
    grid = bank.grid
    centre = ((grid.shape[0] - 1) / 2.0, (grid.shape[1] - 1) / 2.0)
    radius = args.radius_km * 1000
    window, columns = bell_design(grid, centre, radius)
    factor = block_factor(grid.pixel_m, args.block_m, grid.shape)
    print(f"\nreal: frame {args.frame}, {len(bank.epochs)} quiet increments, target at the "
          f"frame centre, radius {args.radius_km:g} km, blocks of {factor} px; scatter of "
          "the bell amplitude per increment (std / robust 1.4826 MAD), per date = robust / "
          "sqrt(2), and the delay of 8.5 cm/yr at z 4.5 with that per-date scatter")
    print("| years | n | OLS (the watch) | GLS, frame correlation | per date OLS / GLS | "
          "8.5 cm/yr days OLS / GLS |")
    for block in args.blocks:
        years = {int(y) for y in block.split(",")}
        test = [e.displacement_m for e in bank.epochs
                if in_years((e.date1, e.date2), years)]
        other = [e.displacement_m for e in bank.epochs
                 if not in_years((e.date1, e.date2), years)]
        corr = estimate_correlation(other, factor)
        ols = np.array([bell_amplitude(x, grid, centre, radius) for x in test], float)
        gls = np.array([gls_bell(x, corr, window, columns) for x in test])

        def robust(v: NDArray[np.float64]) -> float:
            return float(1.4826 * np.median(np.abs(v - np.median(v))))

        per_date = [robust(v) / math.sqrt(2) for v in (ols, gls)]
        days = [shortest_delay_days(0.085, s, 4.5, args.before, args.revisit_days)[0]
                for s in per_date]
        print(f"| {block} | {len(test)} | {100 * np.std(ols):.2f} / {100 * robust(ols):.2f} cm"
              f" | {100 * np.std(gls):.2f} / {100 * robust(gls):.2f} cm | "
              f"{100 * per_date[0]:.2f} / {100 * per_date[1]:.2f} cm | {days[0]} / {days[1]} |")


def policy_runs(args: argparse.Namespace) -> None:
    """Part 4 of the module docstring."""
    import dataclasses

    from monitor.cli.scan_series_cmd import parse_target
    from monitor.evaluation.series_defaults import DEFAULT_Z_SWEEP
    from monitor.evaluation.series_policy import sweep_settings
    from monitor.evaluation.series_real import (
        RealSeriesOptions,
        ScoredFrame,
        policy_summary,
        score_frame_series,
    )

    events = parse_events(args.events)
    target = parse_target(args.target)
    settings = load_settings(None)
    frame, prepared = score_frame_series(RealSeriesOptions(
        archive=args.archive, frame=args.frame, target=target, events=events, threads=2))
    series, maps, grid = prepared.series, prepared.maps, prepared.regions.grid
    centre = grid.centre_rc(target.lon, target.lat)
    assert centre is not None  # score_frame_series refuses a target outside the frame
    window, columns = bell_design(grid, centre, target.radius_km * 1000)
    first_event = min((w[0] for w in events), default=None)
    increments = [(series.epochs[k], maps[k] - maps[k - 1]) for k in range(1, len(maps))]
    print(f"\npolicy over {len(frame.scores)} scored epochs of {args.frame}, target "
          f"{args.target}; false alerts outside {args.events} (at the operating point; then "
          "per trend_z_watch of the sweep) and the delay of each event in acquisitions")
    print("| bell amplitude | robust sigma per epoch | false alerts | per year | event delay "
          "| sweep z: false alerts |")
    runs: list[tuple[str, list[Any]]] = [("watch (least squares)", list(frame.scores))]
    for label, before in (("GLS, correlation from every increment", None),
                          ("GLS, correlation from increments before the events",
                           first_event)):
        use = [inc for epoch, inc in increments if before is None or epoch <= before]
        corr = estimate_correlation(use, block_factor(grid.pixel_m, args.block_m, grid.shape))
        runs.append((label, [dataclasses.replace(
            s, bell_m=gls_bell(maps[series.epochs.index(s.epoch)], corr, window, columns))
            for s in frame.scores]))
    for label, scores in runs:
        scored = ScoredFrame(frame.listed, (), tuple(scores), (), {}, ())
        point, _ = policy_summary(scored, settings.alerts, events)
        sweep = " ".join(
            f"{z:g}: {policy_summary(scored, alerts, events)[0]['false_alerts']['alerts']}"
            for z, alerts in sweep_settings(settings.alerts, DEFAULT_Z_SWEEP))
        bells = np.array([s.bell_m for s in scores if s.bell_m is not None])
        diffs = np.diff(bells)
        sigma = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2)
        fa = point["false_alerts"]
        delays = ", ".join(str(e["delay_acquisitions"]) for e in point["events"])
        print(f"| {label} | {100 * sigma:.2f} cm | {fa['alerts']} in {fa['years']:.2f} yr | "
              f"{fa['per_year']:.2f} | {delays} | {sweep} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--turbulence-cm", type=float, default=1.0)
    ap.add_argument("--length-km", type=float, nargs="+", default=[2.5, 5.0, 10.0])
    ap.add_argument("--radius-km", type=float, default=3.0)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--before", type=int, default=20, help="quiet epochs before the onset")
    ap.add_argument("--revisit-days", type=float, default=12.0)
    ap.add_argument("--z", type=float, nargs="+", default=[3.0, 4.5])
    ap.add_argument("--archive", default=None, help="a LiCSAR-layout archive of real data")
    ap.add_argument("--frame", default=None)
    ap.add_argument("--events", default=None, help="event windows A:B[,A:B] (not quiet)")
    ap.add_argument("--blocks", nargs="+", default=["2014,2015,2016", "2021,2022",
                                                    "2017,2018,2023,2024"],
                    help="blocks of years scored in turn")
    ap.add_argument("--block-m", type=float, default=650.0)
    ap.add_argument("--policy", action="store_true",
                    help="also run the alert policy with both estimators (needs --target)")
    ap.add_argument("--target", default=None, help="LON,LAT,RADIUS_KM of the target")
    args = ap.parse_args()
    sigma = args.turbulence_cm / 100
    radius = args.radius_km * 1000
    print(f"turbulence {args.turbulence_cm} cm per date, target radius {args.radius_km} km, "
          f"{args.revisit_days:g}-day revisit, known onset after {args.before} quiet epochs")
    print("| L km | sigma watch (OLS, Monte Carlo) | OLS, exact | GLS bound | "
          + " | ".join(f"8.5 cm/yr at z {z:g}: days (cm) watch / GLS" for z in args.z)
          + " | " + " | ".join(f"3.5 cm/yr at z {z:g}" for z in args.z) + " |")
    for length in args.length_km:
        mc = ols_scatter(sigma, length * 1000, radius, 100.0, 200, args.draws, 7)
        gls, ols = gls_scatter(sigma, length * 1000, radius, 300.0)
        cells = []
        for rate in (0.085, 0.035):
            for z in args.z:
                parts = []
                for s in (mc, gls):
                    days, cum = shortest_delay_days(rate, s, z, args.before, args.revisit_days)
                    parts.append(f"{days} ({cum * 100:.1f})")
                cells.append(" / ".join(parts))
        print(f"| {length:g} | {mc * 100:.2f} cm | {ols * 100:.2f} cm | {gls * 100:.2f} cm | "
              + " | ".join(cells) + " |")
    if args.archive is not None:
        if args.frame is None:
            ap.error("--archive needs --frame")
        real_scatter(args)
        if args.policy:
            if args.target is None:
                ap.error("--policy needs --target LON,LAT,RADIUS_KM")
            policy_runs(args)


if __name__ == "__main__":
    main()

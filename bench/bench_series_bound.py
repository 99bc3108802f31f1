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

Run: ``python bench/bench_series_bound.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from affine import Affine

from monitor.science.atmosphere import turbulent_delay
from monitor.science.grids import FrameGrid
from monitor.science.series_signal import DEPTH_RADII, WINDOW_RADII, bell_amplitude


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--turbulence-cm", type=float, default=1.0)
    ap.add_argument("--length-km", type=float, nargs="+", default=[2.5, 5.0, 10.0])
    ap.add_argument("--radius-km", type=float, default=3.0)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--before", type=int, default=20, help="quiet epochs before the onset")
    ap.add_argument("--revisit-days", type=float, default=12.0)
    ap.add_argument("--z", type=float, nargs="+", default=[3.0, 4.5])
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


if __name__ == "__main__":
    main()

"""Slow uplift on synthetic daisy chains through the watch's alert policy (time-series rule).

Draws series with :func:`monitor.science.synth_series.draw_series` over the packaged Campi
Flegrei DEM (200 x 200 pixels of 0.001 degree, Sentinel-1 ascending geometry, 12-day
revisit, turbulence of ``--turbulence`` metres with an 5 km e-folding length and weak
stratification per date, a Mogi source 3 km deep under the target), measures the bell
amplitude of every cumulative map (:func:`monitor.science.series_signal.bell_amplitude`)
and runs :func:`monitor.notify.policy.evaluate` on it with the CNN and LSTT left out (so the
figures are those of the time-series rule alone). Prints, per rate, the delay of the first
alert after the onset (days) and the false alerts of quiet series per volcano-year.

    .venv/bin/python bench/bench_series_policy.py --seeds 20
"""

from __future__ import annotations

import argparse
import math
from datetime import date, timedelta

import numpy as np
from affine import Affine

from monitor.config import AlertSettings
from monitor.io.dem import packaged_dem
from monitor.io.synth_archive import resample_dem_to_grid
from monitor.notify.policy import StepScore, evaluate
from monitor.science.geometry import los_unit_vector
from monitor.science.grids import FrameGrid
from monitor.science.series_signal import bell_amplitude
from monitor.science.synth_series import SeriesScenario, draw_series

N = 200
START = date(2024, 1, 6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--turbulence", type=float, default=0.01)
    ap.add_argument("--z-watch", type=float, default=AlertSettings().trend_z_watch)
    args = ap.parse_args()
    lon0, lat0 = 14.14, 40.83
    transform = Affine(0.001, 0, lon0 - 0.1, 0, -0.001, lat0 + 0.1)
    grid = FrameGrid.from_transform((N, N), transform, "synthetic")
    dem = resample_dem_to_grid(packaged_dem("campi_flegrei"), transform, (N, N))
    los = tuple(float(v) for v in los_unit_vector(39.0, -12.0))
    settings = AlertSettings(trend_z_watch=args.z_watch,
                             trend_z_warning=max(args.z_watch, AlertSettings().trend_z_warning))
    centre = ((N - 1) / 2.0, (N - 1) / 2.0)
    onset_i = 20
    for rate, n in ((0.085, 40), (0.035, 60), (0.0, 40)):
        delays, false_alerts, years = [], 0, 0.0
        for seed in range(args.seeds):
            scenario = SeriesScenario(
                start=START, n_epochs=n, interval_days=12,
                onset=START + timedelta(days=12 * onset_i) if rate else None,
                rate_m_per_yr=rate or 0.1, turbulent_sigma_m=args.turbulence,
                turbulent_length_m=5000.0, stratified_strength="weak", decorrelate=False)
            truth = draw_series(np.random.default_rng(seed), scenario, dem, grid.pixel_m,
                                los)  # type: ignore[arg-type]
            scores = []
            for i in range(1, n):
                cum = truth.deformation(i) + truth.atmosphere[i] - truth.atmosphere[0]
                bell = bell_amplitude(cum, grid, centre, 3000.0)
                scores.append(StepScore(truth.epochs[i], None, None, bell, None, "s"))
            steps = evaluate(scores, settings)
            quiet_end = onset_i if rate else n
            false_alerts += sum(1 for s in steps[:quiet_end - 1] if s.raised is not None)
            years += (quiet_end - 1) * 12 / 365.25
            if rate:
                hits = [s.epoch for s in steps[onset_i - 1:] if s.raised is not None]
                delays.append((hits[0] - truth.epochs[onset_i]).days if hits else math.inf)
        d = np.array(delays)
        found = d[np.isfinite(d)]
        print(f"rate {rate * 100:.1f} cm/yr: false alerts before onset {false_alerts} in "
              f"{years:.1f} volcano-years ({false_alerts / years:.2f}/yr)"
              + (f"; alerted {found.size}/{d.size}, delay days median "
                 f"{np.median(d):.0f} p90 {np.percentile(d, 90):.0f} "
                 f"(cumulative at median {rate * np.median(d) / 365.25 * 100:.1f} cm)"
                 if rate else ""))


if __name__ == "__main__":
    main()

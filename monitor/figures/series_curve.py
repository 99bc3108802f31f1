"""Figures of ``evaluate series``: the synthetic curve and a real frame's series.

Drawn from the JSON-ready reports of :mod:`monitor.evaluation.series` and
:mod:`monitor.evaluation.series_real`.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from monitor.errors import InputError
from monitor.figures.style import SERIES_COLOURS, new_figure, save_png

_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


def plot_synthetic_curve(path: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """False alerts per volcano-year (x) against the median detection delay in days (top
    row) and in cumulative cm (bottom row), one line per deformation case over the sweep
    of ``trend_z_watch``, one column per turbulence; the operating point ringed."""
    curve = report["curve"]
    if not curve:
        raise InputError("plot_synthetic_curve: the report holds no curve")
    groups = [g for g in curve[0]["groups"] if g["kind"] != "quiet"]
    turbulences = sorted({float(t) for t in curve[0]["false_alerts_by_turbulence"]})
    fig = new_figure((4.0 * len(turbulences), 6.4))
    axes = np.asarray(fig.subplots(2, len(turbulences), squeeze=False))
    labels = sorted({g["group"].split(", turbulence")[0] for g in groups},
                    key=lambda s: (s.split()[0], float(s.split()[1])))
    style = {lab: (SERIES_COLOURS[k % len(SERIES_COLOURS)], _MARKERS[k % len(_MARKERS)])
             for k, lab in enumerate(labels)}
    for col, t in enumerate(turbulences):
        x = np.array([p["false_alerts_by_turbulence"][f"{t:g}"]["all"]["per_year"]
                      for p in curve], dtype=float)
        for row, (key, unit) in enumerate((("delay_days", "days"),
                                           ("cumulative_cm", "cm"))):
            ax = axes[row, col]
            for g0 in groups:
                if g0["turbulence_cm"] != t:
                    continue
                label = g0["group"].split(", turbulence")[0]
                y = np.array([next(g for g in p["groups"] if g["group"] == g0["group"])
                              [key]["median"] for p in curve], dtype=float)
                colour, marker = style[label]
                ax.plot(x, y, color=colour, marker=marker, ms=4, lw=1.2, label=label)
                for p, xv, yv in zip(curve, x, y, strict=True):
                    if p["operating_point"] and np.isfinite(yv):
                        ax.plot([xv], [yv], "o", ms=10, mfc="none", mec="black", mew=1.4)
            ax.set_xlabel("false alerts per volcano-year")
            ax.set_ylabel(f"median delay, {unit}")
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"turbulence {t:g} cm", fontsize=10)
    axes[0, 0].legend(fontsize=7, title="ringed: operating point", title_fontsize=7)
    return save_png(fig, path, dpi=110)


def plot_real_series(path: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """A real frame's bell amplitude and step per epoch, the event windows shaded, the
    policy's alerts (operating point) and the single-map rule's alerts marked."""
    epochs = [e for e in report["epochs"] if e["scored"]]
    if not epochs:
        raise InputError("plot_real_series: the report holds no scored epoch")
    t = [date.fromisoformat(e["epoch"]) for e in epochs]
    fig = new_figure((10.0, 5.6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    bell = np.array([np.nan if e["bell_m"] is None else 100 * e["bell_m"] for e in epochs])
    step = np.array([np.nan if e["step_m"] is None else 100 * e["step_m"] for e in epochs])
    top.plot(t, bell, ".-", color="grey", lw=0.8, ms=3, label="bell amplitude")
    bottom.plot(t, step, ".", color="grey", ms=3, label="step_m")
    for ax in (top, bottom):
        for a, b in report["events"]:
            ax.axvspan(date.fromisoformat(a), date.fromisoformat(b), color="tab:orange",
                       alpha=0.15)
    by_epoch = {d: k for k, d in enumerate(t)}
    for alerts, colour, marker, label in (
            (report["operating_point"]["alerts"], "tab:red", "v", "alert (policy)"),
            (report["single_map_rule"]["alerts"], "tab:blue", "^",
             "alert (single-map rule alone)")):
        ks = [by_epoch[date.fromisoformat(a["epoch"])] for a in alerts]
        top.plot([t[k] for k in ks], [bell[k] for k in ks], marker, color=colour, ms=8,
                 ls="none", label=label)
    top.set_ylabel("bell amplitude, cm")
    bottom.set_ylabel("step_m, cm")
    top.set_title(f"frame {report['frame']}: events shaded", fontsize=10)
    top.legend(fontsize=7)
    top.grid(alpha=0.3)
    bottom.grid(alpha=0.3)
    return save_png(fig, path, dpi=110)

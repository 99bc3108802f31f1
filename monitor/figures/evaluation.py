"""The detector evaluation figures: P against displacement with the fitted sigmoids
(Anantrasirichai et al. 2019b, figure 2) and the ROC curves, drawn from the report
dictionaries of :mod:`monitor.io.reports` (so a figure can be redrawn from a report's
JSON).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monitor.errors import InputError
from monitor.figures.style import SERIES_COLOURS, new_figure, save_png
from monitor.io.reports import fit_from_dict, threshold_text
from monitor.science.detect.evaluation import fitted_curve


def plot_threshold(path: str | os.PathLike[str], model: dict[str, Any],
                   columns: Sequence[str]) -> Path:
    """P against maximum |D| for each (alpha, beta), every gain and the fused P, with the
    fitted sigmoids and thresholds (Anantrasirichai et al. 2019b, figure 2)."""
    pairs = [(e["alpha"], e["beta"]) for e in model["thresholds"]]
    alphas = sorted({a for a, _ in pairs})
    betas = sorted({b for _, b in pairs})
    fig = new_figure((3.4 * len(betas), 2.8 * len(alphas)))
    axes = fig.subplots(len(alphas), len(betas), squeeze=False, sharex=True, sharey=True)
    cases = model["cases"]
    x_all = np.array([c["max_abs_d_m"] for c in cases]) * 100.0
    grid = np.logspace(np.log10(x_all.min()), np.log10(x_all.max()), 200)
    for entry in model["thresholds"]:
        ax = axes[alphas.index(entry["alpha"])][betas.index(entry["beta"])]
        sel = [c for c in cases if c["alpha"] == entry["alpha"] and c["beta"] == entry["beta"]]
        x = np.array([c["max_abs_d_m"] for c in sel]) * 100.0
        for k, col in enumerate(columns):
            colour = "black" if col == "fused" else SERIES_COLOURS[k % len(SERIES_COLOURS)]
            if col == "fused":
                probs = np.array([c["p_fused"] for c in sel])
            else:
                probs = np.array([c["p_by_gain"][col.removeprefix("mu=")] for c in sel])
            size, alpha = (14, 0.9) if col == "fused" else (6, 0.45)
            ax.scatter(x, probs, s=size, alpha=alpha, color=colour, label=col)
            fit = fit_from_dict(entry["fits"][col])
            if math.isfinite(fit.threshold):
                ax.plot(grid, fitted_curve(fit, grid / 100.0), color=colour,
                        lw=1.6 if col == "fused" else 0.8)
                if col == "fused":
                    ax.axvline(100.0 * fit.threshold, color="black", ls="--", lw=0.8)
        fused = entry["fits"]["fused"]
        unit = "" if fused["status"] == "failed" else " cm"
        ax.set_title(f"alpha={entry['alpha']:g}, beta={entry['beta']:g}: fused "
                     f"{threshold_text(fused)}{unit}", fontsize=9)
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
    for ax in axes[-1]:
        ax.set_xlabel("maximum |D| (LOS), cm")
    for row in axes:
        row[0].set_ylabel("P")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{model['label']}: P against maximum displacement "
                 "(Anantrasirichai et al. 2019b protocol)")
    return save_png(fig, path, dpi=110)


def plot_roc(path: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """ROC curves of every model (fused P solid, single gains thin)."""
    if not report["models"]:
        raise InputError("plot_roc: the report holds no model")
    fig = new_figure((10, 4.4))
    axes = fig.subplots(1, 2)
    for k, m in enumerate(report["models"]):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        for col, curve in m["roc"].items():
            fused = col in ("fused", "fused+DEM")
            label = f"{m['label']} {col} (AUC {m['auc'][col]:.3f})" if fused else None
            for ax in axes:
                ax.plot(curve["fpr"], curve["tpr"], color=colour, lw=1.8 if fused else 0.6,
                        alpha=1.0 if fused else 0.6, label=label,
                        linestyle="--" if col == "fused+DEM" else "-")
    axes[0].set_title("ROC (fused P solid, after the DEM second look dashed, single gains "
                      "thin)", fontsize=9)
    axes[1].set_xscale("log")
    axes[1].set_xlim(1e-3, 1)
    axes[1].set_title("ROC, log false-positive rate")
    for ax in axes:
        ax.plot([0, 1], [0, 1], color="grey", lw=0.5)
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
    axes[0].legend(fontsize=8, loc="lower right")
    return save_png(fig, path, dpi=110)


def plot_reliability(path: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """Reliability diagram of an ``evaluate real`` report: fraction injected against mean
    P per bin, one line per detector, the diagonal for reference."""
    curves = {label: s["reliability"] for label, s in report["summary"].items()
              if "reliability" in s}
    if not curves:
        raise InputError("plot_reliability: the report holds no semi-real positives")
    fig = new_figure((4.6, 4.2))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, linestyle=":", label="perfectly calibrated")
    for k, (label, rel) in enumerate(curves.items()):
        bins = rel["bins"]
        ax.plot([b["mean_p"] for b in bins], [b["positive_fraction"] for b in bins],
                marker="o", ms=3, color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
                label=f"{label} (ECE {rel['ece']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean P in bin")
    ax.set_ylabel("fraction of injected maps in bin")
    ax.legend(fontsize=6.5, loc="upper left")
    return save_png(fig, path, dpi=110)


def plot_real(path: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """Histograms of P on quiet and injected real maps, one panel per detector."""
    labels = list(report["summary"])
    if not labels:
        raise InputError("plot_real: the report holds no detector")
    fig = new_figure((4.2 * len(labels), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(labels)))
    bins = np.linspace(0.0, 1.0, 21)
    epochs = report["epochs"]
    for ax, label in zip(axes, labels, strict=True):
        for kind, colour in (("quiet", "grey"), ("injected", SERIES_COLOURS[0]),
                             ("event", SERIES_COLOURS[1 % len(SERIES_COLOURS)])):
            p = [e["scores"][label]["p"] for e in epochs if e["kind"] == kind]
            if p:
                ax.hist(p, bins=bins, color=colour, alpha=0.55, density=True,
                        label=f"{kind} (n={len(p)})")
        ax.axvline(0.5, color="black", lw=0.8, linestyle="--")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("P (fused P_max; baseline: 1 - 2^(-ratio/5))")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    return save_png(fig, path, dpi=110)

"""The demo's series figure: what a volcanologist looks at first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
from matplotlib.colors import LightSource
from numpy.typing import NDArray

from monitor.figures.style import new_figure, save_png
from monitor.science.geometry import rewrap


def series_figure(path: str | Path, *, dem: NDArray[np.floating] | None,
                  last_map_m: NDArray[np.floating], epochs: Sequence[date],
                  peak_m: Sequence[float | None], truth_peak_m: Sequence[float] | None,
                  onset: date | None, target_mask: NDArray[np.bool_], title: str,
                  p_fused: Sequence[float | None] | None = None,
                  lstt_p: Sequence[float | None] | None = None,
                  alert_from: date | None = None, p_label: str = "CNN fused P") -> Path:
    """Relief, last cumulative map (unwrapped and re-wrapped at gains 1 and 4) and the
    series of the target disc with its scores.

    Args:
        path: PNG to write.
        dem: Heights, metres, ``(ny, nx)`` (None: no relief panel content).
        last_map_m: Cumulative LOS displacement of the last epoch, metres, ``(ny, nx)``.
        epochs: Dates of the series.
        peak_m: Largest |cumulative displacement| in the target per epoch, metres.
        truth_peak_m: Peak LOS deformation put in, per epoch (synthetic archives).
        onset: Deformation onset to mark.
        target_mask: Target region, ``(ny, nx)``.
        title: Figure title.
        p_fused: The detector's probability per epoch (None where not scored).
        lstt_p: LSTT p-value per epoch (None where not scored).
        alert_from: First epoch at an alert level, shaded from there on.
        p_label: Legend of ``p_fused`` (which detector, on what).
    """
    fig = new_figure((20, 4.0))
    axes = fig.subplots(1, 5)
    if dem is not None:
        shade = LightSource(azdeg=315, altdeg=45).hillshade(np.nan_to_num(dem), vert_exag=2)
        axes[0].imshow(shade, cmap="gray")
    axes[0].set_title("SRTM relief (hillshade)")
    last = np.asarray(last_map_m)
    lim = float(np.nanpercentile(np.abs(last), 99.5)) or 0.01
    im = axes[1].imshow(last * 100, cmap="RdBu_r", vmin=-lim * 100, vmax=lim * 100)
    fig.colorbar(im, ax=axes[1], shrink=0.8, label="LOS cm")
    axes[1].set_title(f"cumulative {epochs[0]:%Y-%m-%d} to {epochs[-1]:%Y-%m-%d}")
    for ax, gain in zip(axes[2:4], (1, 4), strict=True):
        ax.imshow(rewrap(last, gain), cmap="hsv", vmin=-np.pi, vmax=np.pi)
        ax.set_title(f"re-wrapped, gain {gain} ({2.8 / gain:.1f} cm/fringe)")
    for ax in axes[:4]:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.contour(target_mask.astype(float), levels=[0.5], colors="k", linewidths=0.8)
    ax = axes[4]
    ax.plot(epochs, _cm(peak_m), "o-", ms=3, label="max |cumulative| in target")
    if truth_peak_m is not None:
        ax.plot(epochs, np.array(truth_peak_m) * 100, "k--", label="deformation put in")
    if onset is not None:
        ax.axvline(onset, color="r", lw=0.8, label="onset")
    if alert_from is not None:
        ax.axvspan(alert_from, epochs[-1], color="C3", alpha=0.08, label="alert")
    ax.set_ylabel("LOS cm")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.set_title("target")
    handles, labels = ax.get_legend_handles_labels()
    if p_fused is not None or lstt_p is not None:
        ax2 = ax.twinx()
        for values, style, colour, label in ((p_fused, "s-", "C2", p_label),
                                             (lstt_p, "^:", "C4", "LSTT p-value")):
            if values is not None:
                pts = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
                ax2.plot([e for e, _ in pts], [v for _, v in pts], style, color=colour,
                         ms=3, label=label)
        ax2.axhline(0.5, color="C2", lw=0.6, ls=":")
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_ylabel("probability / p-value")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize=7, loc="upper left")
    fig.suptitle(title)
    return save_png(fig, path, dpi=90)


def _cm(values: Sequence[float | None]) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else 100.0 * v for v in values])

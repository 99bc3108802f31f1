"""Quicklook figures (matplotlib, Agg backend): what a volcanologist looks at first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LightSource  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from monitor.science.geometry import rewrap  # noqa: E402


def series_figure(path: str | Path, *, dem: NDArray[np.floating] | None,
                  stack_m: NDArray[np.floating], epochs: Sequence[date],
                  truth_peak_m: Sequence[float] | None, onset: date | None,
                  target_mask: NDArray[np.bool_], title: str,
                  scores: Sequence[Any] | None = None) -> Path:
    """Relief, last cumulative map (unwrapped and re-wrapped at gains 1 and 4) and the
    series of the target disc with its scores.

    Args:
        path: PNG to write.
        dem: Heights, metres, ``(ny, nx)`` (None: no relief panel content).
        stack_m: Cumulative LOS displacement, metres, ``(n_epochs, ny, nx)``.
        epochs: Dates of the stack.
        truth_peak_m: Peak LOS deformation put in, per epoch (synthetic archives).
        onset: Deformation onset to mark.
        target_mask: Target region, ``(ny, nx)``.
        title: Figure title.
        scores: Per-epoch results with ``epoch``, ``p_fused``, ``lstt_p`` and ``flag``
            (:class:`monitor.series_scan.EpochScore`), plotted when given.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.0), constrained_layout=True)
    if dem is not None:
        shade = LightSource(azdeg=315, altdeg=45).hillshade(np.nan_to_num(dem), vert_exag=2)
        axes[0].imshow(shade, cmap="gray")
    axes[0].set_title("SRTM relief (hillshade)")
    last = stack_m[-1]
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
    peak = [float(np.nanmax(np.abs(s[target_mask]))) if np.isfinite(s[target_mask]).any()
            else np.nan for s in stack_m]
    ax = axes[4]
    ax.plot(epochs, np.array(peak) * 100, "o-", ms=3, label="max |cumulative| in target")
    if truth_peak_m is not None:
        ax.plot(epochs, np.array(truth_peak_m) * 100, "k--", label="deformation put in")
    if onset is not None:
        ax.axvline(onset, color="r", lw=0.8, label="onset")
    ax.set_ylabel("LOS cm")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.set_title("target")
    if scores:
        ax2 = ax.twinx()
        scored = [s for s in scores if s.p_fused is not None]
        ax2.plot([s.epoch for s in scored], [s.p_fused for s in scored], "s-", color="C2",
                 ms=3, label="CNN fused P")
        lstt = [s for s in scores if s.lstt_p is not None]
        ax2.plot([s.epoch for s in lstt], [s.lstt_p for s in lstt], "^:", color="C4", ms=3,
                 label="LSTT p-value")
        ax2.axhline(0.5, color="C2", lw=0.6, ls=":")
        flagged = [s.epoch for s in scores if s.flag]
        if flagged:
            ax.axvspan(flagged[0], epochs[-1], color="C3", alpha=0.08, label="flagged")
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_ylabel("probability / p-value")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    else:
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p

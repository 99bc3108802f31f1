"""Quicklook figures (matplotlib, Agg backend): what a volcanologist looks at first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LightSource  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from monitor.science.geometry import rewrap  # noqa: E402


def series_figure(path: str | Path, *, dem: NDArray[np.floating], stack_m: NDArray[np.floating],
                  epochs: Sequence[date], truth_peak_m: Sequence[float] | None,
                  onset: date | None, centre_rc: tuple[int, int], title: str,
                  radius_px: int = 25) -> Path:
    """Relief, last cumulative map (unwrapped and re-wrapped at gains 1 and 4) and the
    series of the target disc, with the truth when known.

    Args:
        path: PNG to write.
        dem: Heights, metres, ``(ny, nx)``.
        stack_m: Cumulative LOS displacement, metres, ``(n_epochs, ny, nx)``.
        epochs: Dates of the stack.
        truth_peak_m: Peak LOS deformation put in, per epoch (synthetic archives).
        onset: Deformation onset to mark.
        centre_rc: Target centre pixel.
        title: Figure title.
        radius_px: Target disc radius, pixels.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 5, figsize=(19, 3.9), constrained_layout=True)
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
        ax.add_patch(plt.Circle(centre_rc[::-1], radius_px, fill=False, color="k", lw=0.8))
    r, c = centre_rc
    yy, xx = np.ogrid[: last.shape[0], : last.shape[1]]
    disc = (yy - r) ** 2 + (xx - c) ** 2 <= radius_px**2
    peak = [float(np.nanmax(np.abs(s[disc]))) if np.isfinite(s[disc]).any() else np.nan
            for s in stack_m]
    axes[4].plot(epochs, np.array(peak) * 100, "o-", ms=3, label="max |cumulative| in disc")
    if truth_peak_m is not None:
        axes[4].plot(epochs, np.array(truth_peak_m) * 100, "k--", label="deformation put in")
    if onset is not None:
        axes[4].axvline(onset, color="r", lw=0.8, label="onset")
    axes[4].set_ylabel("LOS cm")
    axes[4].legend(fontsize=7)
    axes[4].tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[4].set_title("target disc")
    fig.suptitle(title)
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p

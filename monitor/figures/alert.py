"""The quicklook PNG attached to alert e-mail.

Left: the wrapped cumulative displacement (re-wrapped at gain 1, one colour cycle = 2.8 cm
of LOS, hsv colour map) with the fused-probability contours P > 0.5 (dark green) and
P > 0.8 (bright green), as in Anantrasirichai et al. (2019a, figure 4), and the target
disc. Right: the fused P and LSTT p-value history of the target. Arrays in, PNG bytes out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.figures.style import new_figure, png_bytes
from monitor.science.geometry import rewrap

#: Probability contour levels and colours (Anantrasirichai et al. 2019a, figure 4: dark
#: and bright green).
CONTOUR_LEVELS: tuple[float, ...] = (0.5, 0.8)
CONTOUR_COLOURS: tuple[str, ...] = ("#006400", "#7CFC00")


def contour_levels_drawn(p_map: NDArray[np.floating],
                         levels: Sequence[float] = CONTOUR_LEVELS) -> tuple[float, ...]:
    """The levels the probability map actually exceeds somewhere (NaN ignored)."""
    finite = p_map[np.isfinite(p_map)]
    if finite.size == 0:
        return ()
    top = float(finite.max())
    return tuple(lv for lv in levels if top > lv)


def alert_quicklook_figure(cumulative_m: ArrayLike, p_fused_map: ArrayLike,
                           target_mask: ArrayLike, *, epochs: Sequence[date],
                           p_history: ArrayLike, lstt_p_history: ArrayLike, title: str,
                           lstt_alpha: float | None = 0.05,
                           levels: Sequence[float] = CONTOUR_LEVELS) -> Figure:
    """Draw the alert quicklook (see the module docstring) on a new figure.

    Args:
        cumulative_m: Cumulative LOS displacement, metres, ``(ny, nx)``; NaN = incoherent.
        p_fused_map: Fused CNN probability, 0-1, ``(ny, nx)``; NaN where not scored.
        target_mask: Target disc, bool ``(ny, nx)``.
        epochs: Dates of the history, ``(n,)``; the last one is the alerting epoch.
        p_history: Fused probability over the target per epoch, ``(n,)``, NaN = unscored.
        lstt_p_history: Smallest LSTT p-value per epoch, ``(n,)``, NaN = unscored.
        title: Figure title (target, epoch, level).
        lstt_alpha: Significance level drawn on the history panel (None: not drawn).
        levels: Probability contour levels (default 0.5 and 0.8).

    Returns:
        A matplotlib Figure not attached to pyplot (garbage-collected normally). Contours
        carry the gid ``"p>LEVEL"``.
    """
    disp = np.asarray(cumulative_m, dtype=np.float32)
    prob = np.asarray(p_fused_map, dtype=np.float32)
    mask = np.asarray(target_mask, dtype=bool)
    if disp.ndim != 2 or prob.shape != disp.shape or mask.shape != disp.shape:
        raise InputError(f"alert quicklook: cumulative_m {disp.shape}, p_fused_map "
                         f"{prob.shape} and target_mask {mask.shape} must be one (ny, nx) "
                         "shape")
    if np.any((prob < 0) | (prob > 1)):
        raise InputError("alert quicklook: p_fused_map must hold probabilities in [0, 1]")
    p_hist = np.asarray(p_history, dtype=np.float64)
    l_hist = np.asarray(lstt_p_history, dtype=np.float64)
    if not (len(epochs) == p_hist.shape[0] == l_hist.shape[0]) or p_hist.ndim != 1:
        raise InputError(f"alert quicklook: epochs ({len(epochs)}), p_history "
                         f"{p_hist.shape} and lstt_p_history {l_hist.shape} must have one "
                         "length")
    if len(levels) > len(CONTOUR_COLOURS):
        raise InputError(f"alert quicklook: at most {len(CONTOUR_COLOURS)} contour levels, "
                         f"got {list(levels)}")

    fig = new_figure((10.0, 4.2), dpi=80)
    ax_map, ax_hist = fig.subplots(1, 2, width_ratios=(1.0, 1.2))
    cmap = matplotlib.colormaps["hsv"].with_extremes(bad="0.75")
    im = ax_map.imshow(np.ma.masked_invalid(rewrap(disp, 1.0)), cmap=cmap, vmin=-np.pi,
                       vmax=np.pi, interpolation="nearest")
    fig.colorbar(im, ax=ax_map, shrink=0.8, label="wrapped phase, rad (2.8 cm / cycle)")
    drawn = contour_levels_drawn(prob, levels)
    filled = np.nan_to_num(prob, nan=0.0)
    for level, colour in zip(levels, CONTOUR_COLOURS, strict=False):
        if level in drawn:
            cs = ax_map.contour(filled, levels=[level], colors=[colour], linewidths=2.0)
            cs.set_path_effects([patheffects.withStroke(linewidth=3.5, foreground="k")])
            cs.set_gid(f"p>{level:g}")
    if mask.any():
        disc = ax_map.contour(mask.astype(np.float32), levels=[0.5], colors="k",
                              linewidths=1.0, linestyles="--")
        disc.set_gid("target")
    ax_map.set_xticks([])
    ax_map.set_yticks([])
    ax_map.set_title("wrapped cumulative LOS; green: P > "
                     + " / ".join(f"{lv:g}" for lv in levels), fontsize=9)

    dates = list(epochs)
    ax_hist.plot(dates, p_hist, "s-", color="C2", ms=3, label="fused CNN P")
    ax_hist.plot(dates, l_hist, "^:", color="C4", ms=3, label="LSTT p-value")
    for level, colour in zip(levels, CONTOUR_COLOURS, strict=False):
        ax_hist.axhline(level, color=colour, lw=0.8, ls="--")
    if lstt_alpha is not None:
        ax_hist.axhline(lstt_alpha, color="C4", lw=0.6, ls=":")
    if dates:
        ax_hist.axvline(dates[-1], color="C3", lw=0.8)
    ax_hist.set_ylim(-0.02, 1.02)
    ax_hist.set_ylabel("probability / p-value")
    ax_hist.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax_hist.legend(fontsize=7, loc="upper left")
    ax_hist.set_title("target history", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def alert_quicklook_png(cumulative_m: ArrayLike, p_fused_map: ArrayLike,
                        target_mask: ArrayLike, *, epochs: Sequence[date],
                        p_history: ArrayLike, lstt_p_history: ArrayLike, title: str,
                        lstt_alpha: float | None = 0.05,
                        levels: Sequence[float] = CONTOUR_LEVELS) -> bytes:
    """The alert quicklook as PNG bytes (800 x 336 pixels); arguments as
    :func:`alert_quicklook_figure`."""
    fig = alert_quicklook_figure(cumulative_m, p_fused_map, target_mask, epochs=epochs,
                                 p_history=p_history, lstt_p_history=lstt_p_history,
                                 title=title, lstt_alpha=lstt_alpha, levels=levels)
    return png_bytes(fig)

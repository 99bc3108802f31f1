"""A target's history for the status page: what the alert policy saw at every epoch.

Three panels sharing the time axis, one line per frame:

1. the fused CNN probability over the target, the score the policy decided on (solid;
   corrected for stratified delay where a second look corrected it) and the raw score
   before any correction (dotted), with the ``watch`` and ``warning`` thresholds;
2. the LSTT p-value of the target against its reference regions (the deciding one), on a
   log axis, with the significance level alpha;
3. the signed bell amplitude of the cumulative map, centimetres of line-of-sight motion
   (positive towards the satellite, i.e. uplift).

Alert epochs are vertical lines on every panel, in the colour of their level. Arrays in,
a :class:`~matplotlib.figure.Figure` out (PNG bytes with
:func:`monitor.figures.style.png_bytes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.figures.style import SERIES_COLOURS, new_figure

#: Colours of the alert levels by name (the status page's level badges use the same).
LEVEL_COLOURS: dict[str, str] = {"watch": "#e69f00", "warning": "#c62828"}
#: Smallest p-value drawn on the log axis (a permutation p-value is never 0; a stored 0
#: would fall off the axis).
P_VALUE_FLOOR = 1e-4
#: One value per epoch; None or NaN where there is none.
Values = Sequence[float | None] | ArrayLike


def _series(values: Values, n: int, name: str) -> NDArray[np.float64]:
    out = np.array([np.nan if v is None else v for v in np.asarray(values, dtype=object)],
                   dtype=np.float64).reshape(-1)
    if out.shape != (n,):
        raise InputError(f"history figure: {name} has {out.shape[0]} values for {n} epochs")
    return out


def target_history_figure(epochs: Sequence[date], *, p_decision: Values,
                          p_raw: Values, lstt_p: Values, bell_m: Values,
                          frames: Sequence[str | None] | None = None,
                          alert_epochs: Sequence[date] = (),
                          alert_levels: Sequence[str] = (), p_watch: float = 0.5,
                          p_warning: float = 0.8, lstt_alpha: float = 0.05,
                          title: str = "") -> Figure:
    """Draw a target's history (see the module docstring) on a new figure.

    Args:
        epochs: Scored epochs, oldest first, ``(n,)``.
        p_decision: Fused CNN probability the policy decided on, 0-1, ``(n,)``; None or
            NaN where there is none.
        p_raw: Fused CNN probability before any correction, 0-1, ``(n,)``.
        lstt_p: Deciding LSTT p-value, ``(n,)``.
        bell_m: Signed bell amplitude of the cumulative map, metres of LOS, ``(n,)``.
        frames: Frame of each epoch, ``(n,)`` (None: one unnamed series); one line per
            frame, so frames of different geometry are not joined.
        alert_epochs: Epochs at which alerts were raised.
        alert_levels: Their levels by name (``watch``, ``warning``), same length.
        p_watch: Threshold of the ``watch`` level on P.
        p_warning: Threshold of the ``warning`` level on P.
        lstt_alpha: The LSTT significance level.
        title: Figure title.

    Returns:
        A figure not attached to pyplot (garbage-collected normally), 900 x 640 pixels.

    Raises:
        InputError: Arrays of different lengths.
    """
    n = len(epochs)
    p_dec = _series(p_decision, n, "p_decision")
    p_raw_ = _series(p_raw, n, "p_raw")
    lstt = _series(lstt_p, n, "lstt_p")
    bell_cm = _series(bell_m, n, "bell_m") * 100.0
    labels = list(frames) if frames is not None else [None] * n
    if len(labels) != n:
        raise InputError(f"history figure: frames has {len(labels)} values for {n} epochs")
    if len(alert_epochs) != len(alert_levels):
        raise InputError(f"history figure: {len(alert_epochs)} alert epochs but "
                         f"{len(alert_levels)} alert levels")
    dates = np.array(list(epochs), dtype="datetime64[D]")

    fig = new_figure((9.0, 6.4), dpi=100)
    ax_p, ax_l, ax_b = fig.subplots(3, 1, sharex=True, height_ratios=(1.2, 1.0, 1.0))
    order = list(dict.fromkeys(labels))
    for k, frame in enumerate(order):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        sel = np.array([lab == frame for lab in labels], dtype=bool)
        name = f" {frame}" if frame is not None and len(order) > 1 else ""
        ax_p.plot(dates[sel], p_dec[sel], "o-", color=colour, ms=3.5, lw=1.4,
                  label=f"P deciding{name}", gid=f"p_decision{name}")
        ax_p.plot(dates[sel], p_raw_[sel], ":", marker=".", color=colour, ms=3, lw=1.0,
                  alpha=0.7, label=f"P raw{name}", gid=f"p_raw{name}")
        ax_l.plot(dates[sel], np.clip(lstt[sel], P_VALUE_FLOOR, 1.0), "^-", color=colour,
                  ms=3.5, lw=1.2, label=f"LSTT p{name}")
        ax_b.plot(dates[sel], bell_cm[sel], "s-", color=colour, ms=3, lw=1.2,
                  label=f"bell{name}")
    ax_p.axhline(p_watch, color=LEVEL_COLOURS["watch"], lw=1.0, ls="--")
    ax_p.axhline(p_warning, color=LEVEL_COLOURS["warning"], lw=1.0, ls="--")
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_ylabel("fused CNN P")
    ax_l.axhline(lstt_alpha, color="0.3", lw=1.0, ls="--")
    ax_l.set_yscale("log")
    ax_l.set_ylim(P_VALUE_FLOOR / 2, 1.5)
    ax_l.set_ylabel("LSTT p-value")
    ax_b.axhline(0.0, color="0.5", lw=0.8)
    ax_b.set_ylabel("bell, cm LOS\n(+ towards satellite)")
    for ax in (ax_p, ax_l, ax_b):
        for day, level in zip(alert_epochs, alert_levels, strict=True):
            ax.axvline(np.datetime64(day, "D"), color=LEVEL_COLOURS.get(level, "0.2"),
                       lw=1.2, alpha=0.8, gid=f"alert {day:%Y-%m-%d}")
        ax.grid(True, lw=0.4, alpha=0.5)
    handles, names = ax_p.get_legend_handles_labels()
    handles += [Line2D([], [], color=LEVEL_COLOURS["watch"], ls="--"),
                Line2D([], [], color=LEVEL_COLOURS["warning"], ls="--")]
    names += [f"watch P >= {p_watch:g}", f"warning P >= {p_warning:g}"]
    if len(alert_epochs):
        handles.append(Line2D([], [], color="0.2", lw=1.2))
        names.append("alert raised (level colour)")
    ax_p.legend(handles, names, fontsize=7, loc="upper left", ncols=2)
    ax_l.legend([Line2D([], [], color="0.3", ls="--")], [f"alpha {lstt_alpha:g}"],
                fontsize=7, loc="lower left")
    ax_b.tick_params(axis="x", labelrotation=30, labelsize=8)
    if n == 0:
        ax_p.text(0.5, 0.5, "no scored epoch yet", transform=ax_p.transAxes, ha="center",
                  va="center", color="0.4")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


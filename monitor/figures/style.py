"""The matplotlib backend, shared colours and the PNG writers of :mod:`monitor.figures`.

Importing this module selects the non-interactive Agg backend, so figures draw on machines
without a display (the daemon, CI). Figures are plain :class:`~matplotlib.figure.Figure`
objects, not attached to pyplot: they are garbage-collected normally.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from monitor.io.atomic import atomic_write  # noqa: E402

#: Colour cycle for series of one kind (gains, models), in order.
SERIES_COLOURS: tuple[str, ...] = ("tab:blue", "tab:orange", "tab:green", "tab:red",
                                   "tab:purple", "tab:brown")


def new_figure(figsize: tuple[float, float], dpi: float | None = None) -> Figure:
    """A new figure with constrained layout, ``figsize`` in inches."""
    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def png_bytes(fig: Figure, dpi: float | None = None) -> bytes:
    """The figure as PNG bytes (``dpi`` None: the figure's own)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi="figure" if dpi is None else dpi)
    return buf.getvalue()


def save_png(fig: Figure, path: str | os.PathLike[str], dpi: float | None = None) -> Path:
    """Write the figure as a PNG at ``path`` atomically (parent folders made); the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = png_bytes(fig, dpi)
    with atomic_write(p, "wb") as fh:
        fh.write(data)
    return p

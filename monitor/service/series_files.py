"""The cumulative series of a target on disk: one ``.npz`` file, written atomically.

The database holds products, scores and alerts; the arrays live here. A file holds the
incremental daisy-chain state (:class:`monitor.science.timeseries.DaisyChainState`): the
latest cumulative displacement and its support, so that a new product costs one image of
work; and, in the same file so that the two never disagree after a crash, the noise
history of the series' GLS filter (:class:`~monitor.science.detect.series_gls.NoiseHistory`:
block means and arrival scores of its increments, a few kilobytes per product, and the
block means of its first cumulative maps, the level the filter judges against). A file of
format 1 (before the filter) has no history: it starts with the next product, and the
filter judges an epoch once 20 increments precede it. A file of format 2 (before the
level) has a history without the early maps: its filter judges against the series' first
date alone, as when it was written. The file also keeps the newest increment as summed into
the chain (``increment_m``, float32), so that an epoch saved but not scored before a crash
is scored again with its step (the fast path, and a detector that judges increments); a
file written before it has none, and such an epoch is scored without its step.

Writing goes to a temporary file in the same directory followed by ``os.replace``, so a
crash leaves either the old file or the new one, never a torn one; a file that cannot be
read back is an error that names it, never an empty series.
"""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path

import numpy as np

from monitor.errors import DatasetError, InputError
from monitor.io.atomic import atomic_write
from monitor.science.detect.series_gls import GlsWindow, NoiseHistory
from monitor.science.timeseries import DaisyChainState

FORMAT_VERSION = 3
#: Formats this version reads (1: without the noise history; 2: without its level).
READABLE_FORMATS = (1, 2, 3)


def series_path(series_dir: str | Path, target_id: str, frame: str) -> Path:
    """Where the series of one target and frame lives."""
    return Path(series_dir) / f"{target_id}__{frame}.series.npz"


def save_state(path: str | Path, state: DaisyChainState,
               noise: NoiseHistory | None = None,
               increment: np.ndarray | None = None) -> Path:
    """Write a daisy-chain state, its noise history (None: the series has none) and its
    newest increment (None: not kept) atomically (temporary file + ``os.replace``).

    Raises:
        InputError: an increment not of the state's shape.
    """
    if increment is not None and np.shape(increment) != state.cumulative_m.shape:
        raise InputError(f"series file {path}: increment of shape {np.shape(increment)} "
                         f"for a series of {state.cumulative_m.shape}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "format_version": FORMAT_VERSION,
        "first_epoch": state.first_epoch.isoformat(),
        "last_epoch": state.last_epoch.isoformat(),
        "n_epochs": state.n_epochs,
        "coherence_threshold": state.coherence_threshold,
    }
    arrays = {"cumulative_m": state.cumulative_m, "support": state.support,
              "header": np.array(json.dumps(header))}
    if state.reference_mask is not None:
        arrays["reference_mask"] = state.reference_mask
    if increment is not None:
        arrays["increment_m"] = np.asarray(increment, dtype=np.float32)
    if noise is not None:
        header["noise"] = {**noise.window.record(), "last_epoch": None
                           if noise.last_epoch is None else noise.last_epoch.isoformat(),
                           "level_epochs": [d.isoformat() for d in noise.level_epochs],
                           "first_date_only": noise.first_date_only}
        arrays["header"] = np.array(json.dumps(header))
        arrays["noise_blocks"] = noise.blocks
        arrays["noise_arrivals"] = noise.arrivals
        assert noise.levels is not None  # NoiseHistory sets it
        arrays["noise_levels"] = noise.levels
    with atomic_write(p, fsync=True) as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    return p


def load_state(path: str | Path) -> DaisyChainState | None:
    """Read a state back; None when the file does not exist (a new target).

    Raises:
        DatasetError: the file exists but is unreadable or inconsistent.
    """
    p = Path(path)
    if not p.exists():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            cumulative = np.array(z["cumulative_m"], dtype=np.float64)
            support = np.array(z["support"], dtype=np.int16)
            ref = np.array(z["reference_mask"], dtype=bool) if "reference_mask" in z else None
    except (OSError, ValueError, KeyError, json.JSONDecodeError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{p}: unreadable series file ({exc}); restore it from a backup "
                           "or delete it to rebuild the series from the archive") from None
    if header.get("format_version") not in READABLE_FORMATS:
        raise DatasetError(f"{p}: series format {header.get('format_version')!r}, expected "
                           f"one of {READABLE_FORMATS}")
    if cumulative.ndim != 2 or support.shape != cumulative.shape or (
            ref is not None and ref.shape != cumulative.shape):
        raise DatasetError(f"{p}: inconsistent array shapes in the series file")
    return DaisyChainState(
        first_epoch=date.fromisoformat(header["first_epoch"]),
        last_epoch=date.fromisoformat(header["last_epoch"]),
        n_epochs=int(header["n_epochs"]),
        cumulative_m=cumulative, support=support, reference_mask=ref,
        coherence_threshold=float(header["coherence_threshold"]),
    )


def load_increment(path: str | Path, shape: tuple[int, int]) -> np.ndarray | None:
    """The newest increment kept in a series file; None when the file does not exist or
    keeps none (written before it was kept).

    Raises:
        DatasetError: the file is unreadable, or its increment is not of ``shape``.
    """
    p = Path(path)
    if not p.exists():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            if "increment_m" not in z:
                return None
            out = np.array(z["increment_m"], dtype=np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{p}: unreadable increment in the series file ({exc}); restore "
                           "it from a backup or delete it to rebuild the series from the "
                           "archive") from None
    if out.shape != tuple(shape):
        raise DatasetError(f"{p}: the series file's increment is {out.shape}, its series "
                           f"{tuple(shape)}; restore it from a backup or delete it to "
                           "rebuild the series from the archive")
    return out


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"first_date_only is {value!r}, not true or false")
    return value


def load_noise(path: str | Path, shape: tuple[int, int] | None = None
               ) -> NoiseHistory | None:
    """The noise history of a series file; None when the file does not exist or holds
    none (format 1, or a target too near its grid's edge for the filter's window).

    Raises:
        DatasetError: the file is unreadable, or its history is inconsistent (in itself,
            or with a series grid of ``shape``).
    """
    p = Path(path)
    if not p.exists():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if "noise" not in header:
                return None
            blocks = np.array(z["noise_blocks"], dtype=np.float32)
            arrivals = np.array(z["noise_arrivals"], dtype=np.float64)
            levels = np.array(z["noise_levels"], dtype=np.float32) \
                if "noise_levels" in z else None
        meta = header["noise"]
        legacy = header.get("format_version") == 2  # written before the level
        if legacy != (levels is None):
            raise ValueError("the level's maps are missing" if levels is None
                             else "a format-2 history with a level")
        last = meta.get("last_epoch")
        rows, cols = meta["rows"], meta["cols"]
        window = GlsWindow((int(rows[0]), int(rows[1])), (int(cols[0]), int(cols[1])),
                           int(meta["factor"]))
        if not (0 <= window.rows[0] < window.rows[1] and 0 <= window.cols[0] < window.cols[1]
                and window.factor >= 1) or (shape is not None and (
                    window.rows[1] > shape[0] or window.cols[1] > shape[1])):
            raise ValueError(f"window rows {rows} cols {cols} factor {meta['factor']} do "
                             f"not fit the series grid {shape}")
        return NoiseHistory(window, blocks, arrivals,
                            None if last is None else date.fromisoformat(last), levels,
                            tuple(date.fromisoformat(d) for d in meta.get("level_epochs", ())),
                            _flag(meta.get("first_date_only", legacy)))
    except (OSError, ValueError, KeyError, TypeError, IndexError, json.JSONDecodeError,
            zipfile.BadZipFile, InputError) as exc:
        raise DatasetError(f"{p}: unreadable noise history in the series file ({exc}); "
                           "restore it from a backup or delete it to rebuild the series "
                           "from the archive") from None

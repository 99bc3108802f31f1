"""The maps an alert's quicklook is drawn from, kept on disk until the alert is decided.

A step that qualifies for an alert level keeps its cumulative map, fused probability map
and target mask for the quicklook PNG (Anantrasirichai et al. 2019a, figure 4). Held only
in memory, they were lost when the daemon died between scoring the step and drawing the
PNG: the restart does not score a recorded epoch again, and the alert e-mail went out
without its image. So the pipeline writes them here (one compressed ``.npz`` per target and
epoch, atomic, fsync'd) *before* it records the step's score, reads them back when it draws
a quicklook after a restart, and deletes them once the policy has decided the step (its PNG
written, or no alert raised at that epoch).
"""

from __future__ import annotations

import logging
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from monitor.config import Settings
from monitor.io.atomic import atomic_write

log = logging.getLogger(__name__)

#: Sub-folder of ``watch.series_dir`` that holds the maps.
FOLDER = "alert_maps"

AlertMaps = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]]


def quicklook_path(settings: Settings, target_id: str, epoch: date) -> Path:
    """Where the quicklook PNG of an alert of ``target_id`` at ``epoch`` is kept (drawn by
    the alert stage, attached by the outbox)."""
    return Path(settings.watch.quicklook_dir) / f"{target_id}_{epoch:%Y%m%d}.png"


def maps_path(series_dir: str | Path, target_id: str, epoch: date) -> Path:
    """Where the maps of ``target_id`` at ``epoch`` are kept."""
    return Path(series_dir) / FOLDER / f"{target_id}_{epoch:%Y%m%d}.npz"


def save_maps(path: Path, maps: AlertMaps) -> None:
    """Write ``(cumulative metres, fused P, target mask)``, each ``(ny, nx)``, atomically."""
    image, prob, tmask = maps
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, fsync=True) as f:
        np.savez_compressed(f, image=np.asarray(image, np.float32),
                            prob=np.asarray(prob, np.float32),
                            target_mask=np.asarray(tmask, bool))


def load_maps(path: Path) -> AlertMaps | None:
    """The maps saved at ``path``; None when there is no file or it cannot be read.

    An unreadable file is logged with its path and treated as absent: the alert and its
    e-mail go out without the picture rather than not at all.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            image, prob, tmask = z["image"], z["prob"], z["target_mask"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("quicklook maps %s unreadable (%s); the alert goes out without its "
                    "picture", path, exc)
        return None
    if not image.shape == prob.shape == tmask.shape or image.ndim != 2:
        log.warning("quicklook maps %s hold arrays of shapes %s, %s, %s; ignored", path,
                    image.shape, prob.shape, tmask.shape)
        return None
    return image.astype(np.float32), prob.astype(np.float32), tmask.astype(bool)


def discard_maps(path: Path) -> None:
    """Delete the maps at ``path`` if present."""
    path.unlink(missing_ok=True)


def saved_epochs(series_dir: str | Path, target_id: str) -> list[date]:
    """Epochs of ``target_id`` whose maps are on disk, in date order."""
    folder = Path(series_dir) / FOLDER
    if not folder.is_dir():
        return []
    out = []
    for p in folder.glob(f"{target_id}_????????.npz"):
        stamp = p.stem[len(target_id) + 1:]
        try:
            out.append(date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:])))
        except ValueError:
            continue
    return sorted(out)

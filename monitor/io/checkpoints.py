"""Training checkpoints on disk: write after every epoch, read back to resume a run.

A checkpoint file is ``torch.save`` of a plain dictionary::

    {"format": "insar-monitor-checkpoint", "version": 1,
     "arch": "compact", "config": {...},          # to rebuild the network
     "settings": {...},                            # training options, checked on resume
     "state": {epoch, history, best_epoch, ...}}   # monitor.science.detect.training

It is read with ``torch.load(weights_only=True)`` (no pickled code is executed), so every
value is a tensor or a plain Python value. Files are written atomically (temporary file,
then rename): a run killed while writing leaves the previous epoch's checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from monitor.errors import ModelError
from monitor.io.atomic import atomic_write
from monitor.science.detect.training import EpochRecord, TrainingCheckpoint

FORMAT = "insar-monitor-checkpoint"
VERSION = 1


@dataclass(frozen=True, eq=False)
class StoredCheckpoint:
    """A checkpoint read from disk.

    Attributes:
        arch: Registry name of the network.
        config: Its configuration (``build_model(arch, **config)``).
        settings: The training options the run was started with.
        state: The training state to pass to ``train(resume=...)``.
        path: The file it came from.
    """

    arch: str
    config: dict[str, Any]
    settings: dict[str, Any]
    state: TrainingCheckpoint
    path: str


def save_checkpoint(path: str | os.PathLike[str], *, arch: str, config: dict[str, Any],
                    settings: dict[str, Any], state: TrainingCheckpoint) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: Destination file; its folder must exist.
        arch: Registry name of the network.
        config: Network configuration (plain values).
        settings: Training options to check when resuming (plain values).
        state: The state :func:`monitor.science.detect.training.train` handed over.

    Returns:
        The path written.

    Raises:
        ModelError: The file cannot be written.
    """
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "config": dict(config),
        "settings": dict(settings),
        "state": {
            "epoch": state.epoch,
            "history": [asdict(r) for r in state.history],
            "best_epoch": state.best_epoch,
            "best_loss": state.best_loss,
            "model_state": state.model_state,
            "best_state": state.best_state,
            "optimiser_state": state.optimiser_state,
            "numpy_rng_state": state.numpy_rng_state,
            "torch_rng_state": state.torch_rng_state,
            "cuda_rng_state": state.cuda_rng_state,
        },
    }
    target = Path(path)
    try:
        with atomic_write(target) as fh:
            torch.save(payload, fh)
    except OSError as exc:
        raise ModelError(f"cannot write checkpoint {os.fspath(path)!r}: {exc}") from exc
    return target


def load_checkpoint(path: str | os.PathLike[str]) -> StoredCheckpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (weights-only load, CPU).

    Raises:
        ModelError: Missing, unreadable or corrupt file, or not a checkpoint of this format.
    """
    name = os.fspath(path)
    if not Path(name).is_file():
        raise ModelError(f"checkpoint {name!r} does not exist (or is not a file)")
    try:
        payload = torch.load(name, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile,
            AttributeError, TypeError, OSError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"checkpoint {name!r} is corrupt, truncated or not a torch file ({detail}); "
            f"start the run again without --resume"
        ) from exc
    if not (isinstance(payload, dict) and payload.get("format") == FORMAT
            and payload.get("version") == VERSION):
        raise ModelError(
            f"{name!r} is not an insar-monitor training checkpoint of version {VERSION}"
        )
    try:
        raw = payload["state"]
        state = TrainingCheckpoint(
            epoch=int(raw["epoch"]),
            history=tuple(EpochRecord(**r) for r in raw["history"]),
            best_epoch=int(raw["best_epoch"]),
            best_loss=float(raw["best_loss"]),
            model_state=dict(raw["model_state"]),
            best_state=dict(raw["best_state"]),
            optimiser_state=dict(raw["optimiser_state"]),
            numpy_rng_state=dict(raw["numpy_rng_state"]),
            torch_rng_state=raw["torch_rng_state"],
            cuda_rng_state=raw.get("cuda_rng_state"),
        )
        return StoredCheckpoint(str(payload["arch"]), dict(payload["config"]),
                                dict(payload["settings"]), state, name)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"checkpoint {name!r} lacks a valid field ({exc!r})") from exc

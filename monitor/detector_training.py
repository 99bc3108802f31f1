"""Train a detector network on synthetic datasets (glue above the training loop).

Reads a training and a validation set written by ``insar-monitor synth dataset`` (2-class:
label 0 = S+T, 1 = D+S+T; unwrapped LOS metres), trains with
:func:`monitor.science.detect.training.train` (Adam, cross-entropy, re-wrap augmentation
at the gains, early stopping on the validation loss) and saves the best epoch's weights
with their provenance. Samples larger than 224 x 224 are cropped
(:mod:`monitor.science.detect.crops`): training samples at a random place drawn afresh
every epoch, validation samples at the centre.

After every epoch one JSON line goes to the metrics log and a checkpoint (weights,
optimiser, generators, history) is written atomically. A run that was killed continues
from its checkpoint with the same options (:data:`RESUME_KEYS` must match), giving the
same weights as an uninterrupted run on the same device.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from monitor import __version__
from monitor.compute_device import resolve_device, set_threads
from monitor.config import load_settings
from monitor.errors import DatasetError, InputError
from monitor.io.checkpoints import load_checkpoint, save_checkpoint
from monitor.io.datasets import Dataset, load_dataset
from monitor.io.models import load_model, save_model
from monitor.science.detect.base import PATCH_SIZE, PatchClassifier
from monitor.science.detect.registry import build_model
from monitor.science.detect.training import (
    EpochRecord,
    TrainingCheckpoint,
    TrainingProgress,
    train,
)
from monitor.science.windows import centre_crop, random_crops

log = logging.getLogger(__name__)

#: Options that must match between a checkpoint and the command that resumes it.
RESUME_KEYS = ("arch", "config", "seed", "batch_size", "lr", "weight_decay", "gains",
               "fringe_spacing_m", "train_data", "val_data", "limit", "init")


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """What ``insar-monitor train`` trains with (its flags; ``--help`` gives defaults).

    Attributes:
        data, val: Training and validation dataset directories, comma-separated when
            several (their samples are pooled; semi-real sets of
            ``insar-monitor synth semireal`` beside synthetic ones).
        arch: Architecture name.
        widths: Layer widths (compact: 4; alexnet: 6), or None for the architecture's.
        encoding: Input encoding, or None for the architecture's.
        dropout: Dropout probability, or None for the architecture's.
        epochs: Maximum epochs.
        batch_size: Patches per step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        patience: Epochs without a lower validation loss before stopping; 0 = never.
        gains: Wrap gains drawn for augmentation, or None for ``science.gains``.
        limit: Use only the first N training samples, or None for all.
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: Seed of initialisation, shuffling, augmentation and crops.
        threads: Torch CPU threads, or None.
        out: Model file to write.
        metrics_log: JSON-lines metrics per epoch (None: ``out`` with ``.metrics.jsonl``).
        checkpoint: Checkpoint written every epoch (None: ``out`` with ``.ckpt``).
        resume: Checkpoint to continue, or None.
        config: TOML configuration, or None for the embedded defaults.
        init: A model file whose architecture, configuration and weights the run starts
            from (fine-tuning), or None for a fresh initialisation.
    """

    data: str
    val: str
    arch: str
    widths: tuple[int, ...] | None
    encoding: str | None
    dropout: float | None
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    gains: tuple[float, ...] | None
    limit: int | None
    device: str
    seed: int
    threads: int | None
    out: str
    metrics_log: str | None
    checkpoint: str | None
    resume: str | None
    config: str | None
    init: str | None = None


def _model_kwargs(opts: TrainOptions) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if opts.widths is not None:
        if opts.arch == "compact":
            if len(opts.widths) != 4:
                raise InputError(f"--widths for compact takes 4 integers w1,w2,w3,w4, got "
                                 f"{','.join(map(str, opts.widths))}")
            kwargs["widths"] = tuple(opts.widths)
        else:
            if len(opts.widths) != 6:
                raise InputError(f"--widths for alexnet takes 6 integers c1,...,c5,fc, got "
                                 f"{','.join(map(str, opts.widths))}")
            kwargs["conv_widths"] = tuple(opts.widths[:5])
            kwargs["fc_width"] = opts.widths[5]
    if opts.encoding is not None:
        kwargs["encoding"] = opts.encoding
    if opts.dropout is not None:
        kwargs["dropout"] = opts.dropout
    return kwargs


def _check_options(opts: TrainOptions) -> None:
    for name in ("epochs", "batch_size"):
        value = getattr(opts, name)
        if value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if opts.patience < 0:
        raise InputError(f"--patience must be >= 0 (0 = never stop early), got {opts.patience}")
    if not (opts.lr > 0 and math.isfinite(opts.lr)):
        raise InputError(f"--lr must be a positive number, got {opts.lr}")
    if opts.limit is not None and opts.limit < 2:
        raise InputError(f"--limit must be at least 2 samples, got {opts.limit}")


def _directories(text: str, flag: str) -> list[str]:
    dirs = [d.strip() for d in text.split(",") if d.strip()]
    if not dirs:
        raise InputError(f"{flag}: give at least one dataset directory")
    return dirs


def _load(directory: str, role: str) -> Dataset:
    data = load_dataset(directory)
    scheme = data.manifest.get("scheme")
    if scheme != "2class" or not np.isin(data.y, (0, 1)).all():
        raise DatasetError(f"{directory}: {role} set has scheme {scheme!r}; the detector "
                           "trains on 2-class sets (S+T vs D+S+T): write one with "
                           "`insar-monitor synth dataset --scheme 2class`")
    ny, nx = data.x.shape[1:]
    if ny < PATCH_SIZE or nx < PATCH_SIZE:
        raise DatasetError(f"{directory}: {role} samples are {ny} x {nx} pixels; the "
                           f"networks need at least {PATCH_SIZE} x {PATCH_SIZE}")
    return data


def _limited(parts: list[tuple[NDArray[np.float32], NDArray[np.int64]]], limit: int
             ) -> list[tuple[NDArray[np.float32], NDArray[np.int64]]]:
    """The first ``limit`` samples of the pooled sets, in order."""
    out, left = [], limit
    for x, y in parts:
        if left <= 0:
            break
        out.append((x[:left], y[:left]))
        left -= len(y[:left])
    return out


def _data_id(data: Dataset, directory: str) -> dict[str, Any]:
    m = data.manifest
    return {"path": str(Path(directory).resolve()), "n": int(m["n"]), "seed": m.get("seed"),
            "scheme": m.get("scheme"), "shape": list(data.x.shape[1:]),
            "recipe": m.get("recipe"), "dem_pool": m.get("dem_pool"),
            "code_version": m.get("code_version")}


def _command_line(opts: TrainOptions) -> str:
    parts = ["insar-monitor", "train", "--data", opts.data, "--val", opts.val,
             "--arch", opts.arch]
    optional = (("--widths", opts.widths), ("--encoding", opts.encoding),
                ("--dropout", opts.dropout), ("--limit", opts.limit), ("--init", opts.init))
    for flag, value in optional:
        if value is not None:
            parts += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    parts += ["--epochs", str(opts.epochs), "--batch-size", str(opts.batch_size),
              "--lr", repr(opts.lr), "--weight-decay", repr(opts.weight_decay),
              "--patience", str(opts.patience), "--gains",
              ",".join(f"{g:g}" for g in opts.gains or ()), "--seed", str(opts.seed),
              "--out", opts.out]
    return shlex.join(parts)


def _jsonable(record: EpochRecord) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(record).items()}


def _check_resume(settings: dict[str, Any], stored: dict[str, Any], path: str) -> None:
    def ids(value: Any) -> Any:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            return value
        return [{k: v.get(k) for k in ("n", "seed", "scheme", "shape")}
                if isinstance(v, dict) else v for v in value]

    comparable = {k: settings[k] for k in RESUME_KEYS}
    differing = []
    for key, value in comparable.items():
        old = stored.get(key)
        if key in ("train_data", "val_data"):
            old, value = ids(old), ids(value)
        if json.loads(json.dumps(old)) != json.loads(json.dumps(value)):
            differing.append(f"{key}: checkpoint {old!r}, now {value!r}")
    if differing:
        raise InputError(f"--resume {path}: the checkpoint was made with other options ("
                         + "; ".join(differing) + "); resume with the options of the "
                         "original run (only --epochs, --patience, --device, --threads and "
                         "the output paths may change)")


def run_training(opts: TrainOptions) -> dict[str, Any]:
    """Train, checkpoint every epoch, save the best model.

    Returns:
        The summary the command prints: ``out``, ``sha256``, ``arch``, ``best_epoch``,
        ``epochs_run``, ``stopped_early``, ``val_loss``, ``val_acc``, ``val_auc``,
        ``seconds``, ``metrics_log``, ``checkpoint``.

    Raises:
        InputError: Bad options, missing output folders, or a checkpoint made with other
            options.
        DatasetError: A set that is not 2-class or whose samples are too small.
    """
    _check_options(opts)
    settings_file = load_settings(opts.config)
    gains = tuple(opts.gains or settings_file.science.gains)
    opts = replace(opts, gains=gains)
    set_threads(opts.threads)
    device = resolve_device(opts.device)
    out = Path(opts.out)
    metrics_path = Path(opts.metrics_log) if opts.metrics_log else out.with_suffix(
        ".metrics.jsonl")
    ckpt_path = Path(opts.checkpoint) if opts.checkpoint else out.with_suffix(".ckpt")
    for p in (out, metrics_path, ckpt_path):
        if not p.parent.is_dir():
            raise InputError(f"output folder {str(p.parent)!r} (for {p}) does not exist")

    train_dirs = _directories(opts.data, "--data")
    val_dirs = _directories(opts.val, "--val")
    train_sets = [_load(d, "training") for d in train_dirs]
    val_sets = [_load(d, "validation") for d in val_dirs]
    train_parts = [(t.x, t.y) for t in train_sets]
    if opts.limit is not None:
        train_parts = _limited(train_parts, opts.limit)
    x_val = np.concatenate([v.x if v.x.shape[1:] == (PATCH_SIZE, PATCH_SIZE)
                            else centre_crop(v.x, PATCH_SIZE) for v in val_sets])
    y_val = np.concatenate([v.y for v in val_sets])

    torch.manual_seed(opts.seed)
    init = load_model(opts.init) if opts.init else None
    if init is not None:
        if init.arch != opts.arch:
            raise InputError(f"--init {opts.init}: the model is a {init.arch!r} network, "
                             f"--arch asks for {opts.arch!r}")
        if opts.widths is not None or opts.encoding is not None or opts.dropout is not None:
            raise InputError(f"--init {opts.init}: the network's widths, encoding and "
                             "dropout come from the model file; drop --widths, --encoding "
                             "and --dropout")
        model: PatchClassifier = init.model
        model.train()
    else:
        model = build_model(opts.arch, **_model_kwargs(opts))

    def ids(sets: list[Dataset], dirs: list[str]) -> Any:
        out = [_data_id(d, p) for d, p in zip(sets, dirs, strict=True)]
        return out[0] if len(out) == 1 else out

    settings = {
        "arch": opts.arch, "config": model.config(), "seed": opts.seed,
        "batch_size": opts.batch_size, "lr": opts.lr, "weight_decay": opts.weight_decay,
        "gains": list(gains), "fringe_spacing_m": settings_file.science.fringe_spacing_m,
        "train_data": ids(train_sets, train_dirs), "val_data": ids(val_sets, val_dirs),
        "limit": opts.limit, "init": ({"path": init.path, "sha256": init.sha256}
                                      if init is not None else None),
    }
    resume_state: TrainingCheckpoint | None = None
    if opts.resume:
        stored = load_checkpoint(opts.resume)
        _check_resume(settings, {"arch": stored.arch, "config": stored.config,
                                 **stored.settings}, opts.resume)
        resume_state = stored.state
        log.info("resuming %s after epoch %d", opts.resume, resume_state.epoch)

    if all(x.shape[1:] == (PATCH_SIZE, PATCH_SIZE) for x, _ in train_parts):
        train_source: Any = (np.concatenate([x for x, _ in train_parts]),
                             np.concatenate([y for _, y in train_parts]))
    else:
        def train_source(epoch: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
            rng = np.random.default_rng([opts.seed, epoch])
            return (np.concatenate([x if x.shape[1:] == (PATCH_SIZE, PATCH_SIZE)
                                    else random_crops(x, PATCH_SIZE, rng)
                                    for x, _ in train_parts]),
                    np.concatenate([y for _, y in train_parts]))

    bar = tqdm(total=0, unit="batch", file=sys.stderr, disable=not sys.stderr.isatty())
    mode = "a" if resume_state is not None else "w"
    start = time.perf_counter()
    with metrics_path.open(mode) as metrics:
        def progress(p: TrainingProgress) -> None:
            if p.step == 1 and p.record is None:
                bar.reset(total=p.n_steps)
                bar.set_description(f"epoch {p.epoch}/{opts.epochs}")
            if p.record is None:
                bar.update(1)
                bar.set_postfix(loss=f"{p.train_loss:.4f}")
                return
            metrics.write(json.dumps(_jsonable(p.record)) + "\n")
            metrics.flush()
            log.info("epoch %d: train loss %.4f, val loss %.4f, acc %.3f, AUC %.3f",
                     p.record.epoch, p.record.train_loss, p.record.val_loss,
                     p.record.val_acc, p.record.val_auc)

        def checkpoint(state: TrainingCheckpoint) -> None:
            save_checkpoint(ckpt_path, arch=opts.arch, config=model.config(),
                            settings=settings, state=state)

        result = train(
            model, train_source, (x_val, y_val), epochs=opts.epochs,
            batch_size=opts.batch_size, lr=opts.lr, weight_decay=opts.weight_decay,
            device=device, seed=opts.seed, patience=opts.patience or None, gains=gains,
            fringe_spacing_m=settings_file.science.fringe_spacing_m, progress=progress,
            checkpoint=checkpoint, resume=resume_state,
        )
    bar.close()
    best = result.history[result.best_epoch - 1]
    meta = {
        "code_version": __version__,
        "torch_version": str(torch.__version__),
        "command": _command_line(opts),
        "train_data": settings["train_data"],
        "val_data": settings["val_data"],
        "training": {"epochs": opts.epochs, "batch_size": opts.batch_size, "lr": opts.lr,
                     "weight_decay": opts.weight_decay, "patience": opts.patience,
                     "gains": list(gains), "seed": opts.seed, "device": device,
                     "fringe_spacing_m": settings["fringe_spacing_m"],
                     "limit": opts.limit, "augmentation": "random gain, offset, flip, turn"},
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "validation": _jsonable(best),
        "history": [_jsonable(r) for r in result.history],
        "train_seconds": float(sum(r.seconds for r in result.history)),
        "resumed_from": str(opts.resume) if opts.resume else None,
        "init": settings["init"],
    }
    sha = save_model(out, model, meta)
    return {
        "out": str(out), "sha256": sha, "arch": opts.arch, "best_epoch": result.best_epoch,
        "epochs_run": len(result.history), "stopped_early": result.stopped_early,
        "val_loss": best.val_loss, "val_acc": best.val_acc,
        "val_auc": None if math.isnan(best.val_auc) else best.val_auc,
        "seconds": round(time.perf_counter() - start, 3), "metrics_log": str(metrics_path),
        "checkpoint": str(ckpt_path),
    }

"""``insar-monitor train``: train a detector network on synthetic datasets.

Reads a training and a validation set written by ``insar-monitor synth dataset`` (2-class:
label 0 = S+T, 1 = D+S+T; unwrapped LOS metres), trains with
:func:`monitor.science.detect.training.train` (Adam, cross-entropy, re-wrap augmentation
at the ``--gains``, early stopping on the validation loss) and saves the best epoch's
weights with their provenance. Samples larger than 224 x 224 are cropped: training samples
at a random place drawn afresh every epoch, validation samples at the centre.

After every epoch one JSON line goes to the metrics log and a checkpoint (weights,
optimiser, generators, history) is written atomically, by default beside ``--out``. A run
that was killed continues with ``--resume CHECKPOINT`` and the same options (``--epochs``,
``--patience``, ``--device``, ``--threads`` and the output paths may change), giving the
same weights as an uninterrupted run on the same device.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from monitor import __version__
from monitor.cli.detector_options import gains_arg, ints_arg, resolve_device, set_threads
from monitor.config import load_settings
from monitor.errors import DatasetError, InputError
from monitor.io.checkpoints import load_checkpoint, save_checkpoint
from monitor.io.datasets import Dataset, load_dataset
from monitor.io.models import save_model
from monitor.science.detect.base import PATCH_SIZE, PatchClassifier
from monitor.science.detect.registry import ARCHITECTURES, build_model
from monitor.science.detect.training import (
    EpochRecord,
    TrainingCheckpoint,
    TrainingProgress,
    train,
)
from monitor.science.windows import centre_crop

log = logging.getLogger(__name__)

#: Options that must match between a checkpoint and the command that resumes it.
RESUME_KEYS = ("arch", "config", "seed", "batch_size", "lr", "weight_decay", "gains",
               "fringe_spacing_m", "train_data", "val_data", "limit")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train", help="train a detector network on synthetic datasets",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="training dataset directory")
    parser.add_argument("--val", required=True, help="validation dataset directory")
    parser.add_argument("--arch", default="compact", choices=sorted(ARCHITECTURES))
    parser.add_argument("--widths", type=ints_arg, default=None,
                        help="layer widths: compact w1,w2,w3,w4 (default 16,32,48,96); "
                             "alexnet c1,c2,c3,c4,c5,fc (default torchvision's)")
    parser.add_argument("--encoding", default=None, choices=["gray", "cos_sin_mask"],
                        help="input encoding (default: the architecture's)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="dropout probability (default: the architecture's)")
    parser.add_argument("--epochs", type=int, default=50, help="maximum epochs (50)")
    parser.add_argument("--batch-size", type=int, default=32, help="patches per step (32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay")
    parser.add_argument("--patience", type=int, default=6,
                        help="epochs without a lower validation loss before stopping (6); "
                             "0 = never stop early")
    parser.add_argument("--gains", type=gains_arg, default=None,
                        help="wrap gains drawn for augmentation (default science.gains: "
                             "1,2,4,8)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training samples")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of initialisation, shuffling, augmentation, crops (0)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default="model.pt", help="model file to write (model.pt)")
    parser.add_argument("--metrics-log", default=None,
                        help="JSON-lines metrics per epoch (default OUT with .metrics.jsonl)")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint written every epoch (default OUT with .ckpt)")
    parser.add_argument("--resume", default=None, metavar="CHECKPOINT",
                        help="continue the run saved in this checkpoint")
    parser.add_argument("--config", help="TOML configuration (science section)")
    parser.set_defaults(func=run)


def _model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if args.widths is not None:
        if args.arch == "compact":
            if len(args.widths) != 4:
                raise InputError(f"--widths for compact takes 4 integers w1,w2,w3,w4, got "
                                 f"{','.join(map(str, args.widths))}")
            kwargs["widths"] = tuple(args.widths)
        else:
            if len(args.widths) != 6:
                raise InputError(f"--widths for alexnet takes 6 integers c1,...,c5,fc, got "
                                 f"{','.join(map(str, args.widths))}")
            kwargs["conv_widths"] = tuple(args.widths[:5])
            kwargs["fc_width"] = args.widths[5]
    if args.encoding is not None:
        kwargs["encoding"] = args.encoding
    if args.dropout is not None:
        kwargs["dropout"] = args.dropout
    return kwargs


def _check_options(args: argparse.Namespace) -> None:
    for name in ("epochs", "batch_size"):
        value = getattr(args, name)
        if value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.patience < 0:
        raise InputError(f"--patience must be >= 0 (0 = never stop early), got {args.patience}")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise InputError(f"--lr must be a positive number, got {args.lr}")
    if args.limit is not None and args.limit < 2:
        raise InputError(f"--limit must be at least 2 samples, got {args.limit}")


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


def random_crops(x: NDArray[np.float32], size: int,
                 rng: np.random.Generator) -> NDArray[np.float32]:
    """One ``size`` x ``size`` window per sample at a uniformly random place."""
    n, ny, nx = x.shape
    rows = rng.integers(0, ny - size + 1, size=n)
    cols = rng.integers(0, nx - size + 1, size=n)
    out = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        out[i] = x[i, rows[i]:rows[i] + size, cols[i]:cols[i] + size]
    return out


def _data_id(data: Dataset, directory: str) -> dict[str, Any]:
    m = data.manifest
    return {"path": str(Path(directory).resolve()), "n": int(m["n"]), "seed": m.get("seed"),
            "scheme": m.get("scheme"), "shape": list(data.x.shape[1:]),
            "recipe": m.get("recipe"), "dem_pool": m.get("dem_pool"),
            "code_version": m.get("code_version")}


def _command_line(args: argparse.Namespace) -> str:
    parts = ["insar-monitor", "train", "--data", args.data, "--val", args.val,
             "--arch", args.arch]
    optional = (("--widths", args.widths), ("--encoding", args.encoding),
                ("--dropout", args.dropout), ("--limit", args.limit))
    for flag, value in optional:
        if value is not None:
            parts += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    parts += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
              "--lr", repr(args.lr), "--weight-decay", repr(args.weight_decay),
              "--patience", str(args.patience), "--gains",
              ",".join(f"{g:g}" for g in args.gains), "--seed", str(args.seed),
              "--out", args.out]
    return shlex.join(parts)


def _jsonable(record: EpochRecord) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(record).items()}


def _check_resume(settings: dict[str, Any], stored: dict[str, Any], path: str) -> None:
    comparable = {k: settings[k] for k in RESUME_KEYS}
    for key in ("train_data", "val_data"):
        comparable[key] = {k: settings[key][k] for k in ("n", "seed", "scheme", "shape")}
    differing = []
    for key, value in comparable.items():
        old = stored.get(key)
        if key in ("train_data", "val_data") and isinstance(old, dict):
            old = {k: old.get(k) for k in ("n", "seed", "scheme", "shape")}
        if json.loads(json.dumps(old)) != json.loads(json.dumps(value)):
            differing.append(f"{key}: checkpoint {old!r}, now {value!r}")
    if differing:
        raise InputError(f"--resume {path}: the checkpoint was made with other options ("
                         + "; ".join(differing) + "); resume with the options of the "
                         "original run (only --epochs, --patience, --device, --threads and "
                         "the output paths may change)")


def run(args: argparse.Namespace) -> int:
    """Train, checkpoint every epoch, save the best model; print a JSON summary."""
    _check_options(args)
    settings_file = load_settings(args.config)
    args.gains = tuple(args.gains or settings_file.science.gains)
    set_threads(args.threads)
    device = resolve_device(args.device)
    out = Path(args.out)
    metrics_path = Path(args.metrics_log) if args.metrics_log else out.with_suffix(
        ".metrics.jsonl")
    ckpt_path = Path(args.checkpoint) if args.checkpoint else out.with_suffix(".ckpt")
    for p in (out, metrics_path, ckpt_path):
        if not p.parent.is_dir():
            raise InputError(f"output folder {str(p.parent)!r} (for {p}) does not exist")

    train_set, val_set = _load(args.data, "training"), _load(args.val, "validation")
    x_train, y_train = train_set.x, train_set.y
    if args.limit is not None:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_val = val_set.x
    if x_val.shape[1:] != (PATCH_SIZE, PATCH_SIZE):
        x_val = centre_crop(x_val, PATCH_SIZE)

    torch.manual_seed(args.seed)
    model: PatchClassifier = build_model(args.arch, **_model_kwargs(args))
    settings = {
        "arch": args.arch, "config": model.config(), "seed": args.seed,
        "batch_size": args.batch_size, "lr": args.lr, "weight_decay": args.weight_decay,
        "gains": list(args.gains), "fringe_spacing_m": settings_file.science.fringe_spacing_m,
        "train_data": _data_id(train_set, args.data), "val_data": _data_id(val_set, args.val),
        "limit": args.limit,
    }
    resume_state: TrainingCheckpoint | None = None
    if args.resume:
        stored = load_checkpoint(args.resume)
        _check_resume(settings, {"arch": stored.arch, "config": stored.config,
                                 **stored.settings}, args.resume)
        resume_state = stored.state
        log.info("resuming %s after epoch %d", args.resume, resume_state.epoch)

    if x_train.shape[1:] == (PATCH_SIZE, PATCH_SIZE):
        train_source: Any = (x_train, y_train)
    else:
        def train_source(epoch: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
            rng = np.random.default_rng([args.seed, epoch])
            return random_crops(x_train, PATCH_SIZE, rng), y_train

    bar = tqdm(total=0, unit="batch", file=sys.stderr, disable=not sys.stderr.isatty())
    mode = "a" if resume_state is not None else "w"
    start = time.perf_counter()
    with metrics_path.open(mode) as metrics:
        def progress(p: TrainingProgress) -> None:
            if p.step == 1 and p.record is None:
                bar.reset(total=p.n_steps)
                bar.set_description(f"epoch {p.epoch}/{args.epochs}")
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
            save_checkpoint(ckpt_path, arch=args.arch, config=model.config(),
                            settings=settings, state=state)

        result = train(
            model, train_source, (x_val, val_set.y), epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
            device=device, seed=args.seed, patience=args.patience or None, gains=args.gains,
            fringe_spacing_m=settings_file.science.fringe_spacing_m, progress=progress,
            checkpoint=checkpoint, resume=resume_state,
        )
    bar.close()
    best = result.history[result.best_epoch - 1]
    meta = {
        "code_version": __version__,
        "torch_version": str(torch.__version__),
        "command": _command_line(args),
        "train_data": settings["train_data"],
        "val_data": settings["val_data"],
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                     "weight_decay": args.weight_decay, "patience": args.patience,
                     "gains": list(args.gains), "seed": args.seed, "device": device,
                     "fringe_spacing_m": settings["fringe_spacing_m"],
                     "limit": args.limit, "augmentation": "random gain, offset, flip, turn"},
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "validation": _jsonable(best),
        "history": [_jsonable(r) for r in result.history],
        "train_seconds": float(sum(r.seconds for r in result.history)),
        "resumed_from": str(args.resume) if args.resume else None,
    }
    sha = save_model(out, model, meta)
    print(json.dumps({
        "out": str(out), "sha256": sha, "arch": args.arch, "best_epoch": result.best_epoch,
        "epochs_run": len(result.history), "stopped_early": result.stopped_early,
        "val_loss": best.val_loss, "val_acc": best.val_acc,
        "val_auc": None if math.isnan(best.val_auc) else best.val_auc,
        "seconds": round(time.perf_counter() - start, 3), "metrics_log": str(metrics_path),
        "checkpoint": str(ckpt_path),
    }))
    return 0

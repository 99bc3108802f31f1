"""What every evaluation shares: its options, the models scored side by side, the setup.

The options mirror the command's flags (``insar-monitor evaluate ... --help`` gives their
units and defaults); the command fills them from its arguments by field name.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from monitor.compute_device import resolve_device, set_threads
from monitor.config import Settings, load_settings
from monitor.errors import InputError
from monitor.io.models import LoadedModel, load_detector
from monitor.science.detect.patching import PatchConfig


@dataclass(frozen=True, kw_only=True)
class DetectorOptions:
    """The detectors an ``evaluate`` run scores with, and how.

    Attributes:
        model: Model files to evaluate.
        compare: More model files, side by side (scored after ``model``).
        arch: Without a model file: the packaged weights of this architecture.
        gains: Wrap gains; None for ``science.gains``.
        method: Inference path.
        coverage: Patch padding rule.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: Torch CPU threads, or None.
        config: TOML configuration file, or None for the embedded defaults.
    """

    model: tuple[str, ...] | list[str]
    compare: tuple[str, ...] | list[str]
    arch: str | None
    gains: tuple[float, ...] | None
    method: str
    coverage: str
    device: str
    threads: int | None
    config: str | None


@dataclass(frozen=True, kw_only=True)
class EvaluationOptions(DetectorOptions):
    """Options shared by ``evaluate threshold``, ``roc`` and ``atmosphere`` (and the
    detector options of :class:`DetectorOptions`).

    Attributes:
        out: Output directory of the reports.
        seed: Seed of the random fields.
        size: Grid side, pixels.
        pixel_m: Pixel spacing, metres.
    """

    out: str
    seed: int
    size: int
    pixel_m: float


#: Models with their report labels (file stems, made unique).
Models = list[tuple[str, LoadedModel]]


def labelled_models(opts: DetectorOptions, device: str) -> Models:
    """Load every model of ``opts`` (or the packaged weights) with a unique label."""
    paths = list(opts.model) + list(opts.compare)
    loaded = [load_detector(p, opts.arch, device) for p in paths] if paths \
        else [load_detector(None, opts.arch, device)]
    out: Models = []
    used: set[str] = set()
    for m in loaded:
        label = Path(m.path).stem
        k = 2
        while label in used:
            label = f"{Path(m.path).stem}-{k}"
            k += 1
        used.add(label)
        out.append((label, m))
    return out


def check_common(opts: EvaluationOptions) -> None:
    """Refuse a grid smaller than 8 pixels or a pixel spacing that is not positive."""
    if opts.size < 8:
        raise InputError(f"--size must be at least 8 pixels, got {opts.size}")
    if not (opts.pixel_m > 0 and math.isfinite(opts.pixel_m)):
        raise InputError(f"--pixel-m must be a positive number of metres, got {opts.pixel_m}")


def model_header(label: str, m: LoadedModel, seconds: float) -> dict[str, Any]:
    """A model's identity and provenance in a report."""
    return {"label": label, "path": m.path, "arch": m.arch, "sha256": m.sha256,
            "config": m.config, "seconds": seconds,
            "trained": {k: m.meta.get(k) for k in ("command", "best_epoch", "validation")}}


def progress(items: Iterable[Any], total: int, what: str) -> Iterable[Any]:
    """``items`` with a progress bar on stderr when it is a terminal."""
    return tqdm(items, total=total, unit=what, file=sys.stderr,
                disable=not sys.stderr.isatty())


def setup(opts: EvaluationOptions) -> tuple[Models, tuple[float, ...], PatchConfig,
                                            Settings, Path]:
    """Check the options, load the settings and models, make the output directory.

    Returns:
        The labelled models, the gains, the patch settings, the settings and the output
        directory.
    """
    check_common(opts)
    settings = load_settings(opts.config)
    gains = tuple(opts.gains or settings.science.gains)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(opts.threads)
    models = labelled_models(opts, resolve_device(opts.device))
    return models, gains, PatchConfig(coverage=opts.coverage), settings, out

"""Detector model files: save, load (safely) and hash.

A model file is ``torch.save`` of a plain dictionary::

    {"format": 1,
     "arch": "compact",                      # registry name
     "config": {"widths": (16, 32, 48, 96), "encoding": "cos_sin_mask", ...},
     "state_dict": {name: tensor, ...},
     "meta": {...}}                          # provenance: data recipe, seed, epochs, figures

It is loaded with ``torch.load(weights_only=True)``, which refuses arbitrary pickled code,
so ``config`` and ``meta`` may only hold str, int, float, bool, None, lists, tuples and
dicts with string keys. Every failure is a :class:`~monitor.errors.ModelError` naming the
file. :func:`model_sha256` gives the hash recorded as provenance with every score.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import torch

from monitor.errors import InputError, ModelError
from monitor.io.atomic import atomic_write
from monitor.science.detect.base import PatchClassifier
from monitor.science.detect.blocks import BLOCK_ARCH, BlockCalibration, BlockNet
from monitor.science.detect.calibration import Calibration
from monitor.science.detect.gated_blocks import block_network
from monitor.science.detect.names import DEFAULT_ARCH as DEFAULT_ARCH
from monitor.science.detect.registry import ARCHITECTURES, build_model

FORMAT_VERSION = 1
_PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network read from a model file, in eval mode.

    Attributes:
        model: The network.
        arch: Its registry name.
        config: Its configuration (as stored).
        meta: Provenance stored with it.
        sha256: Hex digest of the file.
        path: The file it came from.
    """

    model: PatchClassifier
    arch: str
    config: dict[str, Any]
    meta: dict[str, Any]
    sha256: str
    path: str

    @property
    def calibration(self) -> Calibration | None:
        """The calibration stored in ``meta["calibration"]`` (Platt scaling per gain and
        the noise rule of :mod:`monitor.science.detect.calibration`), or None for a model
        trained before calibration existed (raw fusion of every gain).

        Raises:
            ModelError: a calibration record that cannot be read.
        """
        record = self.meta.get("calibration")
        if record is None:
            return None
        if not isinstance(record, dict):
            raise ModelError(f"model file {self.path!r}: meta['calibration'] is not a record")
        try:
            return Calibration.from_meta(record, f"model file {self.path!r}")
        except InputError as exc:
            raise ModelError(str(exc)) from None


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(f"{where} has a non-string key {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise InputError(
        f"{where} holds a {type(value).__name__}; model files only keep str, int, float, "
        f"bool, None, lists, tuples and dicts"
    )


def model_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a model file (provenance of every score)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"cannot read model file {os.fspath(path)!r}: {exc}") from exc
    return digest.hexdigest()


def save_model(
    path: str | os.PathLike[str], model: PatchClassifier | BlockNet,
    meta: dict[str, Any] | None = None
) -> str:
    """Write a model file atomically (temporary file, then rename); return its SHA-256.

    Args:
        path: Destination file (conventionally ``*.pt``); its folder must exist.
        model: The network to store (its weights are copied to CPU): a patch classifier
            or the block network (:mod:`monitor.science.detect.blocks`).
        meta: Provenance (plain values only, see the module docstring).

    Raises:
        InputError: ``meta`` or the configuration holds values a safe load cannot read.
        ModelError: The file cannot be written.
    """
    config = model.config()
    _check_plain(config, "config")
    _check_plain(meta or {}, "meta")
    payload = {
        "format": FORMAT_VERSION,
        "arch": model.arch,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    target = Path(path)
    try:
        with atomic_write(target) as fh:
            torch.save(payload, fh)
    except OSError as exc:
        raise ModelError(f"cannot write model file {os.fspath(path)!r}: {exc}") from exc
    return model_sha256(target)


def load_model(path: str | os.PathLike[str], map_location: str = "cpu") -> LoadedModel:
    """Read a model file safely and rebuild its network (eval mode).

    Args:
        path: The model file.
        map_location: Device for the weights (``"cpu"``, ``"cuda"``).

    Raises:
        ModelError: The file is missing, unreadable, corrupt, not a model file of this
            format, names an unknown architecture or configuration, or its weights do
            not match the architecture.
    """
    name = os.fspath(path)
    if not Path(name).is_file():
        raise ModelError(f"model file {name!r} does not exist (or is not a file)")
    return _patch_model(_payload(name, name, map_location), name, model_sha256(name),
                        map_location)


def load_model_bytes(data: bytes, source: str, map_location: str = "cpu") -> LoadedModel:
    """A model file's bytes, read as :func:`load_model` reads the file (the executors ship
    them to worker processes that may not see the file, ``monitor.service.executors``).

    Args:
        data: The file's content.
        source: The file it came from (named in errors, kept as ``path``).
        map_location: Device for the weights.

    Raises:
        ModelError: as :func:`load_model`.
    """
    return _patch_model(_payload(io.BytesIO(data), source, map_location), source,
                        hashlib.sha256(data).hexdigest(), map_location)


def _payload(where: str | io.BytesIO, name: str, map_location: str
             ) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A model file's architecture, configuration, weights and provenance, checked."""
    try:
        payload = torch.load(where, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile,
            AttributeError, TypeError, OSError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if detail.startswith("Weights only load failed"):
            detail = "it holds objects that a safe (weights-only) load refuses"
        raise ModelError(
            f"model file {name!r} is corrupt, truncated or not a torch model file "
            f"({detail}); re-download or re-train it"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise ModelError(
            f"model file {name!r} is not an insar-monitor model file of format "
            f"{FORMAT_VERSION} (expected a dict with arch, config, state_dict, meta)"
        )
    arch, config = payload.get("arch"), payload.get("config")
    state, meta = payload.get("state_dict"), payload.get("meta", {})
    if not (isinstance(arch, str) and isinstance(config, dict) and isinstance(state, dict)
            and isinstance(meta, dict)):
        raise ModelError(
            f"model file {name!r} lacks a valid 'arch' (str), 'config' (dict), "
            f"'state_dict' (dict) or 'meta' (dict)"
        )
    return arch, config, state, meta


def _patch_model(payload: tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]],
                 name: str, sha256: str, map_location: str) -> LoadedModel:
    arch, config, state, meta = payload
    if arch == BLOCK_ARCH:
        raise ModelError(f"model file {name!r} holds the block detector, not a patch "
                         "network: give it to `scan --detector blocks`, `evaluate real "
                         "--blocks`, or the watch's --model")
    try:
        model = build_model(arch, **config)
    except InputError as exc:
        raise ModelError(f"model file {name!r}: {exc}") from exc
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(
            f"model file {name!r}: weights do not match architecture {arch!r} with config "
            f"{config}: {exc}"
        ) from exc
    model.to(map_location)
    model.eval()
    return LoadedModel(model, arch, config, meta, sha256, name)


def packaged_weights(arch: str) -> Traversable:
    """Where the package ships the trained weights of ``arch`` (a CNN architecture or
    the block detector's :data:`BLOCK_ARCH`; the file may not exist)."""
    if arch not in ARCHITECTURES and arch != BLOCK_ARCH:
        raise InputError(f"--arch must be one of {', '.join(sorted(ARCHITECTURES))}, "
                         f"got {arch!r}")
    return resources.files("monitor.science.detect").joinpath("weights", f"{arch}.pt")


def load_detector(path: str | None, arch: str | None, device: str = "cpu") -> LoadedModel:
    """Load the detector to score with.

    Args:
        path: A model file, or None for the packaged weights of ``arch``.
        arch: Architecture expected (checked against the file when ``path`` is given);
            None means ``compact`` for the packaged weights and no check otherwise.
        device: Where to put the network.

    Raises:
        ModelError: The file (or the packaged weights) is missing, corrupt, or holds
            another architecture than ``arch``.
    """
    if path is None:
        name = arch or DEFAULT_ARCH
        res = packaged_weights(name)
        if not res.is_file():
            raise ModelError(
                f"no packaged {name!r} detector weights at {res}: they have not been "
                f"trained and shipped yet; train a model with `insar-monitor train --arch "
                f"{name} --out MODEL.pt` and pass --model MODEL.pt"
            )
        with resources.as_file(res) as real:
            loaded = load_model(real, map_location=device)
    else:
        loaded = load_model(path, map_location=device)
    if arch is not None and loaded.arch != arch:
        raise ModelError(f"model file {loaded.path!r} holds a {loaded.arch!r} network, "
                         f"but --arch {arch} was given")
    return loaded


@dataclass(frozen=True, eq=False)
class LoadedBlockModel:
    """The block network read from a model file (eval mode), with its calibration.

    Attributes:
        model: The network (:class:`~monitor.science.detect.blocks.BlockNet`; a
            :class:`~monitor.science.detect.gated_blocks.GatedBlockNet` where the file
            holds a gap network too).
        calibration: ``meta["calibration"]`` read.
        meta: Provenance stored with it.
        sha256: Hex digest of the file.
        path: The file it came from.
    """

    model: BlockNet
    calibration: BlockCalibration
    meta: dict[str, Any]
    sha256: str
    path: str

    @property
    def arch(self) -> str:
        """Its registry name (``"blocks"``), as :attr:`LoadedModel.arch` is a CNN's."""
        return BLOCK_ARCH


#: A detector the watch scores with: a patch network or the block detector.
ScoringModel = LoadedModel | LoadedBlockModel


def load_block_model(path: str | os.PathLike[str] | None = None,
                     map_location: str = "cpu") -> LoadedBlockModel:
    """Read a block-detector model file (None: the packaged one) safely.

    Raises:
        ModelError: the file is missing, corrupt, holds another network, lacks a
            calibration, or its weights do not match.
    """
    if path is None:
        res = packaged_weights(BLOCK_ARCH)
        if not res.is_file():
            raise ModelError(f"no packaged block detector at {res}: train one with "
                             "`insar-monitor train-blocks` and pass its file")
        with resources.as_file(res) as real:
            return load_block_model(real, map_location)
    name = os.fspath(path)
    if not Path(name).is_file():
        raise ModelError(f"model file {name!r} does not exist (or is not a file)")
    return _block_model(_payload(name, name, map_location), name, model_sha256(name),
                        map_location)


def _block_model(payload: tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]],
                 name: str, sha256: str, map_location: str) -> LoadedBlockModel:
    arch, config, state, meta = payload
    if arch != BLOCK_ARCH:
        raise ModelError(f"model file {name!r} holds a {arch!r} network, not the block "
                         "detector")
    try:
        model = block_network(config)
        model.load_state_dict(state)
    except (InputError, RuntimeError, TypeError) as exc:
        raise ModelError(f"model file {name!r}: weights or configuration {config} do not "
                         f"make a block network: {exc}") from exc
    record = meta.get("calibration")
    if record is None:
        raise ModelError(f"model file {name!r}: the block network has no calibration "
                         "(meta['calibration']); it cannot say what P = 0.5 means")
    try:
        calibration = BlockCalibration.from_meta(record, f"model file {name!r}")
    except InputError as exc:
        raise ModelError(str(exc)) from None
    model.to(map_location)
    model.eval()
    return LoadedBlockModel(model, calibration, meta, sha256, name)


def load_scoring_model_bytes(data: bytes, source: str, map_location: str = "cpu"
                             ) -> ScoringModel:
    """A model file's bytes, of either kind (the watch's workers; see
    :func:`load_model_bytes`).

    Raises:
        ModelError: as :func:`load_model` and :func:`load_block_model`.
    """
    payload = _payload(io.BytesIO(data), source, map_location)
    sha256 = hashlib.sha256(data).hexdigest()
    if payload[0] == BLOCK_ARCH:
        return _block_model(payload, source, sha256, map_location)
    return _patch_model(payload, source, sha256, map_location)


def load_scoring_model(path: str | None, arch: str | None, detector: str = "cnn",
                       device: str = "cpu") -> ScoringModel:
    """The detector the watch scores with.

    Args:
        path: A model file of either kind (the block detector's or a CNN's), or None for
            the packaged weights of ``detector``.
        arch: A CNN architecture (``--arch``): picks the packaged CNN of that
            architecture whatever ``detector`` says (the command line over the
            configuration), or is checked against a CNN file.
        detector: ``"cnn"`` or ``"blocks"`` (``[science] detector``): which packaged
            detector when neither ``path`` nor ``arch`` says.
        device: Where to put the network.

    Raises:
        ModelError: the file is missing or corrupt, or not of the kind asked for.
        InputError: an unknown ``detector``.
    """
    if detector not in ("cnn", BLOCK_ARCH):
        raise InputError(f"detector must be 'cnn' or {BLOCK_ARCH!r}, got {detector!r}")
    if path is None:
        if detector == BLOCK_ARCH and arch is None:
            return load_block_model(None, device)
        return load_detector(None, arch, device)
    name = os.fspath(path)
    if not Path(name).is_file():
        raise ModelError(f"model file {name!r} does not exist (or is not a file)")
    data = Path(name).read_bytes()
    loaded = load_scoring_model_bytes(data, name, device)
    if arch is not None and loaded.arch != arch:
        raise ModelError(f"model file {name!r} holds a {loaded.arch!r} network, but --arch "
                         f"{arch} was given")
    return loaded

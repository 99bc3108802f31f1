"""Labelled synthetic datasets on disk: ``.npz`` shards plus a JSON manifest.

Layout of a dataset directory::

    manifest.json           scheme, classes, recipe, seed, shard list with sha256 and counts
    shard-00000.npz         x (n, ny, nx) float32 LOS metres, NaN = incoherent (unwrapped)
                            y (n,) int64 class index; index (n,) int64 sample index
                            meta (n,) JSON strings with the drawn parameters

Samples are stored unwrapped so that training can re-wrap them at any gain (Anantrasirichai
et al. 2019b). Sample ``i`` is drawn from its own generator
(:func:`monitor.science.synth.sample_rng`), so a dataset is the same whatever the number of
worker processes, and writing it again with the same seed gives byte-identical arrays.
Shards already present with the right checksum are kept, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor import __version__
from monitor.errors import DatasetError, InputError
from monitor.science.semireal import NoiseEpoch, SemiRealRecipe, check_bank, spans
from monitor.science.semireal import dataset_sample as semireal_dataset_sample
from monitor.science.synth import CLASS_NAMES, SynthRecipe, dataset_sample, scheme_classes

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Dataset:
    """A dataset loaded in memory."""

    x: NDArray[np.float32]
    y: NDArray[np.int64]
    meta: list[dict[str, Any]]
    manifest: dict[str, Any]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _make_shard(args: tuple[Path, int, int, int, SynthRecipe, str,
                            Sequence[NDArray[np.floating]] | None]) -> dict[str, Any]:
    path, seed, start, stop, recipe, scheme, dem_pool = args
    ny, nx = recipe.shape
    n = stop - start
    x = np.empty((n, ny, nx), np.float32)
    y = np.empty(n, np.int64)
    meta = []
    for k, i in enumerate(range(start, stop)):
        s = dataset_sample(seed, i, recipe, scheme, dem_pool)
        x[k] = s.x
        y[k] = s.label
        meta.append(json.dumps(s.meta, sort_keys=True, default=float))
    return _save_shard(path, start, x, y, meta)


def write_dataset(
    out_dir: str | Path,
    *,
    n: int,
    scheme: str = "2class",
    recipe: SynthRecipe | None = None,
    seed: int = 0,
    shard_size: int = 500,
    workers: int = 1,
    dem_pool: Sequence[NDArray[np.floating]] | None = None,
    dem_pool_names: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Draw ``n`` labelled samples and write them as shards plus a manifest.

    Args:
        out_dir: Directory (created; an existing dataset with a different recipe is an
            error, one with the same recipe is resumed).
        n: Number of samples (classes cycle, so the set is balanced).
        scheme: Class scheme (see :data:`monitor.science.synth.SCHEMES`).
        recipe: Generator parameters.
        seed: Dataset seed.
        shard_size: Samples per shard.
        workers: Processes drawing shards in parallel.
        dem_pool: Optional DEMs (metres, at the recipe's pixel size) for the stratified
            delay, e.g. resampled real SRTM crops; None draws synthetic edifices.
        dem_pool_names: Names of the pool DEMs, recorded in the manifest.
        progress: Called with (samples done, total) after each shard.

    Returns:
        The manifest written.
    """
    if n < 1:
        raise InputError(f"dataset: n must be at least 1, got {n}")
    if shard_size < 1:
        raise InputError(f"dataset: shard_size must be at least 1, got {shard_size}")
    if workers < 1:
        raise InputError(f"dataset: workers must be at least 1, got {workers}")
    recipe = recipe or SynthRecipe()
    scheme_classes(scheme)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = {
        "format_version": FORMAT_VERSION,
        "scheme": scheme,
        "classes": list(CLASS_NAMES[scheme]),
        "n": n,
        "seed": seed,
        "shard_size": shard_size,
        "recipe": json.loads(json.dumps(asdict(recipe), default=list)),
        "dem_pool": list(dem_pool_names) if dem_pool is not None else "synthetic",
        "units": "x: unwrapped LOS displacement, metres, float32, NaN = incoherent",
        "code_version": __version__,
    }
    shards, pending = _plan(out, header, n, shard_size)
    jobs = [(path, seed, start, stop, recipe, scheme, dem_pool)
            for path, start, stop in pending]
    total_done = sum(s["count"] for s in shards)
    if jobs:
        log.info("drawing %d samples in %d shards with %d workers", n - total_done,
                 len(jobs), workers)
        if workers == 1:
            results = (_make_shard(j) for j in jobs)
            for r in results:
                shards.append(r)
                total_done += r["count"]
                if progress:
                    progress(total_done, n)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for r in pool.map(_make_shard, jobs):
                    shards.append(r)
                    total_done += r["count"]
                    if progress:
                        progress(total_done, n)
    return _finish(out, header, shards)


def _plan(out: Path, header: dict[str, Any], n: int, shard_size: int
          ) -> tuple[list[dict[str, Any]], list[tuple[Path, int, int]]]:
    """Shards already written with the right checksum, and ``(path, start, stop)`` of the
    rest; an error when ``out`` holds a dataset of another header."""
    manifest_path = out / MANIFEST
    done: dict[str, dict[str, Any]] = {}
    if manifest_path.exists():
        old = _read_manifest(out)
        if {k: old.get(k) for k in header if k != "code_version"} != \
                {k: v for k, v in header.items() if k != "code_version"}:
            raise DatasetError(f"{out}: holds a dataset drawn with other parameters; "
                               "choose an empty directory")
        done = {s["file"]: s for s in old.get("shards", [])}
    shards: list[dict[str, Any]] = []
    pending: list[tuple[Path, int, int]] = []
    for k, start in enumerate(range(0, n, shard_size)):
        stop = min(start + shard_size, n)
        path = out / f"shard-{k:05d}.npz"
        prev = done.get(path.name)
        if prev and path.exists() and prev["count"] == stop - start \
                and _sha256(path) == prev["sha256"]:
            shards.append(prev)
            continue
        pending.append((path, start, stop))
    return shards, pending


def _save_shard(path: Path, start: int, x: NDArray[np.float32], y: NDArray[np.int64],
                meta: list[str]) -> dict[str, Any]:
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(tmp, x=x, y=y, index=np.arange(start, start + len(y), dtype=np.int64),
             meta=np.array(meta, dtype=np.str_))
    os.replace(tmp, path)
    return {"file": path.name, "start": start, "count": len(y), "sha256": _sha256(path)}


def _finish(out: Path, header: dict[str, Any], shards: list[dict[str, Any]]
            ) -> dict[str, Any]:
    manifest = dict(header)
    manifest["shards"] = sorted(shards, key=lambda s: s["start"])
    manifest_path = out / MANIFEST
    tmp = manifest_path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, manifest_path)
    return manifest


def write_semireal_dataset(
    out_dir: str | Path,
    *,
    epochs: Sequence[NoiseEpoch],
    n: int,
    recipe: SemiRealRecipe | None = None,
    seed: int = 0,
    source: dict[str, Any] | None = None,
    shard_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Draw ``n`` semi-real 2-class samples (:mod:`monitor.science.semireal`) from a bank
    of real quiet epochs and write them in the format of :func:`write_dataset` (so
    ``insar-monitor train`` reads them alike); an interrupted run resumes.

    Args:
        out_dir: Directory (created; one holding another set is an error).
        epochs: The noise bank, in date order.
        n: Number of samples (classes alternate).
        recipe: What to draw.
        seed: Dataset seed.
        source: Where the bank comes from (archive, frame, years, pairs), recorded in
            the manifest.
        shard_size: Samples per shard.
        progress: Called with (samples done, total) after each shard.
    """
    if n < 1 or shard_size < 1:
        raise InputError(f"dataset: n and shard_size must be at least 1, got {n}, "
                         f"{shard_size}")
    recipe = recipe or SemiRealRecipe()
    check_bank(epochs)
    candidates = spans(epochs, recipe.max_span)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = {
        "format_version": FORMAT_VERSION, "scheme": "2class",
        "classes": list(CLASS_NAMES["2class"]), "n": n, "seed": seed,
        "shard_size": shard_size, "kind": "semi-real",
        "recipe": json.loads(json.dumps(asdict(recipe), default=list)),
        "noise_bank": {**(source or {}), "epochs": len(epochs), "spans": len(candidates),
                       "pairs": [f"{e.date1:%Y%m%d}_{e.date2:%Y%m%d}" for e in epochs]},
        "units": "x: unwrapped LOS displacement, metres, float32, NaN = incoherent",
        "code_version": __version__,
    }
    shards, pending = _plan(out, header, n, shard_size)
    total = sum(s["count"] for s in shards)
    for path, start, stop in pending:
        samples = [semireal_dataset_sample(epochs, candidates, recipe, seed, i)
                   for i in range(start, stop)]
        shards.append(_save_shard(
            path, start, np.stack([s.x for s in samples]),
            np.array([s.label for s in samples], dtype=np.int64),
            [json.dumps(s.meta, sort_keys=True, default=float) for s in samples]))
        total += stop - start
        if progress:
            progress(total, n)
    return _finish(out, header, shards)


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{directory}: no {MANIFEST}; not a dataset directory") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable manifest ({exc})") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version != FORMAT_VERSION:
        raise DatasetError(f"{path}: unknown dataset format {version!r} "
                           f"(expected {FORMAT_VERSION})")
    return manifest


def load_dataset(directory: str | Path, *, verify: bool = True) -> Dataset:
    """Load every shard of a dataset into memory.

    Raises:
        DatasetError: missing manifest or shard, checksum mismatch, inconsistent arrays.
    """
    d = Path(directory)
    manifest = _read_manifest(d)
    xs: list[NDArray[np.float32]] = []
    ys: list[NDArray[np.int64]] = []
    metas: list[dict[str, Any]] = []
    for s in manifest.get("shards", []):
        path = d / s["file"]
        if not path.exists():
            raise DatasetError(f"{path}: shard listed in the manifest is missing")
        if verify and _sha256(path) != s["sha256"]:
            raise DatasetError(f"{path}: checksum does not match the manifest (corrupt or "
                               "changed); delete it and write the dataset again to redraw it")
        try:
            with np.load(path, allow_pickle=False) as z:
                x, y, meta = z["x"], z["y"], z["meta"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{path}: unreadable shard ({exc})") from None
        if x.shape[0] != s["count"] or y.shape != (s["count"],):
            raise DatasetError(f"{path}: holds {x.shape[0]} samples, manifest says {s['count']}")
        xs.append(x)
        ys.append(y)
        metas.extend(json.loads(m) for m in meta)
    if not xs:
        raise DatasetError(f"{d}: the manifest lists no shards")
    x_all = np.concatenate(xs)
    if x_all.shape[0] != manifest["n"]:
        raise DatasetError(f"{d}: shards hold {x_all.shape[0]} samples, manifest says "
                           f"{manifest['n']}; the dataset is incomplete (write it again to "
                           "resume)")
    return Dataset(x_all, np.concatenate(ys), metas, manifest)

"""Deformation probability maps from wrapped phase, any image size (Anantrasirichai et al. 2019a).

Steps (see :mod:`monitor.science.detect.patching` for the exact rules):

1. patch grid and padding for the image (224 x 224 patches, 28 px stride);
2. Canny phase-jump prefilter: patches without a jump are background (P = 0);
3. encoding of the wrapped phase into the network's channels, edge-padded;
4. the deformation probability (softmax, class 1) of every tested patch, by one of two
   paths that give the same numbers:

   * ``"sliding"``: crop each tested patch and run the network on batches of patches
     (any network: AlexNet, the compact net);
   * ``"dense"``: one pass of a fully convolutional network (the compact net) over the
     padded image, in horizontal strips of patch rows to bound memory, reading the output
     map every ``stride / dense_stride`` elements; :func:`probability_maps` passes
     several images of one shape (the gains of one epoch) as one batch;

5. merge: per-pixel mean over covering patches, then the Gaussian (20 px, sigma 5).

The network runs in eval mode (its previous mode is restored afterwards), in its own dtype
and on its own device, without gradients.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.detect.base import DEFORMATION_CLASS, PatchClassifier
from monitor.science.detect.canny import CannyMask
from monitor.science.detect.encoding import encode
from monitor.science.detect.names import INFERENCE_METHODS
from monitor.science.detect.patching import (
    PatchConfig,
    PatchGrid,
    check_wrapped,
    merge_patch_probabilities,
    pad_channels,
    patch_grid,
    prefilter_patches,
)

METHODS = INFERENCE_METHODS


@dataclass(frozen=True, eq=False)
class ProbabilityMap:
    """Result of scoring one wrapped-phase image.

    Attributes:
        prob_map: Merged, smoothed deformation probability, float32 ``(ny, nx)``.
        patch_prob: Probability of each patch, float32 ``(n_rows, n_cols)``, 0 where
            the patch is background.
        tested: Patches that held a phase jump and went to the network, bool
            ``(n_rows, n_cols)``.
        grid: The patch grid and padding.
        method: ``"dense"`` or ``"sliding"``.
    """

    prob_map: NDArray[np.float32]
    patch_prob: NDArray[np.float32]
    tested: NDArray[np.bool_]
    grid: PatchGrid
    method: str


@contextmanager
def _eval_mode(model: PatchClassifier) -> Iterator[torch.nn.Parameter]:
    """Put the model in eval mode without gradients; yield a parameter (dtype, device)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield next(model.parameters())
    finally:
        model.train(was_training)


def _check_model(model: PatchClassifier, grid: PatchGrid) -> None:
    if model.num_classes != 2:
        raise InputError(
            f"inference needs a 2-class network (index 1 = deformation), got "
            f"num_classes={model.num_classes}"
        )
    if model.patch_size != grid.patch_size:
        raise InputError(
            f"patch_size {grid.patch_size} does not match the network's {model.patch_size}"
        )


def _all_tested(grid: PatchGrid, tested: NDArray[np.bool_] | None) -> NDArray[np.bool_]:
    if tested is None:
        return np.ones((grid.n_rows, grid.n_cols), dtype=bool)
    mask = np.asarray(tested, dtype=bool)
    if mask.shape != (grid.n_rows, grid.n_cols):
        raise InputError(
            f"tested must have shape ({grid.n_rows}, {grid.n_cols}), got {mask.shape}"
        )
    return mask


def _check_padded(padded: NDArray[np.float32], grid: PatchGrid) -> None:
    if padded.ndim != 3 or padded.shape[1:] != grid.padded_shape:
        raise InputError(
            f"padded channels must have shape (C,) + {grid.padded_shape}, got {padded.shape}"
        )


def sliding_window_probabilities(
    model: PatchClassifier,
    padded: NDArray[np.float32],
    grid: PatchGrid,
    tested: NDArray[np.bool_] | None = None,
    batch_size: int = 64,
) -> NDArray[np.float32]:
    """Patch probabilities by cropping every tested patch and batching them.

    Args:
        model: Any 2-class detector network.
        padded: Encoded, padded channels ``(3,) + grid.padded_shape``.
        grid: The patch grid.
        tested: Patches to score, bool ``(n_rows, n_cols)``; None = all.
        batch_size: Patches per forward pass.

    Returns:
        float32 ``(n_rows, n_cols)``: P(deformation) of tested patches, 0 elsewhere.
    """
    _check_model(model, grid)
    _check_padded(padded, grid)
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    mask = _all_tested(grid, tested)
    out = np.zeros((grid.n_rows, grid.n_cols), dtype=np.float32)
    where = np.argwhere(mask)
    size, step = grid.patch_size, grid.stride
    with _eval_mode(model) as param:
        image = torch.from_numpy(padded).to(device=param.device, dtype=param.dtype)
        for start in range(0, len(where), batch_size):
            chunk = where[start:start + batch_size]
            batch = torch.stack([
                image[:, r * step:r * step + size, c * step:c * step + size] for r, c in chunk
            ])
            prob = torch.softmax(model.patch_logits(batch), dim=1)[:, DEFORMATION_CLASS]
            out[chunk[:, 0], chunk[:, 1]] = prob.float().cpu().numpy()
    return out


def dense_probabilities(
    model: PatchClassifier,
    padded: NDArray[np.float32],
    grid: PatchGrid,
    tested: NDArray[np.bool_] | None = None,
    strip_rows: int = 32,
) -> NDArray[np.float32]:
    """Patch probabilities from passes of a fully convolutional network over the image.

    The padded image is cut into horizontal strips of ``strip_rows`` patch rows (strips
    overlap by ``patch_size - stride`` pixel rows, so each patch lies whole in one strip);
    strips without a tested patch are skipped. Several images of one grid (the gains of
    one epoch) go through the network as one batch: fewer, larger passes, which keep 2
    CPU threads busier, above all on a loaded machine.

    Args:
        model: A network with ``dense_stride`` dividing ``grid.stride`` (the compact net).
        padded: Encoded, padded channels ``(3,) + grid.padded_shape``, or a batch of
            images ``(N, 3) + grid.padded_shape``.
        grid: The patch grid.
        tested: Patches to keep, bool ``(n_rows, n_cols)`` (``(N, n_rows, n_cols)`` for a
            batch); None = all.
        strip_rows: Patch rows per forward pass (memory bound, per image).

    Returns:
        float32 ``(n_rows, n_cols)`` (``(N, n_rows, n_cols)`` for a batch): P(deformation)
        of tested patches, 0 elsewhere.
    """
    _check_model(model, grid)
    single = padded.ndim == 3
    batch = padded[None] if single else padded
    if batch.ndim != 4 or batch.shape[2:] != grid.padded_shape:
        raise InputError(
            f"padded channels must have shape (C,) + {grid.padded_shape} or (N, C) + "
            f"{grid.padded_shape}, got {padded.shape}"
        )
    stride = model.dense_stride
    if stride is None or grid.stride % stride != 0:
        raise InputError(
            f"the dense path needs a fully convolutional network whose output stride "
            f"divides the patch stride {grid.stride}; {model.arch!r} has "
            f"dense_stride={stride!r}; use method='sliding'"
        )
    if not (isinstance(strip_rows, int) and strip_rows >= 1):
        raise InputError(f"strip_rows must be a positive integer, got {strip_rows!r}")
    n = batch.shape[0]
    if tested is None:
        mask = np.ones((n, grid.n_rows, grid.n_cols), dtype=bool)
    else:
        mask = np.asarray(tested, dtype=bool)
        mask = mask[None] if single and mask.ndim == 2 else mask
        if mask.shape != (n, grid.n_rows, grid.n_cols):
            want = (grid.n_rows, grid.n_cols) if single else (n, grid.n_rows, grid.n_cols)
            raise InputError(f"tested must have shape {want}, got {np.shape(tested)}")
    every = grid.stride // stride
    out = np.zeros((n, grid.n_rows, grid.n_cols), dtype=np.float32)
    with _eval_mode(model) as param:
        images = torch.from_numpy(np.ascontiguousarray(batch)).to(device=param.device,
                                                                  dtype=param.dtype)
        for r0 in range(0, grid.n_rows, strip_rows):
            r1 = min(r0 + strip_rows, grid.n_rows)
            todo = np.flatnonzero(mask[:, r0:r1].any(axis=(1, 2)))
            if todo.size == 0:
                continue
            chosen = images if todo.size == n else images[torch.from_numpy(todo)]
            rows = chosen[:, :, r0 * grid.stride:(r1 - 1) * grid.stride + grid.patch_size, :]
            logits = model(rows)[:, :, ::every, ::every]
            if tuple(logits.shape[2:]) != (r1 - r0, grid.n_cols):
                raise InputError(
                    f"{model.arch!r} gave a {tuple(logits.shape[2:])} output map for "
                    f"{(r1 - r0, grid.n_cols)} patches; it is not patch-equivalent"
                )
            prob = torch.softmax(logits, dim=1)[:, DEFORMATION_CLASS]
            out[todo, r0:r1] = prob.float().cpu().numpy()
    out[~mask] = 0.0
    return out[0] if single else out


def probability_maps(
    model: PatchClassifier,
    images: Sequence[ArrayLike],
    *,
    method: str = "auto",
    config: PatchConfig | None = None,
    batch_size: int = 64,
    strip_rows: int = 32,
    canny_mask: CannyMask | None = None,
) -> list[ProbabilityMap]:
    """Score several wrapped-phase images of one shape, such as the gains of one epoch.

    The results equal :func:`probability_map` on each image (up to float32 round-off);
    the dense path runs the images through the network as one batch.

    Args:
        model: A 2-class detector network.
        images: Wrapped phase images, radians in [-pi, pi], all ``(ny, nx)``; NaN =
            incoherent.
        method, config, batch_size, strip_rows, canny_mask: As :func:`probability_map`.

    Returns:
        One :class:`ProbabilityMap` per image, in order.
    """
    cfg = config or PatchConfig()
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    psis = [check_wrapped(image) for image in images]
    if not psis or len({psi.shape for psi in psis}) != 1:
        raise InputError(
            f"images must be a non-empty list of one shape, got shapes "
            f"{[psi.shape for psi in psis]}"
        )
    grid = patch_grid(psis[0].shape[0], psis[0].shape[1], cfg)
    _check_model(model, grid)
    if method == "auto":
        method = "dense" if model.dense_stride is not None else "sliding"
    tested = np.stack([prefilter_patches(psi, grid, cfg, canny_mask) for psi in psis])
    padded = np.stack([pad_channels(encode(psi, model.encoding), grid) for psi in psis])
    if method == "dense":
        patch_prob = dense_probabilities(model, padded, grid, tested, strip_rows)
    else:
        patch_prob = np.stack([
            sliding_window_probabilities(model, one, grid, mask, batch_size)
            for one, mask in zip(padded, tested, strict=True)
        ])
    return [
        ProbabilityMap(merge_patch_probabilities(prob, grid, cfg), prob, mask, grid, method)
        for prob, mask in zip(patch_prob, tested, strict=True)
    ]


def probability_map(
    model: PatchClassifier,
    wrapped_rad: ArrayLike,
    *,
    method: str = "auto",
    config: PatchConfig | None = None,
    batch_size: int = 64,
    strip_rows: int = 32,
    canny_mask: CannyMask | None = None,
) -> ProbabilityMap:
    """Score one wrapped-phase image with the patch procedure of Anantrasirichai et al. (2019a).

    Args:
        model: A 2-class detector network (see :mod:`monitor.science.detect.registry`).
        wrapped_rad: Wrapped phase, radians in [-pi, pi], shape ``(ny, nx)``, any size
            of at least 1 x 1; NaN = incoherent.
        method: ``"dense"``, ``"sliding"`` or ``"auto"`` (dense when the network supports
            it).
        config: Patch grid, prefilter and merge settings.
        batch_size: Patches per forward pass on the sliding path.
        strip_rows: Patch rows per forward pass on the dense path.
        canny_mask: Canny mask terms of the coherent pixels, shared between images with
            the same NaN pixels (see :func:`~monitor.science.detect.patching.
            phase_jump_edges`); None = computed here.

    Returns:
        A :class:`ProbabilityMap` with the merged map ``(ny, nx)`` and the patch scores.
    """
    return probability_maps(model, [wrapped_rad], method=method, config=config,
                            batch_size=batch_size, strip_rows=strip_rows,
                            canny_mask=canny_mask)[0]

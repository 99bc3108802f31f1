"""Training loop for the detector networks on in-memory or generated patches.

Data are 224 x 224 patches of UNWRAPPED line-of-sight displacement in metres (NaN =
incoherent) with labels 0 (no deformation, "S+T") and 1 (deformation, "D+S+T"): the 2-class
model of Anantrasirichai et al. (2019a). Each training patch is re-wrapped at a gain drawn
from ``gains`` (Anantrasirichai et al. 2019b), optionally with a random phase offset
``tau`` (their shifted wrap boundaries) and a random flip / quarter turn, then encoded for
the network. Validation patch ``i`` is re-wrapped at ``gains[i % len(gains)]``, offset 0,
not flipped, so that the validation figures are the same every epoch.

Optimiser: Adam; loss: cross-entropy. Early stopping on the validation loss: training
stops after ``patience`` epochs without improvement and the weights of the best epoch are
loaded back into the model and returned.

Determinism: batches are shuffled and augmented with ``numpy.random.default_rng(seed)``;
torch's global RNG (dropout) is seeded inside a forked RNG state, so the caller's RNG
state is left untouched. The same seed, model initialisation and data give the same
history on the same device.

Resuming: after every epoch :func:`train` can hand a :class:`TrainingCheckpoint` (weights,
optimiser moments, both random generators, the history and the best epoch so far) to a
callback, which stores it; passing it back as ``resume`` continues with the next epoch
exactly as if the run had not stopped (same shuffles, augmentations and dropout masks, so
the same weights on the same device). Writing the checkpoint is the caller's business.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.stats import rankdata

from monitor.errors import InputError
from monitor.science.detect.base import DEFORMATION_CLASS, PatchClassifier
from monitor.science.detect.encoding import encode
from monitor.science.detect.fusion import DEFAULT_GAINS, check_gains
from monitor.science.geometry import DEFAULT_FRINGE_SPACING_M, rewrap

Dataset = tuple[NDArray[np.floating], NDArray[np.integer]]
#: Either fixed arrays or a callable ``epoch -> (x, y)`` that supplies each epoch's data.
DataSource = Dataset | Callable[[int], Dataset]


@dataclass(frozen=True)
class EpochRecord:
    """Figures of one epoch (1-based)."""

    epoch: int
    train_loss: float
    val_loss: float
    val_acc: float
    val_auc: float
    seconds: float


@dataclass(frozen=True)
class TrainingProgress:
    """What the progress callback receives: after each batch, and with ``record`` set
    after each epoch."""

    epoch: int
    step: int
    n_steps: int
    train_loss: float
    record: EpochRecord | None = None


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """Outcome of :func:`train`.

    Attributes:
        history: One record per epoch run.
        best_epoch: Epoch with the lowest validation loss (1-based).
        stopped_early: True when patience ran out before ``epochs``.
        state_dict: Weights of the best epoch (CPU tensors).
    """

    history: tuple[EpochRecord, ...]
    best_epoch: int
    stopped_early: bool
    state_dict: dict[str, torch.Tensor]


@dataclass(frozen=True, eq=False)
class TrainingCheckpoint:
    """Everything needed to continue a run after a completed epoch.

    Attributes:
        epoch: Epochs completed (1-based number of the last one).
        history: One record per completed epoch.
        best_epoch: Epoch with the lowest validation loss so far.
        best_loss: That validation loss.
        model_state: Weights after ``epoch`` (CPU copies).
        best_state: Weights of ``best_epoch`` (CPU copies).
        optimiser_state: Adam's state dict after ``epoch`` (a deep copy).
        numpy_rng_state: ``bit_generator.state`` of the shuffling/augmentation generator.
        torch_rng_state: torch's CPU generator state (dropout on CPU).
        cuda_rng_state: The CUDA generator state of the training device, or None on CPU.
    """

    epoch: int
    history: tuple[EpochRecord, ...]
    best_epoch: int
    best_loss: float
    model_state: dict[str, torch.Tensor]
    best_state: dict[str, torch.Tensor]
    optimiser_state: dict[str, Any]
    numpy_rng_state: dict[str, Any]
    torch_rng_state: torch.Tensor
    cuda_rng_state: torch.Tensor | None = None


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def roc_auc(scores: NDArray[np.floating], labels: NDArray[np.integer]) -> float:
    """Area under the ROC curve by the Mann-Whitney rank statistic (ties count half).

    Returns NaN when only one class is present.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels) == 1
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _check_dataset(
    data: Dataset, name: str, size: int
) -> tuple[NDArray[np.floating], NDArray[np.int64]]:
    try:
        x, y = data
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair of arrays (x, y)") from None
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 3 or x.shape[1:] != (size, size) or x.shape[0] < 1:
        raise InputError(
            f"{name}: x must have shape (n, {size}, {size}) with n >= 1, got {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{name}: x must be float displacement in metres, got {x.dtype}")
    if y.shape != (x.shape[0],) or not np.isin(y, (0, 1)).all():
        raise InputError(
            f"{name}: y must be {x.shape[0]} labels in {{0, 1}}, got shape {y.shape}"
        )
    if np.isinf(x).any():
        raise InputError(f"{name}: x holds infinite values; use NaN for incoherent pixels")
    return x, y.astype(np.int64)


def augment(
    x_m: NDArray[np.floating],
    rng: np.random.Generator,
    gains: Sequence[float],
    random_offset: bool = True,
    flips: bool = True,
    fringe_spacing_m: float = DEFAULT_FRINGE_SPACING_M,
) -> NDArray[np.float32]:
    """Re-wrap each displacement patch at a random gain (and offset, flip, quarter turn).

    Args:
        x_m: Displacement patches, metres, ``(n, H, W)``.
        rng: Random generator.
        gains: Gains to draw from, uniformly.
        random_offset: Add a uniform random phase offset in [0, 2 pi).
        flips: Apply a random left-right flip and a random number of quarter turns.
        fringe_spacing_m: LOS metres per fringe at gain 1.

    Returns:
        Wrapped phase ``(n, H, W)``, float32.
    """
    out = np.empty(x_m.shape, dtype=np.float32)
    gain_idx = rng.integers(len(gains), size=len(x_m))
    offsets = rng.uniform(0.0, 2 * math.pi, size=len(x_m)) if random_offset else None
    turns = rng.integers(4, size=len(x_m)) if flips else None
    mirror = rng.integers(2, size=len(x_m)) if flips else None
    for i in range(len(x_m)):
        tau = float(offsets[i]) if offsets is not None else 0.0
        psi = rewrap(x_m[i], float(gains[gain_idx[i]]), tau, fringe_spacing_m)
        if turns is not None and mirror is not None:
            psi = np.rot90(psi[:, ::-1] if mirror[i] else psi, k=int(turns[i]))
        out[i] = psi
    return out


def validation_phase(x_m: NDArray[np.floating], gains: Sequence[float],
                     fringe_spacing_m: float = DEFAULT_FRINGE_SPACING_M) -> NDArray[np.float32]:
    """Deterministic validation inputs: patch ``i`` re-wrapped at ``gains[i % len(gains)]``.

    Args:
        x_m: Displacement patches, metres, ``(n, H, W)``.
        gains: Wrap gains, cycled over the patches.
        fringe_spacing_m: LOS metres per fringe at gain 1.

    Returns:
        Wrapped phase ``(n, H, W)``, float32, offset 0, no flips.
    """
    return np.stack([
        rewrap(x_m[i], float(gains[i % len(gains)]), 0.0, fringe_spacing_m)
        for i in range(len(x_m))
    ])


def evaluate_patches(
    model: PatchClassifier,
    psi: NDArray[np.float32],
    y: NDArray[np.int64],
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> tuple[float, float, float]:
    """Mean cross-entropy, accuracy at P > 0.5, and ROC AUC on wrapped-phase patches.

    Args:
        model: The network (left in eval mode).
        psi: Wrapped phase patches, radians, ``(n, 224, 224)``.
        y: Labels 0/1, ``(n,)``.
        batch_size: Patches per forward pass.
        device: Where the model lives.

    Returns:
        ``(loss, accuracy, auc)``.
    """
    model.eval()
    losses, probs = [], []
    with torch.no_grad():
        for s in range(0, len(psi), batch_size):
            xb = torch.from_numpy(encode(psi[s:s + batch_size], model.encoding)).to(device)
            yb = torch.from_numpy(y[s:s + batch_size]).to(device)
            logits = model.patch_logits(xb)
            losses.append(float(torch.nn.functional.cross_entropy(logits, yb, reduction="sum")))
            probs.append(torch.softmax(logits, 1)[:, DEFORMATION_CLASS].cpu().numpy())
    p = np.concatenate(probs)
    acc = float(np.mean((p > 0.5) == (y == 1)))
    return sum(losses) / len(y), acc, roc_auc(p, y)


def train(
    model: PatchClassifier,
    train_data: DataSource,
    val_data: Dataset,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    device: str = "cpu",
    seed: int = 0,
    patience: int | None = 5,
    gains: Sequence[float] = DEFAULT_GAINS,
    random_offset: bool = True,
    flips: bool = True,
    fringe_spacing_m: float = DEFAULT_FRINGE_SPACING_M,
    progress: Callable[[TrainingProgress], None] | None = None,
    checkpoint: Callable[[TrainingCheckpoint], None] | None = None,
    resume: TrainingCheckpoint | None = None,
) -> TrainingResult:
    """Train a detector network; return the history and the best epoch's weights.

    Args:
        model: The network (already initialised; moved to ``device``).
        train_data: ``(x, y)``: x ``(n, 224, 224)`` float unwrapped LOS displacement in
            metres (NaN = incoherent), y ``(n,)`` labels 0/1; or a callable
            ``epoch -> (x, y)`` (1-based epoch) that supplies fresh data each epoch.
        val_data: ``(x, y)`` as above, held out, fixed.
        epochs: Maximum number of epochs.
        batch_size: Patches per optimiser step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        seed: Seed of shuffling, augmentation and dropout.
        patience: Epochs without a lower validation loss before stopping; None = never.
        gains: Wrap gains drawn for augmentation (Anantrasirichai et al. 2019b: 1, 2, 4, 8).
        random_offset: Random phase offset augmentation.
        flips: Random flip / quarter-turn augmentation.
        fringe_spacing_m: LOS metres per fringe at gain 1.
        progress: Called after each batch and each epoch (for progress bars and logs).
        checkpoint: Called after each epoch (after the best epoch is updated) with a
            :class:`TrainingCheckpoint` to store.
        resume: A checkpoint of an earlier run of the same model, data and settings: its
            weights, optimiser state, generators and history are restored and training
            continues with epoch ``resume.epoch + 1``. When that run had already reached
            ``epochs`` or run out of patience, nothing is trained.

    Returns:
        A :class:`TrainingResult`; the model is left holding the best epoch's weights.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not (isinstance(value, int) and value >= 1):
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if not (lr > 0 and math.isfinite(lr)) or not (weight_decay >= 0):
        raise InputError(f"lr must be > 0 and weight_decay >= 0, got {lr!r}, {weight_decay!r}")
    if patience is not None and not (isinstance(patience, int) and patience >= 1):
        raise InputError(f"patience must be a positive integer or None, got {patience!r}")
    gain_list = check_gains(gains)
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"invalid device {device!r}: {exc}") from None
    val_x, val_y = _check_dataset(val_data, "val_data", model.patch_size)
    val_psi = validation_phase(val_x, gain_list, fringe_spacing_m)
    rng = np.random.default_rng(seed)
    model.to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: list[EpochRecord] = []
    best_loss, best_epoch, best_state = math.inf, 0, copy.deepcopy(model.state_dict())
    stopped_early = False
    first_epoch = 1
    if resume is not None:
        first_epoch, stopped_early = _restore(resume, model, optimiser, rng, epochs, patience)
        history = list(resume.history)
        best_loss, best_epoch = resume.best_loss, resume.best_epoch
        best_state = {k: v.to(dev) for k, v in resume.best_state.items()}
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        if resume is not None:
            torch.random.set_rng_state(resume.torch_rng_state)
            if dev.type == "cuda" and resume.cuda_rng_state is not None:
                torch.cuda.set_rng_state(resume.cuda_rng_state, dev)
        for epoch in range(first_epoch, epochs + 1):
            start = time.perf_counter()
            data = train_data(epoch) if callable(train_data) else train_data
            x, y = _check_dataset(data, "train_data", model.patch_size)
            order = rng.permutation(len(x))
            n_steps = -(-len(x) // batch_size)
            model.train()
            total, seen = 0.0, 0
            for step in range(n_steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                psi = augment(x[idx], rng, gain_list, random_offset, flips, fringe_spacing_m)
                xb = torch.from_numpy(encode(psi, model.encoding)).to(dev)
                yb = torch.from_numpy(y[idx]).to(dev)
                loss = torch.nn.functional.cross_entropy(model.patch_logits(xb), yb)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
                if progress is not None:
                    progress(TrainingProgress(epoch, step + 1, n_steps, total / seen))
            val_loss, val_acc, val_auc = evaluate_patches(model, val_psi, val_y, batch_size, dev)
            record = EpochRecord(epoch, total / seen, val_loss, val_acc, val_auc,
                                 time.perf_counter() - start)
            history.append(record)
            if progress is not None:
                progress(TrainingProgress(epoch, n_steps, n_steps, total / seen, record))
            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                best_state = copy.deepcopy(model.state_dict())
            if checkpoint is not None:
                checkpoint(TrainingCheckpoint(
                    epoch=epoch, history=tuple(history), best_epoch=best_epoch,
                    best_loss=best_loss, model_state=_cpu_copy(model.state_dict()),
                    best_state=_cpu_copy(best_state),
                    optimiser_state=copy.deepcopy(optimiser.state_dict()),
                    numpy_rng_state=copy.deepcopy(dict(rng.bit_generator.state)),
                    torch_rng_state=torch.random.get_rng_state(),
                    cuda_rng_state=(torch.cuda.get_rng_state(dev) if dev.type == "cuda"
                                    else None),
                ))
            if patience is not None and epoch - best_epoch >= patience:
                stopped_early = epoch < epochs
                break
    model.load_state_dict(best_state)
    cpu_state = {k: v.detach().cpu().clone() for k, v in best_state.items()}
    return TrainingResult(tuple(history), best_epoch, stopped_early, cpu_state)


def _restore(resume: TrainingCheckpoint, model: PatchClassifier,
             optimiser: torch.optim.Optimizer, rng: np.random.Generator, epochs: int,
             patience: int | None) -> tuple[int, bool]:
    """Load a checkpoint into the model, optimiser and generator.

    Returns:
        ``(first epoch to run, stopped early)``; the first epoch is past ``epochs`` when
        the checkpointed run had already finished (all epochs, or patience run out).
    """
    if not (isinstance(resume.epoch, int) and resume.epoch >= 1
            and len(resume.history) == resume.epoch and 1 <= resume.best_epoch <= resume.epoch):
        raise InputError(
            f"resume: inconsistent checkpoint (epoch {resume.epoch!r}, "
            f"{len(resume.history)} history records, best epoch {resume.best_epoch!r})"
        )
    try:
        model.load_state_dict(resume.model_state)
        optimiser.load_state_dict(resume.optimiser_state)
        rng.bit_generator.state = resume.numpy_rng_state
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"resume: the checkpoint does not fit this model and optimiser ({exc})"
        ) from None
    out_of_patience = patience is not None and resume.epoch - resume.best_epoch >= patience
    if out_of_patience or resume.epoch >= epochs:
        return epochs + 1, out_of_patience and resume.epoch < epochs
    return resume.epoch + 1, False

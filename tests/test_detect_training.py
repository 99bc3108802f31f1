"""Training loop: augmentation, AUC, loss reduction on a tiny set, determinism, stopping."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from scipy import ndimage

from monitor.errors import InputError
from monitor.science.detect.alexnet import AlexNet
from monitor.science.detect.compact import CompactNet
from monitor.science.detect.training import (
    TrainingProgress,
    augment,
    evaluate_patches,
    roc_auc,
    train,
    validation_phase,
)
from monitor.science.geometry import rewrap


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny_dataset(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 1: concentric fringes of a 3-8 cm Gaussian bump; class 0: smooth noise.

    Both carry smooth noise of 3 mm standard deviation and 50 incoherent (NaN) pixels.
    """
    yy, xx = np.mgrid[:224, :224]
    y = np.arange(n, dtype=np.int64) % 2
    x = np.empty((n, 224, 224), dtype=np.float32)
    for i in range(n):
        noise = ndimage.gaussian_filter(rng.standard_normal((224, 224)), 12.0)
        d = 0.003 * noise / noise.std()
        if y[i]:
            amp, width = rng.uniform(0.03, 0.08), rng.uniform(15.0, 35.0)
            cy, cx = rng.uniform(70.0, 154.0, size=2)
            d += amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
        d[rng.integers(224, size=50), rng.integers(224, size=50)] = np.nan
        x[i] = d
    return x, y


def test_roc_auc_known_values() -> None:
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert roc_auc(np.full(4, 0.5), labels) == 0.5
    assert roc_auc(np.array([0.1, 0.6, 0.5, 0.9]), labels) == 0.75
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_augment_rewraps_at_the_listed_gains() -> None:
    rng = np.random.default_rng(0)
    d = np.cumsum(rng.normal(0, 0.001, size=(3, 224, 224)), axis=2).astype(np.float32)
    plain = augment(d, rng, gains=(4.0,), random_offset=False, flips=False)
    np.testing.assert_allclose(plain, np.stack([rewrap(di, 4.0) for di in d]), atol=1e-6)
    flipped = augment(d, rng, gains=(4.0,), random_offset=False, flips=True)
    for i in range(3):  # flips and quarter turns only move pixels
        np.testing.assert_allclose(np.sort(flipped[i], axis=None), np.sort(plain[i], axis=None))
    shifted = augment(d, rng, gains=(1.0, 2.0))
    assert shifted.dtype == np.float32 and np.abs(shifted).max() <= np.pi
    val = validation_phase(d, (1.0, 8.0), 0.028)
    np.testing.assert_allclose(val[1], rewrap(d[1], 8.0), atol=1e-6)


@pytest.mark.slow
def test_training_on_a_tiny_set_reduces_the_loss() -> None:
    rng = np.random.default_rng(42)
    train_set, val_set = _tiny_dataset(64, rng), _tiny_dataset(32, rng)
    torch.manual_seed(0)
    net = CompactNet(widths=(4, 8, 8, 16))
    gains = (1.0, 2.0)
    val_psi = validation_phase(val_set[0], gains, 0.028)
    before, _, _ = evaluate_patches(net, val_psi, val_set[1], 32, torch.device("cpu"))
    events: list[TrainingProgress] = []
    result = train(net, train_set, val_set, epochs=6, batch_size=16, lr=3e-3, seed=1,
                   gains=gains, progress=events.append)
    first, last = result.history[0], result.history[-1]
    assert len(result.history) == 6
    # Seen run (torch 2.13 CPU): train loss 0.72 -> 0.24, validation loss 0.69 -> 0.41,
    # validation AUC 0.94 after 6 epochs.
    assert last.train_loss < 0.6 * first.train_loss
    best = min(r.val_loss for r in result.history)
    assert best < 0.85 * before
    assert last.val_auc > 0.8
    assert result.history[result.best_epoch - 1].val_loss == best
    after, _, _ = evaluate_patches(net, val_psi, val_set[1], 32, torch.device("cpu"))
    assert after == pytest.approx(best, rel=1e-5)  # the model holds the best weights
    assert all(0.0 <= r.val_auc <= 1.0 and 0.0 <= r.val_acc <= 1.0 for r in result.history)
    assert [e.step for e in events if e.record is None] == [1, 2, 3, 4] * 6
    assert [e.record.epoch for e in events if e.record is not None] == [1, 2, 3, 4, 5, 6]


def test_training_is_deterministic_and_stops_early() -> None:
    rng = np.random.default_rng(5)
    data = _tiny_dataset(8, rng)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        net = AlexNet(conv_widths=(4, 4, 4, 4, 4), fc_width=8)
        runs.append(train(net, data, data, epochs=1, batch_size=4, seed=9))
    assert [r.train_loss for r in runs[0].history] == [r.train_loss for r in runs[1].history]
    for key, value in runs[0].state_dict.items():
        assert torch.equal(value, runs[1].state_dict[key]), key
    # A learning rate too small to change anything: no improvement after epoch 1, so
    # training stops after `patience` more epochs and keeps epoch 1.
    net = AlexNet(conv_widths=(4, 4, 4, 4, 4), fc_width=8, dropout=0.0)
    calls: list[int] = []

    def supply(epoch: int) -> tuple[np.ndarray, np.ndarray]:
        calls.append(epoch)
        return data

    result = train(net, supply, data, epochs=10, batch_size=8, lr=1e-30, patience=2)
    assert result.stopped_early and result.best_epoch == 1
    assert len(result.history) == 3 and calls == [1, 2, 3]


def test_training_rejects_bad_data() -> None:
    net = CompactNet(widths=(4, 4, 4, 8))
    good = (np.zeros((2, 224, 224), dtype=np.float32), np.array([0, 1]))
    with pytest.raises(InputError, match=r"train_data: x must have shape \(n, 224, 224\)"):
        train(net, (np.zeros((2, 100, 100), dtype=np.float32), np.array([0, 1])), good,
              epochs=1)
    with pytest.raises(InputError, match="labels in"):
        train(net, (good[0], np.array([0, 2])), good, epochs=1)
    with pytest.raises(InputError, match="val_data"):
        train(net, good, (good[0], np.array([1])), epochs=1)
    with pytest.raises(InputError, match="epochs"):
        train(net, good, good, epochs=0)
    with pytest.raises(InputError, match="patience"):
        train(net, good, good, epochs=1, patience=0)
    with pytest.raises(InputError, match="gains"):
        train(net, good, good, epochs=1, gains=())

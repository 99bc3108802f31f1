"""``insar-monitor train``: loss reduction, the model file and its log, resuming, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.cli import main
from monitor.errors import InputError
from monitor.io.checkpoints import load_checkpoint
from monitor.io.datasets import write_dataset
from monitor.io.models import load_model
from monitor.science.detect.compact import CompactNet
from monitor.science.detect.training import TrainingCheckpoint, train
from monitor.science.synth import SynthRecipe
from monitor.science.windows import centre_crop, random_crops

#: Easy data: positives are 8-20 cm Mogi uplifts (3-7 fringes), negatives weak
#: stratification and turbulence; no decorrelation.
EASY = SynthRecipe(source_kinds=("mogi",), peak_los_m=(0.08, 0.2), stratified_strength="weak",
                   decorrelation_fraction=0.0)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sets")
    write_dataset(root / "train", n=48, recipe=EASY, seed=1, shard_size=24)
    write_dataset(root / "val", n=12, recipe=EASY, seed=2)
    return root / "train", root / "val"


def _train(data: tuple[Path, Path], out: Path, *extra: str) -> int:
    return main(["train", "--data", str(data[0]), "--val", str(data[1]), "--widths",
                 "4,8,8,16", "--batch-size", "8", "--lr", "3e-3", "--device", "cpu",
                 "--threads", "1", "--seed", "5", "--out", str(out), *extra])


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_training_reduces_the_loss_and_writes_a_loadable_model(
        tmp_path: Path, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "net.pt"
    assert _train(data, out, "--epochs", "12", "--patience", "0") == 0
    summary = json.loads(capsys.readouterr().out)
    log = _log(tmp_path / "net.metrics.jsonl")
    assert [r["epoch"] for r in log] == list(range(1, 13))
    # Seen (torch 2.13 CPU, 1 thread): train loss 0.89 -> 0.20, validation loss 0.70 ->
    # 0.28 at the best epoch (10), validation AUC 0.97-1.0 from epoch 4 on.
    assert min(r["train_loss"] for r in log[-3:]) < 0.6 * log[0]["train_loss"]
    assert min(r["val_loss"] for r in log) < 0.7 * log[0]["val_loss"]
    assert log[-1]["val_auc"] > 0.8
    loaded = load_model(out)
    assert loaded.arch == "compact" and loaded.config["widths"] == (4, 8, 8, 16)
    meta = loaded.meta
    assert meta["best_epoch"] == summary["best_epoch"] == 1 + int(
        np.argmin([r["val_loss"] for r in log]))
    assert meta["train_data"]["seed"] == 1 and meta["val_data"]["seed"] == 2
    assert meta["train_data"]["recipe"]["peak_los_m"] == [0.08, 0.2]
    assert meta["validation"]["val_loss"] == pytest.approx(min(r["val_loss"] for r in log))
    assert meta["command"].startswith("insar-monitor train --data ")
    assert "--epochs 12" in meta["command"] and meta["code_version"]
    assert summary["sha256"] == loaded.sha256


def test_resume_continues_as_if_never_stopped(
        tmp_path: Path, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    common = ("--limit", "16", "--patience", "0")
    assert _train(data, straight, "--epochs", "3", *common) == 0
    assert _train(data, split, "--epochs", "2", *common) == 0
    ckpt = load_checkpoint(tmp_path / "split.ckpt")
    assert ckpt.state.epoch == 2 and ckpt.arch == "compact"
    assert _train(data, split, "--epochs", "3", "--resume", str(tmp_path / "split.ckpt"),
                  *common) == 0
    capsys.readouterr()
    a, b = _log(tmp_path / "straight.metrics.jsonl"), _log(tmp_path / "split.metrics.jsonl")
    assert [r["epoch"] for r in b] == [1, 2, 3]
    for ra, rb in zip(a, b, strict=True):
        for key in ("train_loss", "val_loss", "val_acc", "val_auc"):
            assert ra[key] == rb[key], key
    ma, mb = load_model(straight), load_model(split)
    for key, value in ma.model.state_dict().items():
        assert torch.equal(value, mb.model.state_dict()[key]), key
    assert mb.meta["resumed_from"] == str(tmp_path / "split.ckpt")
    assert len(mb.meta["history"]) == 3


def test_resume_refuses_other_options(tmp_path: Path, data: tuple[Path, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.pt"
    assert _train(data, out, "--epochs", "1", "--limit", "8") == 0
    capsys.readouterr()
    rc = _train(data, out, "--epochs", "2", "--limit", "8", "--resume",
                str(tmp_path / "m.ckpt"), "--weight-decay", "0.1")
    err = capsys.readouterr().err
    assert rc == 2 and "weight_decay" in err and "checkpoint 0.0, now 0.1" in err
    rc = _train(data, out, "--epochs", "2", "--resume", str(tmp_path / "nothing.ckpt"))
    assert rc == 6 and "nothing.ckpt" in capsys.readouterr().err


def test_alexnet_with_tiny_widths_trains_from_larger_samples(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = SynthRecipe(shape=(240, 232), source_kinds=("mogi",), decorrelation_fraction=0.0)
    write_dataset(tmp_path / "train", n=4, recipe=big, seed=3)
    write_dataset(tmp_path / "val", n=2, recipe=big, seed=4)
    rc = main(["train", "--data", str(tmp_path / "train"), "--val", str(tmp_path / "val"),
               "--arch", "alexnet", "--widths", "4,4,4,4,4,8", "--epochs", "1",
               "--batch-size", "4", "--device", "cpu", "--out", str(tmp_path / "a.pt")])
    assert rc == 0
    loaded = load_model(tmp_path / "a.pt")
    assert loaded.arch == "alexnet" and loaded.config["fc_width"] == 8
    assert loaded.meta["train_data"]["shape"] == [240, 232]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 240, 232)).astype(np.float32)
    crops = random_crops(x, 224, np.random.default_rng(1))
    assert crops.shape == (3, 224, 224)
    for i in range(3):  # each crop is a window of its own sample
        rows = [r for r in range(17) for c in range(9)
                if np.array_equal(x[i, r:r + 224, c:c + 224], crops[i])]
        assert rows
    np.testing.assert_array_equal(centre_crop(x, 224), x[:, 8:232, 4:228])
    capsys.readouterr()


def test_bad_datasets_and_options(tmp_path: Path, data: tuple[Path, Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    small = SynthRecipe(shape=(64, 64), source_kinds=("mogi",), decorrelation_fraction=0.0)
    write_dataset(tmp_path / "small", n=2, recipe=small, seed=1)
    write_dataset(tmp_path / "three", n=3, scheme="3class", recipe=small, seed=1)
    rc = main(["train", "--data", str(tmp_path / "small"), "--val", str(data[1])])
    assert rc == 3 and "64 x 64" in capsys.readouterr().err
    rc = main(["train", "--data", str(tmp_path / "three"), "--val", str(data[1])])
    assert rc == 3 and "2-class" in capsys.readouterr().err
    rc = main(["train", "--data", str(data[0]), "--val", str(data[1]), "--widths", "4,4"])
    assert rc == 2 and "--widths for compact takes 4" in capsys.readouterr().err
    rc = main(["train", "--data", str(data[0]), "--val", str(data[1]), "--epochs", "0"])
    assert rc == 2 and "--epochs must be at least 1" in capsys.readouterr().err
    rc = main(["train", "--data", str(tmp_path / "none"), "--val", str(data[1])])
    assert rc == 3 and "manifest" in capsys.readouterr().err


def test_resuming_a_finished_run_trains_nothing() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 0.01, size=(4, 224, 224)).astype(np.float32)
    y = np.array([0, 1, 0, 1])
    saved: list[TrainingCheckpoint] = []
    torch.manual_seed(0)
    net = CompactNet(widths=(4, 4, 4, 8))
    first = train(net, (x, y), (x, y), epochs=2, batch_size=4, checkpoint=saved.append)
    assert [c.epoch for c in saved] == [1, 2]
    assert saved[-1].history == first.history
    again = train(CompactNet(widths=(4, 4, 4, 8)), (x, y), (x, y), epochs=2, batch_size=4,
                  resume=saved[-1])
    assert again.history == first.history and again.best_epoch == first.best_epoch
    for key, value in first.state_dict.items():
        assert torch.equal(value, again.state_dict[key]), key
    with pytest.raises(InputError, match="does not fit this model"):
        train(CompactNet(widths=(4, 4, 4, 16)), (x, y), (x, y), epochs=3, batch_size=4,
              resume=saved[-1])

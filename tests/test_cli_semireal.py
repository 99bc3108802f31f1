"""``synth semireal``, ``train --init`` and ``calibrate`` on the committed real Erta Ale crop.

The crop holds 14 real Sentinel-1 pairs (2016-01-17 to 2017-02-04), the last one with the
January 2017 dyke; its README gives the provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from monitor.cli import main
from monitor.io.datasets import load_dataset
from monitor.io.models import load_model, save_model
from monitor.science.detect.compact import CompactNet

CROP = Path(__file__).parent / "data" / "erta_ale_014A"
FRAME = "014A_07688_131313"
WHERE = ["--archive", str(CROP), "--frame", FRAME, "--events", "2017-01-11:2018-12-31"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    save_model(path, CompactNet(widths=(4, 8, 8, 16)), {"note": "untrained"})
    return path


def test_semireal_set_from_held_in_years(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sr"
    assert main(["synth", "semireal", *WHERE, "--years", "2016", "--n", "8", "--seed", "3",
                 "--sources", "mogi", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 12 and summary["n"] == 8  # 2016 pairs; the dyke pair is out
    data = load_dataset(out)
    assert data.x.shape == (8, 224, 224) and list(data.y) == [0, 1] * 4
    pairs = data.manifest["noise_bank"]["pairs"]
    assert "20170111_20170204" not in pairs and "20161218_20170111" not in pairs
    assert all(m["pair"][:4] == "2016" for m in data.meta)
    assert main(["synth", "semireal", *WHERE, "--years", "2019", "--n", "2",
                 "--out", str(tmp_path / "none")]) == 2
    assert "none of its 14 products" in capsys.readouterr().err


def test_fine_tuning_starts_from_the_model_file(tmp_path: Path, tiny: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    sr = tmp_path / "sr"
    main(["synth", "semireal", *WHERE, "--years", "2016", "--n", "8", "--sources", "mogi",
          "--out", str(sr)])
    capsys.readouterr()
    out = tmp_path / "ft.pt"
    assert main(["train", "--data", f"{sr},{sr}", "--val", str(sr), "--init", str(tiny),
                 "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--threads", "1",
                 "--out", str(out)]) == 0
    loaded = load_model(out)
    assert loaded.config["widths"] == (4, 8, 8, 16)
    assert loaded.meta["init"]["sha256"] == load_model(tiny).sha256
    assert len(loaded.meta["train_data"]) == 2 and loaded.meta["val_data"]["n"] == 8
    assert "--init" in loaded.meta["command"]
    capsys.readouterr()
    assert main(["train", "--data", str(sr), "--val", str(sr), "--init", str(tiny),
                 "--widths", "4,8,8,16", "--epochs", "1", "--out", str(tmp_path / "x.pt")]) == 2
    assert "come from the model file" in capsys.readouterr().err
    assert main(["train", "--data", str(sr), "--val", str(sr), "--init", str(tiny),
                 "--arch", "alexnet", "--epochs", "1", "--out", str(tmp_path / "y.pt")]) == 2
    assert "'alexnet'" in capsys.readouterr().err


def test_calibrate_writes_a_calibrated_copy(tmp_path: Path, tiny: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cal.pt"
    assert main(["calibrate", "--model", str(tiny), *WHERE, "--years", "2016",
                 "--max-span", "2", "--threads", "1", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    # 12 epochs of one chain: 12 + 11 spans, each read both ways, with a positive each
    assert summary["maps"] == 4 * 23
    assert set(summary["per_gain"]) == {"1", "2", "4", "8"}
    loaded = load_model(out)
    cal = loaded.calibration
    assert cal is not None and set(cal.per_gain) == {1.0, 2.0, 4.0, 8.0}
    assert cal.fused is not None and summary["fused"]["slope"] == pytest.approx(cal.fused.slope)
    assert cal.fitted_on["years"] == [2016] and cal.fitted_on["negatives"] == 46
    assert loaded.meta["calibrated_from"]["sha256"] == load_model(tiny).sha256
    torch.testing.assert_close(loaded.model.state_dict(), load_model(tiny).model.state_dict())
    # the calibrated model is scored with its calibration and beside it the raw fusion
    assert main(["evaluate", "real", "--model", str(out), *WHERE, "--years", "2016",
                 "--n-inject", "2", "--threads", "1", "--blocks", "none",
                 "--out", str(tmp_path / "ev")]) == 0
    report = json.loads((tmp_path / "ev" / "detection_real.json").read_text())
    assert report["counts"]["products"] == 12 and report["years"] == [2016]
    assert set(report["summary"]) == {"cal", "cal (raw fusion)", "baseline", "mogi matched filter",
                                      "mogi GLS filter", "cal, confirmed by GLS"}
    assert 0 <= report["summary"]["cal"]["reliability"]["ece"] <= 1
    assert (tmp_path / "ev" / "detection_reliability.png").stat().st_size > 0
    assert "Reliability" in (tmp_path / "ev" / "detection_real.md").read_text()
    capsys.readouterr()
    # --every-gain: no noise rule, every gain fused whatever the map's noise
    every = tmp_path / "every.pt"
    plot = tmp_path / "reliability.png"
    assert main(["calibrate", "--model", str(tiny), *WHERE, "--years", "2016",
                 "--max-span", "1", "--threads", "1", "--every-gain", "--check-years", "2017",
                 "--plot", str(plot), "--out", str(every)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert all(f["usable_maps"] == summary["maps"] for f in summary["per_gain"].values())
    # the held-out year: its one quiet pair, both ways round, each with a positive
    held = summary["held_out"]
    assert held["years"] == "2017" and held["maps"] == 4 and 0 <= held["ece"] <= 1
    assert summary["in_sample"]["years"] == "2016" and plot.stat().st_size > 0
    every_cal = load_model(every).calibration
    assert every_cal is not None and every_cal.noise_ratio is None
    assert main(["calibrate", "--model", str(tiny), *WHERE, "--every-gain",
                 "--noise-ratio", "2", "--out", str(tmp_path / "y.pt")]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["calibrate", "--model", str(tiny), *WHERE, "--max-span", "0",
                 "--out", str(tmp_path / "z.pt")]) == 2
    assert "--max-span must be at least 1" in capsys.readouterr().err

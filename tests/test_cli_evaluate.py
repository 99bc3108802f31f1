"""``insar-monitor evaluate threshold|roc`` on tiny grids: reports, side-by-side models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.cli import main
from monitor.io.models import save_model
from monitor.science.detect.alexnet import AlexNet
from monitor.science.detect.compact import CompactNet
from monitor.science.detect.evaluation import confusion_at, roc_curve


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two untrained tiny networks (compact and AlexNet), amplified so P varies."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    nets = {"compact": CompactNet(widths=(4, 4, 4, 8)),
            "alexnet": AlexNet(conv_widths=(4, 4, 4, 4, 4), fc_width=8)}
    for net in nets.values():
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, torch.nn.Conv2d):
                    module.weight.mul_(3.0)
        save_model(folder / f"{net.arch}.pt", net)
    return folder / "compact.pt", folder / "alexnet.pt"


def test_threshold_report_for_two_models(tmp_path: Path, models: tuple[Path, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["evaluate", "threshold", "--compare", str(models[0]), str(models[1]),
               "--out", str(tmp_path), "--size", "64", "--depths-km", "3",
               "--incidences", "23", "--weights", "0,1", "--gains", "1,2",
               "--coverage", "seed"])
    out = capsys.readouterr().out
    assert rc == 0 and out.startswith("compact: fused thresholds")
    report = json.loads((tmp_path / "detection_threshold.json").read_text())
    assert [m["label"] for m in report["models"]] == ["compact", "alexnet"]
    assert report["columns"] == ["mu=1", "mu=2", "fused"]
    statement = " ".join(report["protocol"]["statement"])
    assert "sigma^2 = 7.5 mm^2" in statement and "L = 8 km" in statement
    assert "k1 = 1 cm/km" in statement and "peak-to-peak S" in statement
    for model in report["models"]:
        assert len(model["cases"]) == 20  # 5 volumes x (alpha, beta) in {0, 1}^2
        assert {(c["alpha"], c["beta"]) for c in model["cases"]} == {
            (0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)}
        peaks = sorted({c["max_abs_d_m"] for c in model["cases"]})
        np.testing.assert_allclose(np.diff(np.log10(peaks)), 0.5, atol=1e-4)
        for c in model["cases"]:
            # fused P_max lies between the smallest and largest single-gain P_max
            assert c["p_fused"] <= max(c["p_by_gain"].values()) + 1e-6
        assert len(model["thresholds"]) == 4
        for t in model["thresholds"]:
            assert set(t["fits"]) == {"mu=1", "mu=2", "fused"}
            for fit in t["fits"].values():
                assert fit["status"] in {"fit", "below_range", "above_range", "failed"}
                assert (fit["threshold"] is None) == (fit["status"] != "fit")
                if fit["status"] == "fit":
                    assert fit["x_min"] <= fit["threshold"] <= fit["x_max"]
    md = (tmp_path / "detection_threshold.md").read_text()
    assert "| alpha | beta | mu=1 | mu=2 | fused |" in md
    assert "## Fused thresholds side by side (cm)" in md
    for label in ("compact", "alexnet"):
        assert (tmp_path / f"detection_threshold_{label}.png").stat().st_size > 10_000


def test_roc_report_matches_its_scores(tmp_path: Path, models: tuple[Path, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["evaluate", "roc", "--model", str(models[0]), "--out", str(tmp_path),
               "--size", "64", "--n", "10", "--n-atmosphere", "4", "--gains", "1,2"])
    assert rc == 0 and capsys.readouterr().out.startswith("compact: fused: AUC ")
    report = json.loads((tmp_path / "detection_roc.json").read_text())
    (model,) = report["models"]
    scores = model["scores"]
    assert scores["label"] == [0, 1] * 5
    assert all(p > 0 for p, y in zip(scores["peak_los_m"], scores["label"], strict=True) if y)
    assert all(0.005 <= p <= 0.5 for p, y in zip(scores["peak_los_m"], scores["label"],
                                                  strict=True) if y)
    assert model["auc"]["fused"] == pytest.approx(
        roc_curve(scores["fused"], scores["label"]).auc)
    conf = confusion_at(scores["fused"], scores["label"])
    assert model["confusion"]["tp"] == conf.tp and model["confusion"]["fp"] == conf.fp
    atm = model["atmosphere"]
    assert atm["n"] == 4
    assert atm["flagged"] == sum(p > 0.5 for p in atm["p_fused"])
    assert atm["false_positive_rate"] == pytest.approx(atm["flagged"] / 4)
    assert sum(b["n"] for b in model["recall_by_peak"]) == 5
    recipe = report["sets"]["held_out_recipe"]
    assert recipe["decorrelation_fraction"] == 0.8 and recipe["peak_los_m"] == [0.005, 0.5]
    assert report["sets"]["atmosphere_recipe"]["stratified_strength"] == "strong"
    # The second look changes only flagged images, and its block is computed from its own
    # scores like the fused one.
    look = model["second_look"]
    for raw, after in zip(scores["fused"], scores["fused+DEM"], strict=True):
        assert after == raw or raw > 0.5
    assert model["auc"]["fused+DEM"] == pytest.approx(
        roc_curve(scores["fused+DEM"], scores["label"]).auc)
    conf = confusion_at(scores["fused+DEM"], scores["label"])
    assert look["confusion"]["tp"] == conf.tp and look["confusion"]["fp"] == conf.fp
    assert look["atmosphere"]["flagged"] == sum(p > 0.5 for p in look["atmosphere"]["p_fused"])
    for block in (model, look):
        (all_, *rest) = block["auc_by_min_peak"]
        assert [b["min_peak_cm"] for b in rest] == [1.0, 2.0, 3.5]
        assert all_["n_positives"] == 5
    assert model["auc_by_min_peak"][0]["auc"] == pytest.approx(model["auc"]["fused"])
    assert report["sets"]["second_look"]["exclusion_radius_m"] == 3000.0
    md = (tmp_path / "detection_roc.md").read_text()
    assert "| compact |" in md and "FP rate (atmosphere)" in md
    assert "| compact + DEM second look |" in md
    assert (tmp_path / "detection_roc.png").stat().st_size > 10_000
    assert not math.isnan(model["seconds_per_image"])


def test_threshold_with_powerlaw_turbulence(tmp_path: Path, models: tuple[Path, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["evaluate", "threshold", "--model", str(models[0]), "--out", str(tmp_path),
               "--size", "64", "--depths-km", "3", "--incidences", "23", "--weights", "0,1",
               "--gains", "1", "--turbulence", "powerlaw", "--powerlaw-beta", "2.9"])
    capsys.readouterr()
    assert rc == 0
    report = json.loads((tmp_path / "detection_threshold.json").read_text())
    assert report["protocol"]["turbulence"] == "powerlaw"
    assert report["protocol"]["powerlaw_beta"] == 2.9
    statement = " ".join(report["protocol"]["statement"])
    assert "power law, 2-D spectrum k^-2.9" in statement and "L = 8 km" not in statement
    assert "std of the first field 2.74 mm" in statement


def test_evaluate_errors(tmp_path: Path, models: tuple[Path, Path],
                         capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["evaluate", "threshold", "--model", str(models[0]), "--out", str(tmp_path),
               "--size", "400"])
    assert rc == 2 and "--size <= " in capsys.readouterr().err
    rc = main(["evaluate", "roc", "--model", str(models[0]), "--out", str(tmp_path),
               "--size", "32", "--n", "4", "--dems", "atlantis"])
    assert rc == 2 and "atlantis" in capsys.readouterr().err
    rc = main(["evaluate", "threshold", "--model", str(tmp_path / "no.pt"),
               "--out", str(tmp_path)])
    assert rc == 6 and "no.pt" in capsys.readouterr().err

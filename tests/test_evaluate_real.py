"""``evaluate real`` on the committed real Erta Ale crop: counts, rates and refusals.

Run through the console entry point only; the crop holds 14 real Sentinel-1 pairs
(2016-01-17 to 2017-02-04), the last one with the January 2017 dyke (an event window).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main

CROP = Path(__file__).parent / "data" / "erta_ale_014A"
FRAME = "014A_07688_131313"


def _run(*extra: str) -> int:
    return main(["evaluate", "real", "--archive", str(CROP), "--frame", FRAME,
                 "--threads", "1", *extra])


def test_real_frame_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--events", "2017-01-11:2018-12-31", "--n-inject", "3", "--seed", "5",
                "--out", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "13 quiet" in out and "baseline" in out
    report = json.loads((tmp_path / "detection_real.json").read_text())
    md = (tmp_path / "detection_real.md").read_text()
    assert (tmp_path / "detection_real.png").stat().st_size > 0
    assert report["counts"] == {"products": 14, "quiet": 13, "event": 1, "skipped": 0,
                                "injected_epochs": 3, "injected_maps": 12}
    kinds = {e["pair"]: e["kind"] for e in report["epochs"] if e["kind"] != "injected"}
    assert kinds["20170111_20170204"] == "event"
    assert kinds["20161218_20170111"] == "quiet"
    injected = [e for e in report["epochs"] if e["kind"] == "injected"]
    assert sorted({e["amplitude_cm"] for e in injected}) == [1.0, 2.0, 3.0, 4.0]
    assert len({e["pair"] for e in injected}) == 3  # without replacement
    assert set(report["summary"]) == {"compact", "compact (raw fusion)", "block network",
                                      "baseline", "mogi matched filter", "mogi GLS filter",
                                      "compact, confirmed by GLS",
                                      "block network, confirmed by GLS"}
    for label, s in report["summary"].items():
        fpr = s["false_positive_rate"]
        assert fpr["n"] == 13 and 0 <= fpr["rate"] <= 1
        by_year = s["false_positive_rate_by_year"]
        assert set(by_year) == {"2016", "2017"}
        assert by_year["2016"]["n"] == 12 and by_year["2017"]["n"] == 1
        assert 0 <= s["auc"] <= 1 and 0 <= s["auc_min_2cm"] <= 1
        assert set(s["recall_by_amplitude"]) == {"1", "2", "3", "4"}
        assert all(b["n"] == 3 and 0 <= b["rate"] <= 1
                   for b in s["recall_by_amplitude"].values())
        # one false-alarm rate for all: the threshold flags at most 5% of the quiet maps
        fixed = s["recall_at_fixed_fpr"]
        assert fixed["fpr"] <= 0.05 and set(fixed["by_amplitude"]) == {"1", "2", "3", "4"}
        assert f"| {label} |" in md
    cnn = report["summary"]["compact"]
    assert set(cnn["quiet_by_gain"]) == {"1", "2", "4", "8"}
    # The crop has its DEM: the CNN's flags also go through the second look, as scan --dem.
    looked = cnn["false_positive_rate_second_look"]
    assert looked["n"] == 13 and looked["flagged"] <= cnn["false_positive_rate"]["flagged"]
    assert "after the second look" in md
    every = report["epochs"][0]["scores"]
    assert "ratio" in every["baseline"] and all(
        "p_by_gain" in v for k, v in every.items()
        if k not in ("baseline", "mogi matched filter", "mogi GLS filter", "block network",
                     "compact, confirmed by GLS", "block network, confirmed by GLS"))
    assert "False-positive rate" in md and "AUC >= 2 cm" in md
    assert "at one false-alarm rate" in md and "| mogi matched filter |" in md
    # Every year is scored, so the GLS filter's noise correlation is in-sample, and says so.
    gls = report["detectors"]["mogi GLS filter"]
    assert gls["correlation_maps"] == 13 and "in-sample" in gls["correlation_from"]
    # 13 maps are too few for an empirical 95% quantile: the Gaussian bound, and it says so
    assert gls["block_px"] == 6 and gls["threshold_maps"] == 0
    assert gls["threshold_t"] == pytest.approx(3.5, abs=0.3)
    assert "Bonferroni" in gls["threshold_from"] and "need at least 20" in md
    assert "whitened with the frame's noise correlation (from 13 the scored quiet" in md
    # the network confirmed by the GLS filter: flagged only where both flag, P the smaller
    for e in report["epochs"]:
        sc = e["scores"]
        both = sc["compact, confirmed by GLS"]
        assert both["p"] == min(sc["compact"]["p"], sc["mogi GLS filter"]["p"])
        assert both["flag"] == (sc["compact"]["flag"] and sc["mogi GLS filter"]["flag"])
        if "flag_second_look" in sc["compact"]:
            assert both["flag_second_look"] == (sc["compact"]["flag_second_look"]
                                                and sc["mogi GLS filter"]["flag"])
    assert "compact, confirmed by GLS: compact's flags where mogi GLS filter" in md
    for e in report["epochs"]:
        sc = e["scores"]
        both = sc["block network, confirmed by GLS"]
        assert both["p"] == min(sc["block network"]["p"], sc["mogi GLS filter"]["p"])
    # the packaged block detector is scored beside the others, with its provenance
    blocks = report["detectors"]["block network"]
    assert blocks["model"] == "blocks.pt" and len(blocks["sha256"]) == 64
    assert blocks["calibration"]["slope"] > 0 and blocks["trained_on"]["val_years"]
    assert blocks["gap_gate"] == 0.1 and "10% of its blocks invalid or more" in md
    # the crop has its heights: each map's stratified delay is a nuisance of the filter
    assert gls["nuisance"] == "plane and height" and "plane and height as nuisance" in md


def test_gls_noise_correlation_comes_from_other_years(tmp_path: Path) -> None:
    """Scoring 2017 only, the correlation comes from the 12 quiet products of 2016."""
    assert _run("--events", "2017-01-11:2018-12-31", "--years", "2017", "--n-inject", "1",
                "--out", str(tmp_path)) == 0
    report = json.loads((tmp_path / "detection_real.json").read_text())
    gls = report["detectors"]["mogi GLS filter"]
    assert gls["correlation_maps"] == 12
    assert gls["correlation_from"] == "quiet products of the years not scored"
    assert report["counts"]["quiet"] == 1


def test_block_detector_left_out_or_refused_by_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--events", "2017-01-11:2018-12-31", "--years", "2017", "--n-inject", "1",
                "--blocks", "none", "--out", str(tmp_path)) == 0
    report = json.loads((tmp_path / "detection_real.json").read_text())
    assert "block network" not in report["summary"]
    capsys.readouterr()
    missing = tmp_path / "missing.pt"
    assert _run("--events", "2017-01-11:2018-12-31", "--blocks", str(missing)) == 6
    assert f"model file {str(missing)!r} does not exist" in capsys.readouterr().err


def test_bad_events_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--events", "2017-01-11-2018") == 2
    err = capsys.readouterr().err
    assert "--events" in err and "YYYY-MM-DD" in err
    assert _run("--events", "2018-01-01:2017-01-01") == 2
    assert "ends before it starts" in capsys.readouterr().err


def test_frame_without_quiet_epochs_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--events", "2015-01-01:2018-01-01", "--n-inject", "1") == 2
    err = capsys.readouterr().err
    assert FRAME in err and "no quiet epoch" in err

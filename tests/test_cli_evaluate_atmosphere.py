"""``insar-monitor evaluate atmosphere`` on a tiny configuration: the report's fields agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main


def test_atmosphere_report_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["evaluate", "atmosphere", "--arch", "compact", "--out", str(tmp_path),
               "--size", "96", "--n", "3", "--gains", "1,2", "--threads", "1",
               "--target-radius-km", "1.5"])
    assert rc == 0 and capsys.readouterr().out.startswith("compact: flagged atmosphere ")
    report = json.loads((tmp_path / "detection_atmosphere.json").read_text())
    assert report["kind"] == "atmosphere" and report["dems"] == ["agung", "sakurajima"]
    assert report["methods"] == ["empirical", "empirical_plain", "weather_model", "perfect"]
    assert report["config"]["size"] == 96 and report["gains"] == [1.0, 2.0]
    assert report["config"]["target_radius_m"] == 1500.0
    assert report["config"]["fit_exclusion_radii"] == 1.0
    assert report["config"]["band_sigma_m"] == 1000.0 and report["config"]["order"] == 2
    statement = " ".join(report["statement"])
    assert "1-3 cm/km" in statement and "sigma 3 mm" in statement and "L = 15 km" in statement
    (model,) = report["models"]
    cases = model["cases"]
    assert [c["kind"] for c in cases] == ["atmosphere"] * 3 + ["deformation"] * 3
    assert [c["dem_name"] for c in cases[:3]] == ["agung", "sakurajima", "agung"]
    for c in cases:
        flagged = c["p_raw"] > 0.5
        assert set(c["p_after"]) == (set(report["methods"]) if flagged else set())
        assert (c["peak_los_m"] > 0) == (c["kind"] == "deformation")
        assert set(c["failures"]) <= set(c["p_after"])
        # The perfect correction is what p_without_stratification reports.
        assert c["p_without_stratification"] == (c["p_after"]["perfect"] if flagged
                                                 else None)
    overall = model["summary"]["overall"]
    for kind, share in (("atmosphere", "cleared_share"), ("deformation", "kept_share")):
        sel = [c for c in cases if c["kind"] == kind]
        flagged = [c for c in sel if c["p_raw"] > 0.5]
        block = overall[kind]
        assert block["n"] == 3 and block["flagged"] == len(flagged)
        for method in report["methods"]:
            still = sum(c["p_after"][method] > 0.5 for c in flagged)
            assert block[method]["flagged_after"] == still
            if flagged:
                expected = (len(flagged) - still if kind == "atmosphere" else still)
                assert block[method][share] == pytest.approx(expected / len(flagged))
            else:
                assert block[method][share] is None  # NaN is written as null
    detectable = [c for c in cases if c["kind"] == "deformation" and c["p_raw"] > 0.5
                  and c["p_without_stratification"] > 0.5]
    assert overall["deformation"]["detectable"] == len(detectable)
    for method in report["methods"]:
        kept = sum(c["p_after"][method] > 0.5 for c in detectable)
        assert overall["deformation"][method]["kept_share_detectable"] == (
            pytest.approx(kept / len(detectable)) if detectable else None)
    assert set(model["summary"]["by_dem"]) == {"agung", "sakurajima"}
    assert sum(b["n"] for b in model["summary"]["by_peak_los_cm"]) == 3
    md = (tmp_path / "detection_atmosphere.md").read_text()
    assert "# Atmospheric correction of flagged steps" in md
    assert "| all | weather model (simulated GACOS) |" in md
    assert "| all | perfect (x - S): the ceiling |" in md


def test_atmosphere_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["evaluate", "atmosphere", "--arch", "compact", "--out", str(tmp_path),
               "--size", "64", "--n", "2", "--dems", "atlantis"])
    assert rc == 2 and "atlantis" in capsys.readouterr().err
    rc = main(["evaluate", "atmosphere", "--arch", "compact", "--out", str(tmp_path),
               "--size", "64", "--n", "0"])
    assert rc == 2 and "--n" in capsys.readouterr().err

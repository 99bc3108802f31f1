"""``evaluate series``: the synthetic curve and the real mode, through the console entry.

Tiny synthetic settings (64-pixel grids, 1 km targets, 16 epochs, 1-2 seeds) keep the
runs to seconds; the real mode runs on the committed Erta Ale crop
(tests/data/erta_ale_014A: 14 real pairs, 2016-01-17 to 2017-02-04, the January 2017 dyke
in the last one; see its README).
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import AlertSettings
from monitor.errors import InputError
from monitor.evaluation.series_policy import quantile, single_map_only, sweep_settings
from monitor.notify.policy import StepScore, evaluate
from monitor.science.synth_series import SeriesScenario

CROP = Path(__file__).parent / "data" / "erta_ale_014A"
FRAME = "014A_07688_131313"
EVENT = "2017-01-11:2018-12-31"
#: A tiny synthetic run: 16 epochs, onset at epoch 10 (the time-series rule speaks from
#: its 10th scored epoch on), 64 px of 0.001 degree, a 1 km target.
TINY = ["--size", "64", "--target-radius-km", "1", "--epochs", "16", "--slow-epochs", "16",
        "--onset-epoch", "10", "--turbulence", "1", "--threads", "1"]


def _series(*argv: str) -> int:
    return main(["evaluate", "series", *argv])


def test_step_scenario_adds_its_step_after_the_onset() -> None:
    onset = date(2024, 1, 30)
    s = SeriesScenario(start=date(2024, 1, 6), n_epochs=5, onset=onset, rate_m_per_yr=0.0,
                       step_m=0.05)
    assert [s.amplitude_m(e) for e in s.epochs] == [0.0, 0.0, 0.0, 0.05, 0.05]
    ramp = SeriesScenario(start=date(2024, 1, 6), n_epochs=5, onset=onset)
    assert ramp.step_m == 0.0 and ramp.amplitude_m(ramp.epochs[3]) == pytest.approx(
        0.10 * 12 / 365.25)
    with pytest.raises(InputError, match="step_m must be finite"):
        SeriesScenario(step_m=math.nan)
    with pytest.raises(InputError, match="needs an onset"):
        SeriesScenario(onset=None, step_m=0.02)


def test_policy_helpers() -> None:
    assert quantile([10.0, 20.0, 30.0], 0.5) == 20.0
    assert quantile([10.0, 20.0, math.inf], 0.5) == 20.0
    assert quantile([10.0, math.inf, math.inf], 0.5) is None and quantile([], 0.5) is None
    base = AlertSettings()
    sweep = sweep_settings(base, (3.0, 8.0))
    assert [z for z, _ in sweep] == [3.0, base.trend_z_watch, 8.0]
    assert sweep[1][1] is base and sweep[0][1].trend_z_warning == base.trend_z_warning
    assert sweep[2][1].trend_z_warning == 8.0
    with pytest.raises(InputError, match="--z-sweep"):
        sweep_settings(base, (0.0,))
    off = single_map_only(base)
    # An unambiguous step and a huge change of the series: only the single-map rule speaks.
    steps = [StepScore(date(2024, 1, 1 + k), 0.99, 0.001, 0.5 * k, 0.2, "s", 0.001)
             for k in range(14)]
    assert all(s.reason.startswith(("qualifies", "2 consecutive"))
               for s in evaluate(steps, off))
    assert evaluate(steps, base)[0].fast and not any(s.fast for s in evaluate(steps, off))


def _report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _epochs(case: dict[str, Any]) -> list[dict[str, Any]]:
    """A case's per-epoch scores (stored one list per field) as one record per epoch."""
    columns = case["epochs"]
    return [dict(zip(columns, values, strict=True))
            for values in zip(*columns.values(), strict=True)]


def test_synthetic_curve_time_series_rule_alone(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # Series of 16 epochs: the time-series rule may speak from the 8th (default 15).
    config = tmp_path / "short.toml"
    config.write_text("[alerts]\ntrend_min_epochs = 8\n", encoding="utf-8")
    assert _series(*TINY, "--no-cnn", "--dems", "campi_flegrei,taal", "--rates", "8.5",
                   "--steps", "10", "--seeds", "2", "--z-sweep", "3,6",
                   "--config", str(config), "--out-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert f"operating point: trend_z_watch {AlertSettings().trend_z_watch:g}" in out
    assert "time-series rule alone" in out
    report = _report(tmp_path / "detection_series_synthetic.json")
    assert (tmp_path / "detection_series_curve.png").stat().st_size > 0
    md = (tmp_path / "detection_series_synthetic.md").read_text()
    assert "detection_series_curve.png" in md and "(operating point)" in md
    assert report["model"] is None and report["seeds"] == [0, 1]
    z = AlertSettings().trend_z_watch
    assert [p["z_watch"] for p in report["curve"]] == sorted({3.0, 6.0, z})
    assert [p["operating_point"] for p in report["curve"]] == [
        v == z for v in sorted({3.0, 6.0, z})]
    cases = report["cases"]
    assert len(cases) == 6 and {c["dem"] for c in cases} == {"campi_flegrei", "taal"}
    years = {"quiet": 0.0, "pre_onset": 0.0}
    for case in cases:
        epochs = _epochs(case)
        assert len(epochs) == 15
        assert all(e["p_fused"] is None and e["lstt_p"] is None and e["step_lstt_p"] is None
                   for e in epochs)
        truth = [e["truth_m"] for e in epochs]
        if case["kind"] == "step":  # the known truth: 10 cm at once after epoch 10
            assert truth[:10] == [0.0] * 10 and truth[10:] == pytest.approx([0.10] * 5)
        # Quiet time: the scored epochs up to the onset (all for quiet series), 12 days
        # each; an epoch whose target disc is all incoherent is not scored.
        last = 15 if case["kind"] == "quiet" else 10
        scored = sum(e["bell_m"] is not None for e in epochs[:last])
        assert case["scored_epochs"] == sum(e["bell_m"] is not None for e in epochs)
        assert case["operating_point"]["quiet_years"] == pytest.approx(scored * 12 / 365.25)
        years["quiet" if case["kind"] == "quiet" else "pre_onset"] += scored * 12 / 365.25
        if case["kind"] == "quiet":
            assert truth == [0.0] * 15
        if case["kind"] == "step" and scored:
            # A 10 cm step under 1 cm of turbulence is alerted, at most two acquisitions
            # after the first carrying it, with the whole step accumulated.
            outcome = case["operating_point"]
            assert outcome["delay_acquisitions"] <= 2, outcome
            assert outcome["cumulative_cm"] == pytest.approx(10.0)
    assert any(c["kind"] == "step" and c["scored_epochs"] for c in cases)
    op = next(p for p in report["curve"] if p["operating_point"])
    # False alerts: the quiet series' years and the pre-onset years add up.
    fa = op["false_alerts"]
    assert fa["quiet"]["years"] == pytest.approx(years["quiet"])
    assert fa["pre_onset"]["years"] == pytest.approx(years["pre_onset"])
    assert fa["all"]["alerts"] == fa["quiet"]["alerts"] + fa["pre_onset"]["alerts"]
    groups = {g["kind"]: g for g in op["groups"]}
    assert groups["step"]["n"] == 2 and groups["step"]["without_target"] == sum(
        not c["scored_epochs"] for c in cases if c["kind"] == "step")
    # A lower threshold never alerts less before the onset.
    low = next(p for p in report["curve"] if p["z_watch"] == 3.0)
    assert low["false_alerts"]["all"]["alerts"] >= fa["all"]["alerts"]


def test_stored_scores_give_the_same_policy(tmp_path: Path) -> None:
    """The report's per-epoch scores are enough to re-run the policy (the sweep's idea)."""
    path = tmp_path / "r.json"
    assert _series(*TINY, "--no-cnn", "--dems", "agung", "--rates", "10", "--steps",
                   "none", "--no-quiet", "--seeds", "1", "--z-sweep", "5",
                   "--json", str(path)) == 0
    case = _report(path)["cases"][0]
    scores = [StepScore(date.fromisoformat(e["epoch"]), e["p_fused"], e["lstt_p"],
                        e["bell_m"], e["step_m"], "s", e["step_lstt_p"])
              for e in _epochs(case)]
    raised = [s.epoch.isoformat() for s in evaluate(scores, AlertSettings())
              if s.raised is not None]
    alert = case["operating_point"]["alert"]
    assert (alert is None) == (not [e for e in raised if e > "2024-05-29"])
    if alert is not None:
        assert alert["epoch"] in raised


def test_synthetic_full_path(tmp_path: Path) -> None:
    path = tmp_path / "full.json"
    config = tmp_path / "cnn.toml"
    config.write_text('[science]\ndetector = "cnn"\n', encoding="utf-8")
    assert _series(*TINY, "--dems", "sakurajima", "--rates", "none", "--steps", "10",
                   "--no-quiet", "--seeds", "1", "--permutations", "20", "--z-sweep", "5",
                   "--config", str(config), "--json", str(path)) == 0
    report = _report(path)
    assert report["model"]["arch"] == "compact" and len(report["model"]["sha256"]) == 64
    assert "CNN" in report["scored_with"]
    epochs = _epochs(report["cases"][0])
    assert all(e["p_fused"] is not None and 0 <= e["p_fused"] <= 1 for e in epochs)
    assert all(e["lstt_p"] is not None for e in epochs)
    # The fast path's LSTT of each increment, as the watch measures it.
    assert all(e["step_lstt_p"] is not None for e in epochs)
    # The step's own interferogram moves the target more than any quiet one.
    assert epochs[10]["step_m"] > max(e["step_m"] for e in epochs[:10])


def test_acquisitions_before_the_start_begin_the_gls_history(tmp_path: Path) -> None:
    """--history-epochs: quiet acquisitions before each series begin the GLS filter's
    noise history, as the watch borrows the archive's products before a target's start,
    so the filter judges from the series' first increment; without them a series of 16
    acquisitions ends within the warm-up and no epoch is judged."""
    judged = {}
    for lead in (0, 20):
        path = tmp_path / f"lead{lead}.json"
        assert _series("--size", "120", "--target-radius-km", "1", "--epochs", "16",
                       "--onset-epoch", "10", "--turbulence", "1", "--threads", "1",
                       "--dems", "sakurajima", "--rates", "none", "--steps", "10",
                       "--no-quiet", "--seeds", "1", "--permutations", "20",
                       "--z-sweep", "5", "--history-epochs", str(lead),
                       "--json", str(path)) == 0
        report = _report(path)
        assert report["options"]["history_epochs"] == lead
        case = report["cases"][0]
        epochs = _epochs(case)
        assert len(epochs) == 15  # the series' own: those before it are not scored
        judged[lead] = [e["gls_p"] for e in epochs]
    assert all(p is None for p in judged[0])
    assert all(p is not None for p in judged[20])
    # The 10 cm step after the onset: the filter confirms it.
    assert judged[20][10] > 0.5


def test_synthetic_second_look_through_the_watch_port(tmp_path: Path) -> None:
    """With --second-look, epochs whose raw scores qualify are corrected by the
    phase-elevation fit over the DEM (the DEM-only archive publishes no delays)."""
    path = tmp_path / "look.json"
    # A permissive single-map rule: every epoch's raw CNN score qualifies for watch.
    config = tmp_path / "permissive.toml"
    # the second look is the CNN's (the block detector fits its own plane and height term)
    config.write_text('[alerts]\ncombine = "cnn"\np_watch = 0.01\np_warning = 0.99\n'
                      '[science]\ndetector = "cnn"\n')
    assert _series(*TINY, "--dems", "sakurajima", "--stratification", "strong",
                   "--rates", "none", "--steps", "none", "--seeds", "1", "--size", "100",
                   "--target-radius-km", "2", "--permutations", "20", "--z-sweep", "5",
                   "--config", str(config), "--second-look", "--json", str(path)) == 0
    report = _report(path)
    assert "second look by the phase-elevation fit" in report["scored_with"]
    looks = report["cases"][0]["epochs"]["second_look"]
    assert set(looks) == {"empirical"}
    assert report["alerts"]["p_watch"] == 0.01  # the configured operating point
    assert _series("--no-cnn", "--second-look") == 2


def test_the_default_block_detector_takes_no_second_look(tmp_path: Path) -> None:
    """--second-look asks for the CNN's correction; the default block detector judges
    increments and takes none, and the report says so."""
    path = tmp_path / "blocks.json"
    assert _series(*TINY, "--dems", "sakurajima", "--rates", "none", "--steps", "10",
                   "--no-quiet", "--seeds", "1", "--permutations", "20", "--z-sweep", "5",
                   "--second-look", "--json", str(path)) == 0
    report = _report(path)
    assert report["model"]["arch"] == "blocks"
    assert report["scored_with"].startswith("the watch's path: the block detector")
    assert "no second look (the block detector takes none)" in report["scored_with"]
    assert set(report["cases"][0]["epochs"]["second_look"]) == {None}


def _real(tmp_path: Path, *extra: str) -> dict[str, Any]:
    path = tmp_path / "real.json"
    assert _series("--archive", str(CROP), "--frame", FRAME, "--target", "40.67,13.60,3",
                   "--threads", "1", "--json", str(path), *extra) == 0
    return _report(path)


def test_real_crop_with_an_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _real(tmp_path, "--events", EVENT, "--z-sweep", "3,8", "--out-dir",
                   str(tmp_path / "out"))
    out = capsys.readouterr().out
    assert "single-map rule alone" in out and "first acquisition 2017-02-04" in out
    assert (tmp_path / "out" / "detection_series_real.png").stat().st_size > 0
    assert "## The sweep of trend_z_watch" in (
        tmp_path / "out" / "detection_series_real.md").read_text()
    assert report["counts"] == {"listed": 15, "scored": 14, "skipped": 0, "quiet_scored": 13}
    assert report["archive"] == "erta_ale_014A"  # no absolute path in the report
    # the default detector: the packaged block detector, on each epoch's newest increment
    assert report["model"]["path"] == "packaged:blocks" and report["model"]["arch"] == "blocks"
    op = report["operating_point"]
    # Quiet time: the 13 scored epochs before the dyke's pair, 2016-01-17 to 2017-01-11.
    assert op["false_alerts"]["years"] == pytest.approx(360 / 365.25)
    (event,) = op["events"]
    assert event["window"] == ["2017-01-11", "2018-12-31"]
    assert event["first_acquisition"] == "2017-02-04"
    assert [e["epoch"] for e in report["epochs"] if e["in_event"]] == ["2017-02-04"]
    # Every alert is an epoch whose policy record raised it.
    raised = {e["epoch"]: e["policy"]["alert"] for e in report["epochs"]
              if e["policy"] and e["policy"]["alert"]}
    assert {a["epoch"]: a["level"] for a in op["alerts"]} == raised
    assert op["false_alerts"]["alerts"] == sum(not a["in_event"] for a in op["alerts"])
    # The baseline never uses the time-series rule or the fast path.
    base = report["single_map_rule"]
    assert all(not a["fast"] and "consecutive" in a["reason"] for a in base["alerts"])
    assert [p["z_watch"] for p in report["sweep"]] == sorted(
        {3.0, 8.0, AlertSettings().trend_z_watch})
    assert [p["operating_point"] for p in report["sweep"]] == [False, True, False]
    assert report["sweep"][1]["false_alerts"] == op["false_alerts"]


def test_real_mode_runs_the_policy_as_scan_series_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _real(tmp_path, "--events", EVENT, "--z-sweep", "5")
    capsys.readouterr()
    assert main(["scan-series", str(CROP), "--frame", FRAME, "--target", "40.67,13.60,3",
                 "--threads", "1", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    scan = {r["epoch"]: r for r in lines if r["scored"]}
    assert set(scan) == {e["epoch"] for e in report["epochs"] if e["scored"]}
    for e in report["epochs"]:
        if e["scored"]:
            s = scan[e["epoch"]]
            assert e["p_fused"] == pytest.approx(s["p_fused"], abs=1e-6)
            assert e["bell_m"] == pytest.approx(s["bell_m"], abs=1e-9)
            assert e["policy"]["level"] == s["policy"]["level"]
            assert e["policy"]["alert"] == s["policy"]["alert"]


@pytest.mark.parametrize(("argv", "words"), [
    (["--dems", "etna"], ["--dems", "etna", "campi_flegrei"]),
    (["--rates", "1,fast"], ["--rates", "numbers"]),
    (["--rates", "-2"], ["--rates", "positive"]),
    (["--turbulence", "none"], ["--turbulence"]),
    (["--rates", "none", "--steps", "none", "--no-quiet"], ["nothing to evaluate"]),
    (["--epochs", "20", "--onset-epoch", "19"], ["--epochs", "--onset-epoch"]),
    (["--z-sweep", "0,5"], ["--z-sweep"]),
    (["--seeds", "0"], ["--seeds"]),
    (["--history-epochs", "31"], ["--history-epochs", "31", "30"]),
    (["--events", EVENT], ["--events", "only with --archive"]),
])
def test_bad_synthetic_options_are_refused(argv: list[str], words: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert _series("--no-cnn", *argv) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err


@pytest.mark.parametrize(("argv", "words"), [
    (["--events", "2017-01-11-2018"], ["--events", "YYYY-MM-DD"]),
    (["--events", "2018-01-01:2017-01-01"], ["--events", "ends before it starts"]),
    (["--events", "2020-01-01:2020-12-31"], ["--events", "holds no acquisition",
                                             "2016-01-17 to 2017-02-04"]),
    (["--events", "2015-01-01:2016-01-17"], ["--events", "holds no acquisition"]),
    (["--target", "10,10"], ["--target", "outside the frame"]),
    (["--target", "40.67"], ["--target"]),
])
def test_bad_real_options_are_refused(argv: list[str], words: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--archive", str(CROP), "--frame", FRAME, "--target", "40.67,13.60,3", *argv]
    assert _series(*args) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err


def test_real_mode_needs_frame_and_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert _series("--archive", str(CROP)) == 2
    err = capsys.readouterr().err
    assert "--frame" in err and "--target" in err

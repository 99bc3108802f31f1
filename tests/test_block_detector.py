"""The block detector: its input, windows, calibration, model files and training command.

Real maps come from the committed Erta Ale crop (tests/data/erta_ale_014A: 14 real
Sentinel-1 pairs of 2016-01-17 to 2017-02-04, the last one with the January 2017 dyke).
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.cli import main
from monitor.config import load_settings
from monitor.errors import InputError, ModelError
from monitor.io.models import (
    LoadedBlockModel,
    LoadedModel,
    load_block_model,
    load_model,
    load_scoring_model,
    save_model,
)
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.blocks import (
    WINDOW_BLOCKS,
    BlockCalibration,
    BlockDetector,
    BlockNet,
    fit_slope,
    fit_slope_above,
    window_channels,
    window_starts,
)
from monitor.science.detect.compact import CompactNet
from monitor.science.detect.gated_blocks import GAP_GATE, GatedBlockNet, coherent_scale
from monitor.science.injection import mogi_unit_los

CROP = Path(__file__).parent / "data" / "erta_ale_014A"
FRAME = "014A_07688_131313"


@pytest.fixture(scope="module")
def crop_maps() -> tuple[list[np.ndarray], tuple[float, float], np.ndarray | None]:
    bank = load_noise_bank(str(CROP), FRAME, load_settings(None),
                           events=((date(2017, 1, 11), date(2018, 12, 31)),))
    return [e.displacement_m for e in bank.epochs], bank.grid.pixel_m, bank.dem


def test_windows_cover_the_axis_every_half_window_and_end_at_its_edge() -> None:
    assert window_starts(30, 30) == [0] and window_starts(12, 30) == [0]
    assert window_starts(31, 30) == [0, 1]
    assert window_starts(83, 30) == [0, 15, 30, 45, 53]
    for n in (31, 59, 60, 61, 200):
        starts = window_starts(n, 30)
        assert starts[0] == 0 and starts[-1] == n - 30
        assert all(0 < b - a <= 15 for a, b in zip(starts, starts[1:], strict=False))


def test_window_channels_remove_plane_and_height_and_say_where_data_are() -> None:
    rows, cols = np.mgrid[:30, :30].astype(float)
    heights = 400.0 + 30.0 * np.sin(rows / 4.0) * np.cos(cols / 5.0)
    rng = np.random.default_rng(1)
    noise = 1e-3 * rng.standard_normal((30, 30))
    b = 0.01 + 2e-4 * rows - 3e-4 * cols + 5e-5 * heights + noise
    b[:5, :7] = np.nan
    x = window_channels(b, heights)
    assert x.shape == (2, 30, 30) and x.dtype == np.float32
    assert (x[1] == np.isfinite(b)).all() and (x[0][:5, :7] == 0).all()
    # the ramp and the height term are gone: what is left is the noise, robustly unit
    resid = x[0][x[1] > 0]
    assert abs(np.median(resid)) < 0.2 and 0.8 < 1.4826 * np.median(np.abs(resid)) < 1.2
    assert np.corrcoef(resid, noise[np.isfinite(b)])[0, 1] > 0.99


def test_a_mostly_incoherent_window_is_refused_by_name() -> None:
    b = np.full((30, 30), np.nan)
    b[:10, :10] = 0.0
    with pytest.raises(InputError, match="100 of 900 blocks valid"):
        window_channels(b, None)
    with pytest.raises(InputError, match="differ in shape"):
        window_channels(np.zeros((30, 30)), np.zeros((29, 30)))


def test_the_slope_fit_recovers_a_known_platt_slope() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 3.0, 20000)
    y = (rng.random(z.size) < 1.0 / (1.0 + np.exp(-0.4 * (z - 1.5)))).astype(float)
    assert fit_slope(z, y, 1.5) == pytest.approx(0.4, abs=0.03)
    with pytest.raises(InputError, match="at least 2 quiet and 2 deformed"):
        fit_slope([0.1, 0.2, 0.3], [0, 0, 1], 0.0)


def test_calibration_puts_p_one_half_at_its_threshold_and_reads_back() -> None:
    cal = BlockCalibration(1.2, 0.7, {"years": [2021]})
    assert float(cal.probability(1.2)) == pytest.approx(0.5)
    assert float(cal.probability(3.0)) > 0.5 > float(cal.probability(0.0))
    again = BlockCalibration.from_meta(cal.to_meta(), "here")
    assert again == cal
    with pytest.raises(InputError, match="here: meta\\['calibration'\\] is not a block"):
        BlockCalibration.from_meta({"slope": 1.0}, "here")
    with pytest.raises(InputError, match="slope positive"):
        BlockCalibration(0.0, -1.0)


def test_the_slope_above_the_threshold_is_its_own_and_never_flatter() -> None:
    cal = BlockCalibration(1.0, 0.3, {"years": [2021]}, 1.8)
    assert float(cal.probability(1.0)) == pytest.approx(0.5)
    # below: the slope through the threshold; above: the steeper one
    assert float(cal.probability(0.0)) == pytest.approx(1.0 / (1.0 + np.exp(0.3)))
    assert float(cal.probability(2.0)) == pytest.approx(1.0 / (1.0 + np.exp(-1.8)))
    p = cal.probability(np.linspace(-10.0, 10.0, 401))
    assert np.all(np.diff(p) > 0)
    assert BlockCalibration.from_meta(cal.to_meta(), "here") == cal
    # a file calibrated before the slope above existed keeps one slope
    old = BlockCalibration.from_meta({"threshold": 1.0, "slope": 0.3}, "here")
    assert old.slope_above is None and old.upper_slope == 0.3
    with pytest.raises(InputError, match="no smaller"):
        BlockCalibration(1.0, 0.3, None, 0.2)
    # the fit: one slope through the threshold is flattened by small sources below it;
    # above it, every map but one quiet one is deformed, so its own slope is steeper
    rng = np.random.default_rng(5)
    quiet = rng.normal(-1.5, 1.0, 60)
    deformed = np.r_[rng.normal(-1.0, 1.0, 60), rng.normal(6.0, 2.0, 60)]
    logits = np.r_[quiet, deformed]
    labels = np.r_[np.zeros(quiet.size), np.ones(deformed.size)]
    one = fit_slope(logits, labels, 0.2)
    above = fit_slope_above(logits, labels, 0.2, one)
    assert above > 2 * one
    # fewer than two deformed maps above the threshold: the one slope
    assert fit_slope_above([-1.0, -2.0, 3.0], [0, 1, 1], 0.0, 0.4) == 0.4


def test_a_large_map_is_scored_window_by_window_and_the_peak_follows_the_source(
        crop_maps: tuple[list[np.ndarray], tuple[float, float], np.ndarray | None]) -> None:
    """Nine real quiet maps side by side (about 60 x 60 km); a 6 cm Mogi source in the
    bottom-right one: the packaged detector flags the mosaic there and not without it."""
    maps, pixel_m, _ = crop_maps
    h, w = 180, 180
    mosaic = np.block([[maps[3 * i + j][:h, :w] for j in range(3)] for i in range(3)])
    loaded = load_block_model()
    detector = BlockDetector(loaded.model, loaded.calibration, pixel_m)
    quiet = detector.detect(mosaic)
    windows = detector.window_logits(mosaic)
    n = len(window_starts(mosaic.shape[0] // detector.factor, WINDOW_BLOCKS))
    assert len(windows) == n * n
    assert quiet.prob_map.shape == mosaic.shape
    assert quiet.p_fused == pytest.approx(float(quiet.prob_map.max()))
    assert quiet.prob_map[quiet.peak_row, quiet.peak_col] == pytest.approx(quiet.p_fused)
    source = np.zeros_like(mosaic)
    centre = (2 * h + h // 2, 2 * w + w // 2)
    east_m = (centre[1] - (3 * w - 1) / 2) * pixel_m[0]
    north_m = ((3 * h - 1) / 2 - centre[0]) * pixel_m[1]
    source += 0.06 * mogi_unit_los(mosaic.shape, pixel_m, east_m, north_m, 3000.0)
    found = detector.detect(mosaic + source)
    assert found.flag and found.p_fused > quiet.p_fused
    distance_km = 1e-3 * np.hypot((found.peak_row - centre[0]) * pixel_m[1],
                                  (found.peak_col - centre[1]) * pixel_m[0])
    assert distance_km < 4.0
    # the windows far from the source barely see it (only its far tail reaches them)
    assert found.prob_map[:h, :w].max() == pytest.approx(quiet.prob_map[:h, :w].max(),
                                                         abs=0.02)


def test_every_pixel_of_a_map_belongs_to_a_window(
        crop_maps: tuple[list[np.ndarray], tuple[float, float], np.ndarray | None]) -> None:
    """The real clip is 181 x 185 pixels, not whole blocks of 6: the pixels past the last
    block still get the P of the window on that edge, and the heights change the score."""
    maps, pixel_m, dem = crop_maps
    loaded = load_block_model()
    with_dem = BlockDetector(loaded.model, loaded.calibration, pixel_m, dem)
    det = with_dem.detect(maps[0])
    assert det.prob_map.shape == (181, 185) and (det.prob_map == det.p_fused).all()
    flat = BlockDetector(loaded.model, loaded.calibration, pixel_m).detect(maps[0])
    assert flat.p_fused != pytest.approx(det.p_fused, abs=1e-6)


def test_maps_the_detector_cannot_score_are_refused_by_name() -> None:
    loaded = load_block_model()
    detector = BlockDetector(loaded.model, loaded.calibration, (100.0, 100.0))
    with pytest.raises(InputError, match="must be 2-D"):
        detector.detect(np.zeros(100))
    with pytest.raises(InputError, match="smaller than 4 blocks"):
        detector.detect(np.zeros((20, 100)))
    with pytest.raises(InputError, match="no window of 30 x 30 blocks"):
        detector.detect(np.full((200, 200), np.nan))
    with pytest.raises(InputError, match="pixel_m"):
        BlockDetector(loaded.model, loaded.calibration, (0.0, 100.0))
    with pytest.raises(InputError, match="heights"):
        BlockDetector(loaded.model, loaded.calibration, (100.0, 100.0),
                      np.zeros((10, 10))).detect(np.zeros((200, 200)))


def test_block_and_patch_model_files_are_not_mistaken_for_each_other(tmp_path: Path) -> None:
    packaged = load_block_model()
    assert packaged.calibration.slope > 0 and packaged.meta["options"]["val_years"]
    with pytest.raises(ModelError, match="holds the block detector"):
        load_model(packaged.path)
    compact = tmp_path / "compact.pt"
    save_model(compact, CompactNet(), {})
    with pytest.raises(ModelError, match="holds a 'compact' network, not the block"):
        load_block_model(compact)
    bare = tmp_path / "bare.pt"
    save_model(bare, BlockNet(8), {})
    with pytest.raises(ModelError, match="has no calibration"):
        load_block_model(bare)
    wrong = tmp_path / "wrong.pt"
    save_model(wrong, BlockNet(8), {"calibration": {"threshold": "x", "slope": 1.0}})
    with pytest.raises(ModelError, match="not a block calibration record"):
        load_block_model(wrong)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(Path(packaged.path).read_bytes()[:5000])
    with pytest.raises(ModelError, match="corrupt, truncated"):
        load_block_model(broken)
    with pytest.raises(ModelError, match="does not exist"):
        load_block_model(tmp_path / "none.pt")


@pytest.fixture(scope="module")
def two_blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The crop and its 2016 pairs again, dated three and four years later: a training and
    a validation block of real noise (the same noise: this checks the machinery, not the
    science)."""
    root = tmp_path_factory.mktemp("archive")
    frame = root / FRAME
    shutil.copytree(CROP / FRAME, frame)
    for pair in sorted((frame / "interferograms").iterdir()):
        d1, d2 = pair.name.split("_")
        if d2[:4] != "2016":
            continue
        for years in (3, 4):
            later = f"{int(d1[:4]) + years}{d1[4:]}_{int(d2[:4]) + years}{d2[4:]}"
            (frame / "interferograms" / later).mkdir()
            for f in pair.iterdir():
                shutil.copy(f, frame / "interferograms" / later
                            / f.name.replace(pair.name, later))
    return root


def _train(archive: Path, out: Path, *extra: str) -> int:
    return main(["train-blocks", "--archive", str(archive), "--frame", FRAME,
                 "--events", "2017-01-11:2017-12-31", "--train-years", "2016",
                 "--val-years", "2019-2020", "--sources", "12", "--batch-size", "8",
                 "--n-inject", "4", "--width", "4", "--threads", "1", "--out", str(out),
                 *extra])


def test_train_blocks_writes_a_calibrated_model_and_resumes_to_the_same_weights(
        two_blocks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = tmp_path / "whole.pt"
    assert _train(two_blocks, whole, "--steps", "12", "--eval-every", "6") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["best_step"] in (6, 12) and summary["model"] == str(whole)
    assert set(summary["validation"]["recall"]) == {"1", "2", "3", "4"}
    loaded = load_block_model(whole)
    assert loaded.sha256 == summary["sha256"]
    assert loaded.calibration.threshold == pytest.approx(summary["threshold_logit"])
    assert loaded.meta["options"]["train_years"] == [2016]
    assert loaded.meta["calibration"]["source"]["quiet_maps"] == 24
    assert [h["step"] for h in loaded.meta["history"]] == [6, 12]
    # the file names the archive, not the folders it was trained from
    assert loaded.meta["archive"] == two_blocks.name
    assert str(two_blocks).encode() not in whole.read_bytes()
    # killed after step 6, resumed to 12: the same network
    half = tmp_path / "half.pt"
    assert _train(two_blocks, half, "--steps", "6", "--eval-every", "6") == 0
    resumed = tmp_path / "resumed.pt"
    assert _train(two_blocks, resumed, "--steps", "12", "--eval-every", "6",
                  "--resume", str(half) + ".ckpt") == 0
    a = load_block_model(whole).model.state_dict()
    b = load_block_model(resumed).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    capsys.readouterr()
    # a checkpoint of another run is refused by name, and nothing is written
    assert _train(two_blocks, tmp_path / "x.pt", "--steps", "12", "--eval-every", "6",
                  "--seed", "1", "--resume", str(half) + ".ckpt") == 2
    assert "other options: seed 0 (now 1)" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    # a model file is not a checkpoint
    assert _train(two_blocks, tmp_path / "x.pt", "--steps", "12", "--eval-every", "6",
                  "--resume", str(whole)) == 6
    assert "is not a block-detector checkpoint" in capsys.readouterr().err


def test_train_blocks_with_unwrapping_errors_records_them(
        two_blocks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "uw.pt"
    assert _train(two_blocks, out, "--steps", "6", "--eval-every", "6",
                  "--unwrap-fraction", "0.5", "--incoherent-fraction", "0.5") == 0
    options = load_block_model(out).meta["options"]
    assert options["unwrap_fraction"] == 0.5 and options["peak_los_m"] == [0.008, 0.1]
    assert options["incoherent_fraction"] == 0.5


def test_a_network_trained_on_gaps_is_chosen_on_maps_with_gaps_too() -> None:
    from monitor.detector_blocks import _Validation

    rng = np.random.default_rng(1)
    quiet = [rng.normal(0, 0.01, (60, 60)).astype(np.float32) for _ in range(3)]
    pairs = [2, 0, 2, 1]
    injected = {a: [quiet[k] + np.float32(a / 100) for k in pairs] for a in (1.0, 2.0)}
    both = _Validation(quiet, injected, pairs).with_gaps(5, (100.0, 100.0))
    assert len(both.quiet) == 6 and all(len(v) == 8 for v in both.injected.values())
    assert both.pairs == pairs + pairs
    for k, m in enumerate(both.quiet[3:]):
        gap = np.isnan(m)
        assert 0.05 < gap.mean() < 0.65 and np.array_equal(m[~gap], quiet[k][~gap])
        assert not np.isnan(both.quiet[k]).any()
    for a, maps in both.injected.items():
        for j, k in enumerate(pairs):  # an injected copy has its quiet pair's gap
            assert np.array_equal(np.isnan(maps[4 + j]), np.isnan(both.quiet[3 + k]))
            assert np.array_equal(maps[j], injected[a][j])


def test_the_training_masks_are_regions_of_blocks_over_a_share_of_the_window() -> None:
    from monitor.detector_blocks import INCOHERENT_AREA, _incoherent_patterns

    masks = _incoherent_patterns(np.random.default_rng(0), 40, (30, 30), 7, (93.0, 93.0))
    assert masks.shape == (40, 30, 30) and masks.dtype == bool
    share = masks.mean(axis=(1, 2))
    # excursion sets hold their drawn share of pixels (a block goes when most of it does);
    # bands, 1-6 km wide across 20 km, between a twentieth and a third of the window
    assert INCOHERENT_AREA[0] / 2 < share[::2].min() and share[::2].max() < INCOHERENT_AREA[1]
    assert share[1::2].min() > 0.03 and share[1::2].max() < 0.45
    # regions, not scattered blocks: most invalid blocks have an invalid neighbour
    m = masks[0]
    neighbours = np.zeros_like(m)
    neighbours[1:] |= m[:-1]
    neighbours[:-1] |= m[1:]
    neighbours[:, 1:] |= m[:, :-1]
    neighbours[:, :-1] |= m[:, 1:]
    assert (m & neighbours).sum() > 0.8 * m.sum()


@pytest.mark.parametrize(("extra", "message"), [
    (("--train-years", "2016", "--val-years", "2016"), "share \\[2016\\]"),
    (("--train-years", "2016", "--val-years", "2019"),
     "12 quiet products in the validation years \\[2019\\]; at least 20"),
    (("--train-years", "2021", "--val-years", "2019-2020"),
     "0 quiet products in the training years \\[2021\\]; at least 10"),
    (("--train-years", "2016", "--val-years", "2019-2020", "--eval-every", "50"),
     "must not exceed --steps"),
    (("--train-years", "2016", "--val-years", "2019-2020", "--unwrap-fraction", "1.5"),
     "--unwrap-fraction must lie in \\[0, 1\\]"),
    (("--train-years", "2016", "--val-years", "2019-2020", "--incoherent-fraction", "-0.1"),
     "--incoherent-fraction must lie in \\[0, 1\\]"),
    (("--train-years", "2016", "--val-years", "2019-2020", "--peak-los-m", "0.2,0.1"),
     "--peak-los-m must be MIN,MAX with 0 < MIN <= MAX"),
])
def test_train_blocks_refuses_bad_options_by_name(
        two_blocks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        extra: tuple[str, ...], message: str) -> None:
    assert main(["train-blocks", "--archive", str(two_blocks), "--frame", FRAME,
                 "--events", "2017-01-11:2017-12-31", "--steps", "10", "--eval-every", "5",
                 "--threads", "1",
                 "--out", str(tmp_path / "m.pt"), *extra]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "m.pt").exists()


def test_the_watch_loads_either_detector_and_builds_the_right_one(tmp_path: Path) -> None:
    from monitor.config import Settings
    from monitor.science.detect.fusion import CnnDetector
    from monitor.service.scoring import detector_for, scoring_params
    from monitor.service.scoring_task import load_model_once

    packaged = load_scoring_model(None, None, "blocks")
    assert isinstance(packaged, LoadedBlockModel) and packaged.arch == "blocks"
    assert isinstance(load_scoring_model(None, None, "cnn"), LoadedModel)
    # a file of either kind, whatever [science] detector says
    assert isinstance(load_scoring_model(packaged.path, None, "cnn"), LoadedBlockModel)
    with pytest.raises(ModelError, match="holds a 'blocks' network, but --arch compact"):
        load_scoring_model(packaged.path, "compact", "cnn")
    # --arch names a CNN: the command line over [science] detector
    assert load_scoring_model(None, "compact", "blocks").arch == "compact"
    with pytest.raises(InputError, match="detector must be 'cnn' or 'blocks'"):
        load_scoring_model(None, None, "gru")
    params = scoring_params(Settings())
    heights = np.zeros((200, 200))
    block = detector_for(packaged, params, (100.0, 100.0), heights)
    assert isinstance(block, BlockDetector) and block.threshold == params.flag_threshold
    assert block.heights_m is not None
    cnn = detector_for(load_scoring_model(None, None, "cnn"), params, (100.0, 100.0))
    assert isinstance(cnn, CnnDetector)
    # a worker receives the block model's bytes and checks them against their hash
    data = Path(packaged.path).read_bytes()
    assert isinstance(load_model_once(data, packaged.sha256, "blocks.pt"), LoadedBlockModel)
    with pytest.raises(ModelError, match="hash to"):
        load_model_once(data, "0" * 64, "blocks.pt")


def test_calibrate_refits_a_block_model_on_a_frame_and_keeps_its_weights(
        two_blocks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "recal.pt"
    args = ["calibrate", "--detector", "blocks", "--archive", str(two_blocks), "--frame",
            FRAME, "--events", "2017-01-11:2017-12-31", "--n-inject", "4", "--threads", "1"]
    assert main([*args, "--years", "2019-2020", "--check-years", "2016",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    packaged, again = load_block_model(None), load_block_model(out)
    a, b = packaged.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and again.sha256 == summary["sha256"]
    # the packaged file is gated: refitted on another frame it stays gated, the gap
    # network's logits converted to the coherent network's units as before
    assert isinstance(packaged.model, GatedBlockNet) and isinstance(again.model, GatedBlockNet)
    assert again.model.scale == packaged.model.scale
    assert again.meta["gap_network"] == packaged.meta["gap_network"]
    cal = again.calibration
    assert cal.threshold == pytest.approx(summary["threshold_logit"])
    assert cal.upper_slope >= cal.slope and cal.source is not None
    assert cal.source["years"] == [2019, 2020] and cal.source["quiet_maps"] == 24
    # the threshold: the conformal 95% quantile of the 24 quiet logits (the 24th of 24)
    bank = load_noise_bank(str(two_blocks), FRAME, load_settings(None),
                           events=((date(2017, 1, 11), date(2017, 12, 31)),),
                           years={2019, 2020})
    raw = BlockDetector(packaged.model, BlockCalibration(0.0, 1.0), bank.grid.pixel_m,
                        bank.dem)
    logits = sorted(max(w[2] for w in raw.window_logits(e.displacement_m))
                    for e in bank.epochs)
    assert cal.threshold == pytest.approx(logits[-1], abs=1e-5)
    check = summary["check"]
    assert check["years"] == [2016] and check["before"]["quiet_maps"] == 12
    assert set(check["after"]) >= {"fpr", "recall", "auc_ge_2cm", "log_loss", "brier"}
    assert check["with_gaps"]["quiet_maps"] == 12  # the held-out maps given gaps too
    assert again.meta["calibrated_with"]["archive"] == two_blocks.name
    assert str(two_blocks).encode() not in out.read_bytes()


def test_calibrate_with_a_gap_model_writes_a_gated_model(
        two_blocks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(2)
    gap_file = tmp_path / "gaps.pt"
    save_model(gap_file, BlockNet(4), {"calibration": {"threshold": 0.0, "slope": 1.0},
                                        "options": {"incoherent_fraction": 0.25},
                                        "best_step": 6})
    args = ["calibrate", "--detector", "blocks", "--archive", str(two_blocks), "--frame",
            FRAME, "--events", "2017-01-11:2017-12-31", "--n-inject", "4", "--threads", "1",
            "--years", "2019-2020"]
    plain, gated = tmp_path / "plain.pt", tmp_path / "gated.pt"
    assert main([*args, "--out", str(plain)]) == 0
    assert main([*args, "--gap-model", str(gap_file), "--check-years", "2016",
                 "--out", str(gated)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    loaded = load_block_model(gated)
    assert isinstance(loaded.model, GatedBlockNet)
    # coherent windows: the packaged coherent network and the calibration it gets alone
    assert loaded.calibration.threshold == load_block_model(plain).calibration.threshold
    packaged = load_block_model(None).model
    assert isinstance(packaged, GatedBlockNet)
    a, b = packaged.coherent().state_dict(), loaded.model.coherent().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    gap = loaded.meta["gap_network"]
    assert gap["file"] == "gaps.pt" and gap["gate"] == GAP_GATE and gap["best_step"] == 6
    # both calibrated on the same maps: the scale converts one network's units to the other's
    gap_cal = BlockCalibration.from_meta(gap["calibration"], "test")
    assert gap_cal.source == loaded.calibration.source
    assert loaded.model.scale == coherent_scale(loaded.calibration, gap_cal)
    assert summary["check"]["with_gaps"]["quiet_maps"] == 12
    assert str(tmp_path).encode() not in gated.read_bytes()
    # a gated file is not a gap network; the CNN takes none
    assert main([*args, "--gap-model", str(gated), "--out", str(tmp_path / "x.pt")]) == 2
    assert "is gated itself" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    assert main(["calibrate", "--detector", "cnn", "--archive", str(two_blocks), "--frame",
                 FRAME, "--years", "2016", "--gap-model", str(gap_file),
                 "--out", str(tmp_path / "x.pt")]) == 2
    assert "--gap-model applies to the block detector" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (("--years", "2019-2020", "--max-span", "2"), "--max-span apply to the CNN"),
    (("--years", "2019-2020", "--plot", "x.png"), "--plot apply to the CNN"),
    ((), "the block detector needs --years"),
    (("--years", "2019-2020", "--check-years", "2020"), "--years and --check-years overlap"),
    (("--years", "2016"), "12 quiet products in the calibration years \\[2016\\]; at least 20"),
    (("--years", "2019-2020", "--n-inject", "1"), "at least 2 injected maps"),
])
def test_calibrate_refuses_what_a_block_model_cannot_take(
        two_blocks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        extra: tuple[str, ...], message: str) -> None:
    out = tmp_path / "m.pt"
    assert main(["calibrate", "--detector", "blocks", "--archive", str(two_blocks),
                 "--frame", FRAME, "--events", "2017-01-11:2017-12-31", "--threads", "1",
                 "--out", str(out), *extra]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()
    assert main(["calibrate", "--detector", "cnn", "--archive", str(two_blocks), "--frame",
                 FRAME, "--years", "2016", "--n-inject", "4", "--out", str(out)]) == 2
    assert "--n-inject applies to the block detector" in capsys.readouterr().err


def test_the_watch_gives_the_block_detector_the_newest_increment(
        crop_maps: tuple[list[np.ndarray], tuple[float, float], np.ndarray | None]) -> None:
    """Rule 1 judges the increment (a source in the cumulative map but not in the newest
    step is not flagged; one in the step is), rule 2 the cumulative map; no second look."""
    from monitor.config import Settings
    from monitor.science.grids import GroundDisc
    from monitor.science.scoring import score_epoch, series_input
    from monitor.service.scoring import (
        detector_for,
        frame_regions,
        model_series_input,
        scoring_params,
    )

    maps, pixel_m, dem = crop_maps
    model = load_block_model(None)
    params = scoring_params(Settings())
    detector = detector_for(model, params, pixel_m, dem)
    assert series_input(detector) == "increment" == model_series_input(model)
    assert model_series_input(load_scoring_model(None, None, "cnn")) == "cumulative"
    grid = load_noise_bank(str(CROP), FRAME, load_settings(None)).grid
    ny, nx = grid.shape
    regions = frame_regions(grid, GroundDisc(*grid.lonlat(ny // 2, nx // 2), 3.0),
                            (GroundDisc(*grid.lonlat(20, 20), 1.5),), None, "test")
    source = 0.06 * mogi_unit_los((ny, nx), pixel_m, 0.0, 0.0, 3000.0)
    quiet_step = np.asarray(maps[1], np.float64)
    old = (maps[0] + source + quiet_step).astype(np.float32)  # the source is in an old step
    looked = []
    scored = score_epoch(detector, old, regions, date(2016, 3, 1), params,
                         needs_second_look=lambda raw: looked.append(raw) or True,
                         increment=quiet_step)
    assert scored.raw.p_fused < 0.5 and scored.look is None and not looked
    fresh = score_epoch(detector, old, regions, date(2016, 3, 1), params,
                        increment=quiet_step + source)
    assert fresh.raw.p_fused > 0.9
    with pytest.raises(InputError, match="judges the newest increment, which is not at hand"):
        score_epoch(detector, old, regions, date(2016, 3, 1), params)
    with pytest.raises(InputError, match="increment of shape \\(3, 3\\)"):
        score_epoch(detector, old, regions, date(2016, 3, 1), params, increment=np.zeros((3, 3)))

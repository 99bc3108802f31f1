"""Calibration: the map's noise, the gains that stand above it, Platt scaling, reliability,
and what the fusion does with them."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.errors import InputError, ModelError
from monitor.event_windows import in_years, parse_years
from monitor.io.models import LoadedModel, load_model, save_model
from monitor.science.detect.calibration import (
    UNCALIBRATED,
    Calibration,
    PlattScaling,
    fit_platt,
    lag_pixels,
    map_noise_m,
    reliability,
    usable_gains,
)
from monitor.science.detect.compact import CompactNet
from monitor.science.detect.fusion import detect_displacement, detect_wrapped, fuse_maps


def test_noise_of_white_noise_is_its_sigma_and_a_ramp_costs_little() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 0.004, (200, 200))
    assert map_noise_m(x, 20) == pytest.approx(0.004, rel=0.03)
    ramp = np.linspace(0.0, 0.002, 200)[None, :] * np.ones((200, 1))
    assert map_noise_m(x + ramp, 20) == pytest.approx(0.004, rel=0.05)
    x[:, :50] = np.nan
    assert map_noise_m(x, 20) == pytest.approx(0.004, rel=0.04)
    # a smooth field varies less at short lags than at long ones
    smooth = np.cumsum(np.cumsum(rng.normal(0, 1e-4, (200, 200)), 0), 1)
    assert map_noise_m(smooth, 5) < map_noise_m(smooth, 40)


def test_noise_refuses_what_it_cannot_measure() -> None:
    with pytest.raises(InputError, match="2-D"):
        map_noise_m(np.zeros(10), 1)
    with pytest.raises(InputError, match="at least 1 pixel"):
        map_noise_m(np.zeros((5, 5)), 0)
    with pytest.raises(InputError, match="finite pixel pairs 20 px apart"):
        map_noise_m(np.zeros((10, 10)), 20)
    assert lag_pixels(None) == 20 and lag_pixels(110.0) == 18 and lag_pixels(5000.0) == 1
    with pytest.raises(InputError, match="pixel size"):
        lag_pixels(0.0)


def test_usable_gains_keep_the_smallest_and_drop_those_the_noise_drowns() -> None:
    f = 0.028
    assert usable_gains((1, 2, 4, 8), 0.001, f, 2.0) == (1, 2, 4, 8)  # 3.5 mm >= 2 mm
    assert usable_gains((1, 2, 4, 8), 0.004, f, 2.0) == (1, 2)  # 7 mm < 8 mm
    assert usable_gains((8, 4, 1), 0.05, f, 2.0) == (1,)
    assert usable_gains((2, 4), 1.0, f, 2.0) == (2,)


def test_platt_fit_recovers_a_known_scaling() -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(0.0, 2.0, 20000)
    p_raw = 1 / (1 + np.exp(-z))
    truth = PlattScaling(0.5, -1.0)
    y = (rng.random(z.size) < truth.apply(p_raw)).astype(int)
    got = fit_platt(p_raw, y, penalty=0.0)
    assert got.slope == pytest.approx(0.5, abs=0.05)
    assert got.intercept == pytest.approx(-1.0, abs=0.08)
    identity = PlattScaling()
    np.testing.assert_allclose(identity.apply([0.1, 0.5, 0.9]), [0.1, 0.5, 0.9], rtol=1e-5)
    with pytest.raises(InputError, match="2 samples of each class"):
        fit_platt([0.2, 0.3, 0.9], [0, 0, 1])
    with pytest.raises(InputError, match="same length"):
        fit_platt([0.2, 0.3], [0, 1, 1])
    with pytest.raises(InputError, match="slope must be positive"):
        PlattScaling(-1.0, 0.0)


def test_calibration_record_round_trips_and_refuses_garbage() -> None:
    cal = Calibration({1.0: PlattScaling(1.2, 0.3), 8.0: PlattScaling(0.7, -1.0)}, 2.5,
                      2000.0, {"frame": "F", "years": [2021]})
    back = Calibration.from_meta(cal.to_meta(), "here")
    assert back == cal
    assert float(back.apply(1.0, 0.5)) == pytest.approx(1 / (1 + math.exp(-0.3)), rel=1e-5)
    assert float(back.apply(2.0, 0.7)) == pytest.approx(0.7)  # no scaling: raw
    staged = replace(cal, fused=PlattScaling(1.5, -0.2))
    assert Calibration.from_meta(staged.to_meta(), "here") == staged
    assert staged.fused is not None and cal.fused is None
    assert float(staged.fused.apply(0.5)) == pytest.approx(1 / (1 + math.exp(0.2)), rel=1e-5)
    for bad in ({"method": "isotonic"}, {"method": "platt", "per_gain": {"1": [1.0]}},
                {"method": "platt", "per_gain": {"x": [1, 0]}},
                {"method": "platt", "noise_ratio": -1},
                {"method": "platt", "fused": [0.0, 1.0]}, {"method": "platt", "fused": 3}):
        with pytest.raises(InputError, match="where: malformed calibration"):
            Calibration.from_meta(bad, "where")


def test_reliability_of_a_calibrated_score_is_near_the_diagonal() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(50000)
    y = (rng.random(p.size) < p).astype(int)
    bins, ece = reliability(p, y)
    assert len(bins) == 10 and ece < 0.02
    assert all(abs(b.positive_fraction - b.mean_p) < 0.03 for b in bins)
    _, bad = reliability(np.full(1000, 0.9), np.zeros(1000))
    assert bad == pytest.approx(0.9)


def test_fusion_leaves_out_the_gains_a_noisy_map_drowns() -> None:
    torch.manual_seed(0)
    net = CompactNet(widths=(4, 8, 8, 16)).eval()
    rng = np.random.default_rng(4)
    quiet = rng.normal(0.0, 0.0005, (64, 64))
    noisy = rng.normal(0.0, 0.006, (64, 64))
    cal = Calibration({g: PlattScaling(1.0, 0.0) for g in (1.0, 2.0, 4.0, 8.0)}, 2.0)
    a = detect_displacement(net, quiet, calibration=cal)
    b = detect_displacement(net, noisy, calibration=cal)
    assert a.gains_fused == (1.0, 2.0, 4.0, 8.0) and a.noise_m == pytest.approx(5e-4, rel=0.1)
    assert b.gains_fused == (1.0, 2.0) and b.noise_m == pytest.approx(6e-3, rel=0.1)
    raw = detect_displacement(net, noisy, keep_maps=True)
    assert raw.gains_fused == (1.0, 2.0, 4.0, 8.0) and raw.noise_m is None
    assert b.maps_by_gain is None  # not kept unless asked
    expected = np.mean([raw.maps_by_gain[g] for g in (1.0, 2.0)], axis=0)  # type: ignore[index]
    assert b.p_fused == pytest.approx(float(expected.max()), abs=1e-6)
    same = detect_displacement(net, noisy, calibration=UNCALIBRATED)
    assert same.p_fused == pytest.approx(raw.p_fused) and same.gains_fused == raw.gains_fused
    with pytest.raises(InputError, match="subset"):
        fuse_maps({1.0: np.zeros((4, 4), np.float32)}, fuse_gains=(2.0,))
    # The last stage maps the fused map monotonically: P changes, the peak stays put.
    staged = replace(cal, fused=PlattScaling(2.0, -1.0))
    c = detect_displacement(net, noisy, calibration=staged)
    assert c.p_fused == pytest.approx(float(PlattScaling(2.0, -1.0).apply(b.p_fused)), abs=1e-6)
    assert (c.peak_row, c.peak_col) == (b.peak_row, b.peak_col)
    assert c.flag == (c.p_fused > 0.5) and c.gains_fused == b.gains_fused
    # Wrapped phase: every gain is fused, so the last stage applies only where it was
    # fitted on fusions of every gain (no noise rule).
    psi = np.angle(np.exp(1j * rng.normal(0.0, 1.0, (64, 64))))
    plain = detect_wrapped(net, psi, calibration=replace(staged, fused=None))
    every = detect_wrapped(net, psi, calibration=replace(staged, noise_ratio=None))
    ruled = detect_wrapped(net, psi, calibration=staged)
    assert ruled.p_fused == pytest.approx(plain.p_fused, abs=1e-6)
    assert every.p_fused == pytest.approx(
        float(PlattScaling(2.0, -1.0).apply(plain.p_fused)), abs=1e-6)


def test_model_file_carries_its_calibration(tmp_path: Path) -> None:
    net = CompactNet(widths=(4, 8, 8, 16))
    cal = Calibration({1.0: PlattScaling(2.0, 0.1)}, 2.0, 2000.0, {"frame": "F"})
    save_model(tmp_path / "c.pt", net, {"calibration": cal.to_meta()})
    assert load_model(tmp_path / "c.pt").calibration == cal
    save_model(tmp_path / "raw.pt", net, {})
    assert load_model(tmp_path / "raw.pt").calibration is None
    save_model(tmp_path / "bad.pt", net, {"calibration": {"method": "platt",
                                                          "per_gain": {"1": [-2.0, 0]}}})
    loaded: LoadedModel = load_model(tmp_path / "bad.pt")
    with pytest.raises(ModelError, match="bad.pt.*malformed calibration"):
        _ = loaded.calibration


def test_years_parse_and_select() -> None:
    assert parse_years(None) is None and parse_years(" ") is None
    assert parse_years("2015, 2019-2021") == {2015, 2019, 2020, 2021}
    for bad in ("20x5", "2021-2019", "1-2-3"):
        with pytest.raises(InputError, match="--years"):
            parse_years(bad)
    assert in_years((date(2020, 12, 25), date(2021, 1, 6)), {2021})
    assert not in_years((date(2020, 12, 1), date(2020, 12, 13)), {2021})
    assert in_years((date(2020, 12, 1), date(2020, 12, 13)), None)

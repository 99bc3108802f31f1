"""The smoothed peak-to-noise baseline: quiet noise scores low, a Mogi of a few cm high."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.detect.baseline import PeakToNoiseDetector
from monitor.science.detect.detector import Detector
from monitor.science.geometry import project_to_los
from monitor.science.sources import mogi

PIXEL_M = (100.0, 100.0)


def _mogi_los(shape: tuple[int, int], peak_m: float, depth_m: float) -> np.ndarray:
    ny, nx = shape
    x, y = np.meshgrid((np.arange(nx) - nx / 2) * 100.0, (ny / 2 - np.arange(ny)) * 100.0)
    enu = mogi(x, y, depth_m=depth_m, dvolume_m3=1e6)
    los = project_to_los(enu.east, enu.north, enu.up, 39.0, -10.0)
    return los * np.float32(peak_m / np.abs(los).max())


def test_is_a_detector() -> None:
    assert isinstance(PeakToNoiseDetector(PIXEL_M), Detector)


def test_white_noise_scores_low() -> None:
    rng = np.random.default_rng(1)
    det = PeakToNoiseDetector(PIXEL_M)
    scores = [det.detect(rng.normal(0, 0.01, (150, 150)).astype(np.float32))
              for _ in range(5)]
    assert all(not s.flag and s.p_fused < 0.5 for s in scores)
    assert all(0 <= s.p_fused <= 1 and s.prob_map.shape == (150, 150) for s in scores)


def test_mogi_of_a_few_cm_on_noise_scores_high() -> None:
    # 3 cm from 2 km depth in a 20 km frame (as the real Erta Ale crop); 5 mm noise
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.005, (200, 200)).astype(np.float32)
    x = noise + _mogi_los((200, 200), 0.03, 2000.0)
    x[:20, :20] = np.nan  # holes are no data, not zero
    det = PeakToNoiseDetector(PIXEL_M)
    got = det.detect(x)
    assert got.flag and got.p_fused > 0.8
    assert abs(got.peak_row - 100) < 10 and abs(got.peak_col - 100) < 10
    m = det.measure(x)
    assert m.ratio > 5 and math.isclose(det.probability(m.ratio), got.p_fused)


def test_score_is_one_half_at_the_threshold() -> None:
    det = PeakToNoiseDetector(PIXEL_M, threshold_ratio=5.0)
    assert det.probability(5.0) == pytest.approx(0.5)
    assert det.probability(0.0) == 0.0


def test_a_wide_signal_lowers_its_own_ratio() -> None:
    # the noise is the map's MAD, signal included: a deep source filling a small frame
    # scores lower than the same peak from a shallow one in a wide frame (documented)
    rng = np.random.default_rng(2)
    det = PeakToNoiseDetector(PIXEL_M)
    small = det.measure(rng.normal(0, 0.005, (150, 150)) + _mogi_los((150, 150), 0.03, 3000.0))
    wide = det.measure(rng.normal(0, 0.005, (200, 200)) + _mogi_los((200, 200), 0.03, 2000.0))
    assert small.ratio < wide.ratio


def test_refuses_bad_input() -> None:
    with pytest.raises(InputError, match="pixel_m"):
        PeakToNoiseDetector((0.0, 100.0))
    with pytest.raises(InputError, match="finite"):
        PeakToNoiseDetector(PIXEL_M).detect(np.full((10, 10), np.nan))

"""The detector shipped inside the package still does its job."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.io.models import load_detector, packaged_weights
from monitor.science.atmosphere import turbulent_delay
from monitor.science.detect.fusion import detect_displacement
from monitor.science.geometry import project_to_los
from monitor.science.grids import grid_xy
from monitor.science.sources import mogi

SHAPE, PIXEL = (224, 224), 100.0


def _atmosphere(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return turbulent_delay(SHAPE, PIXEL, 0.0027, 8000.0, rng)


def test_packaged_weights_exist_and_are_small() -> None:
    res = packaged_weights("compact")
    assert res.is_file(), "monitor/science/detect/weights/compact.pt must ship"
    assert len(res.read_bytes()) < 10 * 2**20


@pytest.mark.parametrize("seed", [0, 1])
def test_clear_mogi_scores_high_and_atmosphere_low(seed: int) -> None:
    loaded = load_detector(None, "compact")
    x, y = grid_xy(SHAPE, PIXEL)
    enu = mogi(x, y, depth_m=4000.0, dvolume_m3=4e6)
    d = project_to_los(enu.east, enu.north, enu.up, 30.0, 190.0)
    assert 0.05 < float(d.max()) < 0.07  # a 6 cm uplift, well above the papers' thresholds
    atm = _atmosphere(seed)
    high = detect_displacement(loaded.model, d + atm, calibration=loaded.calibration)
    low = detect_displacement(loaded.model, atm, calibration=loaded.calibration)
    assert high.p_fused > 0.5 and high.flag
    assert low.p_fused < 0.5 and not low.flag


def test_peak_lies_within_a_patch_of_the_source() -> None:
    """The merge of Anantrasirichai et al. (2019a) locates deformation to about a patch
    (224 px), not a pixel; on a flagged map the evidence places the peak within the
    flagged region (the merged maximum of a source wider than a patch lies off it)."""
    loaded = load_detector(None, "compact")
    shape = (400, 400)
    x, y = grid_xy(shape, PIXEL)
    enu = mogi(x, y, xs_m=-8000.0, ys_m=5000.0, depth_m=4000.0, dvolume_m3=4e6)
    d = project_to_los(enu.east, enu.north, enu.up, 30.0, 190.0)
    atm = turbulent_delay(shape, PIXEL, 0.0027, 8000.0, np.random.default_rng(0))
    det = detect_displacement(loaded.model, d + atm, calibration=loaded.calibration)
    row, col = np.unravel_index(np.argmax(d), d.shape)
    assert det.flag
    # within half a patch along each axis (the mean over fewer covering patches near the
    # image border pulls the maximum towards the border)
    assert abs(det.peak_row - row) < 112 and abs(det.peak_col - col) < 112

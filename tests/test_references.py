"""Automatic reference regions: one rule, which makes room before it gives up."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.lstt_regions import disc_mask
from monitor.science.references import (
    MIN_RING_PIXELS,
    MIN_WINDOW_PX,
    place_references,
    split_references,
)

THRESHOLD = 0.1


def _place(coherence: np.ndarray, centre: tuple[float, float], radius: float,
           dem: np.ndarray | None = None):
    return place_references(coherence, target_centre_rc=centre, target_radius_px=radius,
                            coherence_threshold=THRESHOLD, dem=dem)


def _outside_target(placement, centre: tuple[float, float], radius: float) -> None:
    target = disc_mask(placement.masks[0].shape, centre, radius)
    for mask in placement.masks:
        assert not (mask & target).any()


def test_room_enough_gives_three_separate_windows_at_two_radii() -> None:
    coherence = np.ones((200, 200), np.float32)
    centre, radius = (100.0, 100.0), 15.0
    placement = _place(coherence, centre, radius)
    assert len(placement.masks) == 3 and placement.notes == ()
    rows, cols = np.nonzero(placement.union)
    assert np.hypot(rows - centre[0], cols - centre[1]).min() >= 2 * radius
    # Windows are apart, so the union's components are the windows themselves (the
    # watch stores only the union and splits it again for the LSTT).
    parts = split_references(placement.union)
    assert len(parts) == 3
    assert {m.tobytes() for m in parts} == {m.tobytes() for m in placement.masks}


def test_a_wide_target_on_a_small_clip_gets_smaller_or_closer_windows_and_says_so() -> None:
    # A 6 km disc on a 20 km clip of 108 m pixels (the real Erta Ale frame): no window
    # lies two radii (111 px) from the centre.
    coherence = np.ones((181, 185), np.float32)
    centre, radius = (90.0, 92.0), 55.5
    placement = _place(coherence, centre, radius)
    assert placement.masks and placement.notes
    assert "window" in placement.notes[0]
    _outside_target(placement, centre, radius)


def test_elevation_ranks_the_windows() -> None:
    coherence = np.ones((160, 160), np.float32)
    dem = np.zeros((160, 160), np.float32)
    dem[:, :40] = 800.0  # the west strip is as high as the target
    dem[60:100, 60:100] = 800.0
    placement = _place(coherence, (80.0, 80.0), 12.0, dem=dem)
    # Ranked by the median height's mismatch with the target's: the best window sits
    # mostly on the high strip, the last mostly on the low ground.
    assert np.median(dem[placement.masks[0]]) == 800.0
    assert np.median(dem[placement.masks[-1]]) <= np.median(dem[placement.masks[0]])


def test_without_any_coherent_window_a_ring_is_the_reference() -> None:
    # Coherent pixels scattered one in two: no window is 80 % coherent, the ring is.
    coherence = np.zeros((60, 60), np.float32)
    coherence[::2, ::2] = coherence[1::2, 1::2] = 0.9
    centre, radius = (30.0, 30.0), 8.0
    placement = _place(coherence, centre, radius)
    (ring,) = placement.masks
    assert "ring" in placement.notes[0] and ring.sum() >= MIN_RING_PIXELS
    assert np.all(coherence[ring] > THRESHOLD)
    _outside_target(placement, centre, radius)


def test_a_frame_without_stable_coherent_ground_is_refused_by_name() -> None:
    coherence = np.zeros((60, 60), np.float32)
    coherence[25:35, 25:35] = 1.0  # only the summit is coherent
    with pytest.raises(InputError, match="no stable coherent area outside the target"):
        _place(coherence, (30.0, 30.0), 8.0)


def test_windows_never_shrink_below_the_smallest_side() -> None:
    coherence = np.zeros((100, 100), np.float32)
    coherence[:MIN_WINDOW_PX, :MIN_WINDOW_PX] = 1.0  # one corner window, the smallest
    placement = _place(coherence, (60.0, 60.0), 10.0)
    (window,) = placement.masks
    assert window.sum() == MIN_WINDOW_PX ** 2

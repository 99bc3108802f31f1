"""centre_crop: one central window for maps and stacks of maps (monitor.science.windows)."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.windows import centre_crop


def test_centre_crop_of_a_map_and_of_a_stack() -> None:
    m = np.arange(7 * 9, dtype=np.float32).reshape(7, 9)
    np.testing.assert_array_equal(centre_crop(m, 3), m[2:5, 3:6])
    stack = np.stack([m, -m])
    out = centre_crop(stack, 3)
    assert out.shape == (2, 3, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out[1], -m[2:5, 3:6])


def test_centre_crop_refuses_a_window_larger_than_the_map() -> None:
    with pytest.raises(InputError, match=r"agung covers only 7 x 9 pixels.*at most 7"):
        centre_crop(np.zeros((7, 9)), 8, "agung")
    with pytest.raises(InputError, match="ny, nx"):
        centre_crop(np.zeros(5), 3)

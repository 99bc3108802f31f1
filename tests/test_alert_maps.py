"""The on-disk maps of alert quicklooks (monitor.service.alert_maps)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from monitor.service.alert_maps import (
    discard_maps,
    load_maps,
    maps_path,
    save_maps,
    saved_epochs,
)


def test_round_trip_listing_and_discard(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(20, 30)).astype(np.float32)
    prob = rng.uniform(size=(20, 30)).astype(np.float32)
    mask = prob > 0.5
    for target, day in (("etna", date(2024, 3, 6)), ("etna", date(2024, 1, 18)),
                        ("etna_2", date(2024, 2, 1))):
        save_maps(maps_path(tmp_path, target, day), (image, prob, mask))
    assert saved_epochs(tmp_path, "etna") == [date(2024, 1, 18), date(2024, 3, 6)]
    assert saved_epochs(tmp_path, "etna_2") == [date(2024, 2, 1)]
    assert saved_epochs(tmp_path / "nothing", "etna") == []
    loaded = load_maps(maps_path(tmp_path, "etna", date(2024, 3, 6)))
    assert loaded is not None
    np.testing.assert_array_equal(loaded[0], image)
    np.testing.assert_array_equal(loaded[1], prob)
    np.testing.assert_array_equal(loaded[2], mask)
    assert not list((tmp_path / "alert_maps").glob("*.tmp*"))
    discard_maps(maps_path(tmp_path, "etna", date(2024, 3, 6)))
    discard_maps(maps_path(tmp_path, "etna", date(2024, 3, 6)))  # absent: no error
    assert saved_epochs(tmp_path, "etna") == [date(2024, 1, 18)]


def test_unreadable_or_inconsistent_maps_are_logged_and_treated_as_absent(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert load_maps(maps_path(tmp_path, "t", date(2024, 1, 1))) is None
    broken = maps_path(tmp_path, "t", date(2024, 1, 2))
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"PK\x03\x04 torn")
    odd = maps_path(tmp_path, "t", date(2024, 1, 3))
    np.savez(odd, image=np.zeros((4, 4)), prob=np.zeros((4, 5)), target_mask=np.zeros((4, 4)))
    with caplog.at_level(logging.WARNING, logger="monitor.service.alert_maps"):
        assert load_maps(broken) is None
        assert load_maps(odd) is None
    assert str(broken) in caplog.text and str(odd) in caplog.text

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from monitor.errors import DatasetError
from monitor.science.timeseries import Interferogram, append, start_daisy_chain
from monitor.service.series_files import load_state, save_state, series_path


def _state(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    ref = np.zeros((20, 30), bool)
    ref[:5, :5] = True
    s = start_daisy_chain(date(2024, 1, 6), (20, 30), reference=ref)
    d = rng.normal(scale=0.01, size=(20, 30)).astype(np.float32)
    d[3, 7] = np.nan
    return append(s, Interferogram(date(2024, 1, 6), date(2024, 1, 18), d))


def test_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    state = _state(rng)
    path = save_state(series_path(tmp_path, "211010", "022D_04826_121209"), state)
    assert path.name == "211010__022D_04826_121209.series.npz"
    back = load_state(path)
    assert back is not None
    assert (back.first_epoch, back.last_epoch, back.n_epochs) == (
        state.first_epoch, state.last_epoch, state.n_epochs)
    np.testing.assert_array_equal(back.cumulative_m, state.cumulative_m)
    np.testing.assert_array_equal(back.support, state.support)
    np.testing.assert_array_equal(back.reference_mask, state.reference_mask)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_missing_is_none_and_corrupt_is_an_error(tmp_path: Path,
                                                 rng: np.random.Generator) -> None:
    assert load_state(tmp_path / "none.series.npz") is None
    path = save_state(tmp_path / "t.series.npz", _state(rng))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError, match="t.series.npz: unreadable series file"):
        load_state(path)


def test_failed_write_keeps_the_old_file(tmp_path: Path, rng: np.random.Generator,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_state(tmp_path / "t.series.npz", _state(rng))
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, _state(rng))
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from monitor.errors import DatasetError, InputError
from monitor.science.detect.series_gls import GlsWindow, NoiseHistory
from monitor.science.timeseries import Interferogram, append, start_daisy_chain
from monitor.service.series_files import (
    load_increment,
    load_noise,
    load_state,
    save_state,
    series_path,
)


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


def test_the_noise_history_travels_with_the_state(tmp_path: Path,
                                                  rng: np.random.Generator) -> None:
    state = _state(rng)
    window = GlsWindow((0, 18), (0, 27), 3)
    noise = NoiseHistory.empty(window).appended(state.cumulative_m, None, date(2024, 1, 18))
    noise = noise.appended(state.cumulative_m * 2, 3.5, date(2024, 1, 30))
    path = save_state(tmp_path / "t.series.npz", state, noise)
    back = load_noise(path)
    assert back is not None and back.window == window
    assert back.last_epoch == date(2024, 1, 30)
    np.testing.assert_array_equal(back.blocks, noise.blocks)
    np.testing.assert_array_equal(back.arrivals, noise.arrivals)  # NaN: before the filter
    assert back.level_epochs == () and not back.first_date_only
    noise = noise.with_level(state.cumulative_m, date(2024, 1, 18))
    back = load_noise(save_state(path, state, noise))
    assert back is not None and back.level_epochs == (date(2024, 1, 18),)
    np.testing.assert_array_equal(back.levels, noise.levels)  # NaN blocks kept
    np.testing.assert_array_equal(back.level(), noise.level())
    assert load_noise(tmp_path / "none.series.npz") is None
    assert load_noise(save_state(tmp_path / "bare.series.npz", state)) is None


def test_a_file_of_format_1_is_read_without_history(tmp_path: Path,
                                                    rng: np.random.Generator) -> None:
    state = _state(rng)
    header = {"format_version": 1, "first_epoch": "2024-01-06", "last_epoch": "2024-01-18",
              "n_epochs": 2, "coherence_threshold": state.coherence_threshold}
    path = tmp_path / "old.series.npz"
    with path.open("wb") as f:
        np.savez(f, cumulative_m=state.cumulative_m, support=state.support,
                 header=np.array(json.dumps(header)))
    back = load_state(path)
    assert back is not None and back.last_epoch == date(2024, 1, 18)
    assert load_noise(path) is None
    header["format_version"] = 4
    with path.open("wb") as f:
        np.savez(f, cumulative_m=state.cumulative_m, support=state.support,
                 header=np.array(json.dumps(header)))
    with pytest.raises(DatasetError, match="series format 4"):
        load_state(path)


def test_a_bad_noise_history_is_an_error_naming_the_file(tmp_path: Path,
                                                         rng: np.random.Generator) -> None:
    state = _state(rng)
    window = GlsWindow((0, 18), (0, 27), 3)
    noise = NoiseHistory.empty(window).appended(state.cumulative_m, None)
    path = save_state(tmp_path / "t.series.npz", state, noise)
    with np.load(path) as z:
        arrays = dict(z)
    arrays["noise_arrivals"] = np.zeros(5)
    with path.open("wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(DatasetError, match="t.series.npz: unreadable noise history"):
        load_noise(path)
    window = GlsWindow((0, 18), (0, 27), 3)
    save_state(path, state, NoiseHistory.empty(window))
    with pytest.raises(DatasetError, match="do not fit the series grid"):
        load_noise(path, (10, 10))


def test_a_history_of_format_2_is_judged_against_the_first_date_alone(
        tmp_path: Path, rng: np.random.Generator) -> None:
    """A file written before the level: its series' early maps are gone, so its filter
    goes on judging against the series' first date, as when the file was written."""
    state = _state(rng)
    window = GlsWindow((0, 18), (0, 27), 3)
    noise = NoiseHistory.empty(window).appended(state.cumulative_m, 2.0, date(2024, 1, 18))
    path = save_state(tmp_path / "t.series.npz", state, noise)
    with np.load(path) as z:
        arrays = dict(z)
    header = json.loads(str(arrays["header"]))
    header["format_version"] = 2
    for key in ("level_epochs", "first_date_only"):
        del header["noise"][key]
    arrays["header"] = np.array(json.dumps(header))
    del arrays["noise_levels"]
    with path.open("wb") as f:
        np.savez(f, **arrays)
    back = load_noise(path)
    assert back is not None and back.first_date_only and back.level_epochs == ()
    assert not back.level().any()
    kept = back.with_level(state.cumulative_m, date(2024, 1, 30))
    assert kept is back  # the level stays the first date
    np.testing.assert_array_equal(back.blocks, noise.blocks)


def test_a_bad_level_is_an_error_naming_the_file(tmp_path: Path,
                                                 rng: np.random.Generator) -> None:
    state = _state(rng)
    window = GlsWindow((0, 18), (0, 27), 3)
    noise = NoiseHistory.empty(window).with_level(state.cumulative_m, date(2024, 1, 18))
    path = save_state(tmp_path / "t.series.npz", state, noise)
    with np.load(path) as z:
        arrays = dict(z)
    for broken in ({"noise_levels": np.zeros((2, 6, 9), np.float32)},  # one date, two maps
                   {"noise_levels": None}):
        bad = {k: v for k, v in {**arrays, **broken}.items() if v is not None}
        with path.open("wb") as f:
            np.savez(f, **bad)
        with pytest.raises(DatasetError, match="t.series.npz: unreadable noise history"):
            load_noise(path)
    header = json.loads(str(arrays["header"]))
    header["noise"]["first_date_only"] = "no"
    with path.open("wb") as f:
        np.savez(f, **{**arrays, "header": np.array(json.dumps(header))})
    with pytest.raises(DatasetError, match="first_date_only is 'no'"):
        load_noise(path)


def test_the_newest_increment_is_kept_beside_the_state(tmp_path: Path,
                                                       rng: np.random.Generator) -> None:
    state = _state(rng)
    step = rng.normal(scale=0.01, size=(20, 30))
    step[2, 2] = np.nan
    path = save_state(tmp_path / "t.series.npz", state, increment=step)
    back = load_increment(path, (20, 30))
    assert back is not None and back.dtype == np.float32
    np.testing.assert_array_equal(back, step.astype(np.float32))
    assert load_state(path) is not None  # the state reads as before
    # none kept (a file written before it was), no file: None
    assert load_increment(save_state(tmp_path / "u.series.npz", state), (20, 30)) is None
    assert load_increment(tmp_path / "none.series.npz", (20, 30)) is None
    with pytest.raises(DatasetError, match="t.series.npz: the series file's increment is "
                                           "\\(20, 30\\), its series \\(20, 31\\)"):
        load_increment(path, (20, 31))
    with pytest.raises(InputError, match="increment of shape \\(3, 3\\)"):
        save_state(path, state, increment=np.zeros((3, 3)))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError, match="unreadable increment in the series file"):
        load_increment(path, (20, 30))

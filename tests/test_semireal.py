"""Semi-real samples: spans of real increments, windows, padding, injection, the set."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.errors import DatasetError, InputError
from monitor.io.datasets import load_dataset, write_semireal_dataset
from monitor.science.semireal import (
    NoiseEpoch,
    SemiRealRecipe,
    check_bank,
    dataset_sample,
    span_map,
    spans,
)
from monitor.science.synth import SynthRecipe, sample_rng


def _bank(n: int = 5, shape: tuple[int, int] = (60, 70), gap_after: int | None = 2
          ) -> list[NoiseEpoch]:
    rng = np.random.default_rng(0)
    epochs, d = [], date(2020, 1, 1)
    for i in range(n):
        d2 = d + timedelta(days=12)
        x = rng.normal(0, 0.004, shape).astype(np.float32)
        x[0, i] = np.nan
        epochs.append(NoiseEpoch(d, d2, x))
        d = d2 + timedelta(days=12) if i == gap_after else d2
    return epochs


def test_spans_follow_chains_only() -> None:
    bank = _bank()  # epochs 0-2 chain, a gap, then 3-4 chain
    got = spans(bank, 3)
    assert got == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (2, 1), (3, 1), (3, 2), (4, 1)]
    assert spans(bank, 1) == [(i, 1) for i in range(5)]


def test_span_map_is_the_sum_with_nan_propagated() -> None:
    bank = _bank()
    s = span_map(bank, 0, 3)
    expected = (bank[0].displacement_m.astype(np.float64) + bank[1].displacement_m
                + bank[2].displacement_m)
    np.testing.assert_allclose(s, expected)
    assert np.isnan(s[0, :3]).all() and np.isfinite(s[0, 3:]).all()


def test_samples_are_windows_of_the_noise_padded_to_224() -> None:
    bank = _bank()
    cands = spans(bank, 3)
    recipe = SemiRealRecipe(synth=SynthRecipe(source_kinds=("mogi",), peak_los_m=(0.05, 0.05)))
    neg = dataset_sample(bank, cands, recipe, seed=3, index=0)
    pos = dataset_sample(bank, cands, recipe, seed=3, index=1)
    assert neg.label == 0 and pos.label == 1
    assert neg.x.shape == pos.x.shape == (224, 224) and neg.x.dtype == np.float32
    # the negative is exactly the (signed, scaled) span, edge-padded after
    r0, c0, h, w = neg.meta["window"]
    assert (r0, c0, h, w) == (0, 0, 60, 70)
    hit = [s for s in cands if f"{bank[s[0]].date1:%Y%m%d}_{bank[s[0] + s[1] - 1].date2:%Y%m%d}"
           == neg.meta["pair"]]
    assert hit
    start, k = hit[0]
    expected = span_map(bank, start, k) * neg.meta["sign"] * neg.meta["noise_scale"]
    np.testing.assert_allclose(neg.x[:60, :70], expected, rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(neg.x[60:, :70], np.repeat(neg.x[59:60, :70], 164, 0))
    assert neg.meta["peak_los_m"] == 0.0
    assert pos.meta["source"] == "mogi" and pos.meta["peak_los_m"] == pytest.approx(0.05)
    # NaN of the real map stay NaN in the positive
    assert np.isnan(pos.x[:60, :70]).sum() >= 1
    again = dataset_sample(bank, cands, recipe, seed=3, index=1)
    np.testing.assert_array_equal(pos.x, again.x)


def test_large_maps_are_cropped_at_random() -> None:
    bank = _bank(n=2, shape=(260, 250))
    recipe = SemiRealRecipe()
    s = dataset_sample(bank, spans(bank, 2), recipe, seed=1, index=0)
    assert s.x.shape == (224, 224)
    r0, c0, h, w = s.meta["window"]
    assert (h, w) == (224, 224) and 0 <= r0 <= 36 and 0 <= c0 <= 26


def test_bad_banks_and_recipes_are_refused() -> None:
    with pytest.raises(InputError, match="empty"):
        check_bank([])
    bank = _bank(n=2)
    odd = [bank[0], NoiseEpoch(bank[1].date1, bank[1].date2, np.zeros((5, 5), np.float32))]
    with pytest.raises(InputError, match="20200113_20200125 is \\(5, 5\\)"):
        check_bank(odd)
    empty = [NoiseEpoch(bank[0].date1, bank[0].date2, np.full((9, 9), np.nan, np.float32))]
    with pytest.raises(InputError, match="no finite pixel"):
        check_bank(empty)
    for kwargs in ({"max_span": 0}, {"noise_scale": (0.0, 1.0)}, {"size": 4}):
        with pytest.raises(InputError, match="semi-real"):
            SemiRealRecipe(**kwargs)
    with pytest.raises(InputError, match="label"):
        from monitor.science.semireal import semireal_sample
        semireal_sample(bank, spans(bank, 1), SemiRealRecipe(), sample_rng(0, 0), 2)


def test_semireal_dataset_is_written_loaded_and_resumed(tmp_path: Path) -> None:
    bank = _bank()
    recipe = SemiRealRecipe(synth=SynthRecipe(source_kinds=("mogi",)))
    m = write_semireal_dataset(tmp_path / "set", epochs=bank, n=10, recipe=recipe, seed=4,
                               source={"frame": "F"}, shard_size=4)
    assert m["kind"] == "semi-real" and m["noise_bank"]["epochs"] == 5
    assert m["noise_bank"]["spans"] == len(spans(bank, 3)) and len(m["shards"]) == 3
    data = load_dataset(tmp_path / "set")
    assert data.x.shape == (10, 224, 224) and list(data.y) == [0, 1] * 5
    first = (tmp_path / "set" / "shard-00000.npz").read_bytes()
    (tmp_path / "set" / "shard-00001.npz").unlink()
    write_semireal_dataset(tmp_path / "set", epochs=bank, n=10, recipe=recipe, seed=4,
                           source={"frame": "F"}, shard_size=4)
    assert (tmp_path / "set" / "shard-00000.npz").read_bytes() == first
    np.testing.assert_array_equal(load_dataset(tmp_path / "set").x, data.x)
    with pytest.raises(DatasetError, match="other parameters"):
        write_semireal_dataset(tmp_path / "set", epochs=bank, n=10, recipe=recipe, seed=5,
                               source={"frame": "F"}, shard_size=4)

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from monitor.cli import main
from monitor.errors import DatasetError
from monitor.io.datasets import load_dataset, write_dataset
from monitor.science.synth import SynthRecipe

RECIPE = SynthRecipe(shape=(48, 48), pixel_m=200.0)


def test_write_and_load(tmp_path: Path) -> None:
    manifest = write_dataset(tmp_path / "ds", n=10, recipe=RECIPE, seed=1, shard_size=4)
    assert [s["count"] for s in manifest["shards"]] == [4, 4, 2]
    ds = load_dataset(tmp_path / "ds")
    assert ds.x.shape == (10, 48, 48) and ds.x.dtype == np.float32
    assert ds.y.tolist() == [0, 1] * 5
    assert ds.meta[1]["class_name"] == "D+S+T"
    assert ds.manifest["classes"] == ["S+T", "D+S+T"]


def test_workers_and_resume_give_identical_data(tmp_path: Path) -> None:
    write_dataset(tmp_path / "a", n=6, recipe=RECIPE, seed=2, shard_size=3)
    write_dataset(tmp_path / "b", n=6, recipe=RECIPE, seed=2, shard_size=3, workers=2)
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    np.testing.assert_array_equal(np.nan_to_num(a.x, nan=-9), np.nan_to_num(b.x, nan=-9))
    # delete a shard: writing again redraws only that one, identically
    (tmp_path / "a" / "shard-00001.npz").unlink()
    with pytest.raises(DatasetError, match="shard-00001.npz: shard listed in the manifest"):
        load_dataset(tmp_path / "a")
    write_dataset(tmp_path / "a", n=6, recipe=RECIPE, seed=2, shard_size=3)
    c = load_dataset(tmp_path / "a")
    np.testing.assert_array_equal(np.nan_to_num(a.x, nan=-9), np.nan_to_num(c.x, nan=-9))


def test_corrupt_and_mismatched(tmp_path: Path) -> None:
    write_dataset(tmp_path / "ds", n=2, recipe=RECIPE, seed=1)
    shard = tmp_path / "ds" / "shard-00000.npz"
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DatasetError, match="checksum"):
        load_dataset(tmp_path / "ds")
    with pytest.raises(DatasetError, match="other parameters"):
        write_dataset(tmp_path / "ds", n=3, recipe=RECIPE, seed=1)
    with pytest.raises(DatasetError, match="no manifest.json"):
        load_dataset(tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="unreadable manifest"):
        load_dataset(tmp_path / "x")


def test_cli_synth_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    rc = main(["synth", "dataset", "--n", "4", "--scheme", "3class", "--out", str(out),
               "--size", "32", "--pixel-m", "300"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 4 and summary["classes"] == ["T", "S+T", "D+S+T"]
    assert load_dataset(out).x.shape == (4, 32, 32)
    assert main(["synth", "dataset", "--n", "0", "--out", str(tmp_path / "z")]) == 2
    assert "n must be at least 1" in capsys.readouterr().err


def test_cli_synth_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["synth", "archive", "--out", str(tmp_path), "--onset", "2024-02-01",
               "--rate", "0.2", "--epochs", "4", "--size", "40", "--volcano", "synthetic"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 4 and summary["interferograms"] == 3
    assert summary["onset"] == "2024-02-01"
    rc = main(["synth", "archive", "--out", str(tmp_path), "--onset", "2031-01-01",
               "--epochs", "4", "--size", "40", "--volcano", "synthetic"])
    assert rc == 2 and "onset" in capsys.readouterr().err


def test_cli_dataset_with_real_dem_pool_and_deflation(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pool"
    rc = main(["synth", "dataset", "--n", "6", "--out", str(out), "--size", "32",
               "--pixel-m", "300", "--real-dems", "taal", "--synthetic-dems", "2",
               "--deflation-probability", "1.0", "--sources", "mogi", "--seed", "4"])
    assert rc == 0, capsys.readouterr().err
    ds = load_dataset(out)
    assert ds.manifest["dem_pool"] == ["srtm:taal", "synthetic:stratovolcano:0",
                                       "synthetic:shield:1"]
    assert ds.manifest["recipe"]["sources"]["deflation_probability"] == 1.0
    assert {m["dem"] for m in ds.meta} <= {"pool[0]", "pool[1]", "pool[2]"}
    # every Mogi source deflates: the volume change is negative
    positives = [m for m in ds.meta if m["class_name"] == "D+S+T"]
    assert positives and all(m["source_params"]["dvolume_m3"] < 0 for m in positives)
    capsys.readouterr()
    rc = main(["synth", "dataset", "--n", "2", "--out", str(tmp_path / "bad"), "--size", "224",
               "--pixel-m", "300", "--real-dems", "taal"])
    assert rc == 2 and "packaged DEM 'taal' covers" in capsys.readouterr().err
    rc = main(["synth", "dataset", "--n", "2", "--out", str(tmp_path / "bad2"),
               "--real-dems", "etna"])
    assert rc != 0 and "etna" in capsys.readouterr().err


def test_cli_synth_dataset_with_more_of_nature(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nature"
    rc = main(["synth", "dataset", "--n", "4", "--out", str(out), "--size", "32",
               "--pixel-m", "300", "--turbulence", "powerlaw", "--turbulent-sigma-mm", "5,19",
               "--turbulence-axis-ratio", "1,3", "--stratification-profile", "mixed",
               "--orbital-ramp-m", "0.003,0.03", "--unwrap-error-fraction", "0.5",
               "--incoherent-shapes", "blobs,excursion,band",
               "--sources", "mogi_pair,sill_gaussian"])
    assert rc == 0
    capsys.readouterr()
    ds = load_dataset(out)
    recipe = ds.manifest["recipe"]
    assert recipe["turbulence"] == "powerlaw" and recipe["orbital_ramp_m"] == [0.003, 0.03]
    assert recipe["turbulent_sigma_m"] == [0.005, 0.019]
    assert recipe["incoherent_shapes"] == ["blobs", "excursion", "band"]
    assert ds.x.shape == (4, 32, 32)
    assert main(["synth", "dataset", "--n", "2", "--out", str(tmp_path / "bad"),
                 "--turbulence", "powerlaw", "--incoherent-shapes", "lakes"]) == 2
    assert "incoherent shapes" in capsys.readouterr().err

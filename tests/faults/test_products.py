"""Hostile and broken products: refused before they join a series, never wedging a target.

Every bad product here is a real file written with rasterio into a synthetic LiCSAR
archive (:func:`monitor.io.synth_archive.write_synthetic_archive`, 128 x 128 pixels):
truncated and corrupt GeoTIFFs, a decompression bomb (1 MB of deflate claiming 7000 x
7000 float32 pixels), infinities, NaN only, 1e30, complex and integer phase, phase of
13 m LOS, an incoherent product, a product on another grid, a product that vanishes
between listing and fetch, a full disk under the cache and under the series store, and a
scoring failure. Each is recorded in the fault suite's tally (``faults``).

What must hold: the product is refused before anything of it is appended (the series
file never keeps its step), it is quarantined with a reason naming the file and the
check, the daisy chain goes on with another listed pair from the same date when the
network has one (LiCSAR's 3-nearest), else the frame is reported blocked and ``poll
--once`` exits 4; the poll itself never raises, other targets go on, and the target's
due e-mails still go out.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from prometheus_client import CollectorRegistry
from rasterio.transform import Affine
from rasterio.windows import Window

from monitor.archive import LocalArchive, cache
from monitor.cli import main
from monitor.config import Settings, load_settings
from monitor.domain import ProductRef, ProductStatus
from monitor.errors import BrokenProduct
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.metrics import WatchMetrics
from monitor.science.synth_series import SeriesScenario
from monitor.service import pipeline
from monitor.service.context import WatchContext
from monitor.service.pipeline import poll_target
from monitor.service.scoring_task import RawScoring, ScoringJob
from monitor.service.series_files import load_state, series_path
from monitor.store import Store, make_engine, upgrade

from .conftest import FaultTally

torch.set_num_threads(1)

FRAME = "022D_04826_121209"
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
START = date(2024, 1, 6)
E = [START + timedelta(days=12 * k) for k in range(12)]
QUIET = SeriesScenario(n_epochs=4, onset=None, stratified_strength="none", decorrelate=False)
#: Inflation from 2024-02-23 at 0.5 m/yr: the packaged detector raises an alert after it
#: (tests/test_pipeline.py).
INFLATING = SeriesScenario(n_epochs=12, onset=date(2024, 2, 23), rate_m_per_yr=0.5,
                           stratified_strength="none", decorrelate=False)


def _pair(d1: date, d2: date) -> str:
    return f"{d1:%Y%m%d}_{d2:%Y%m%d}"


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three archives written once: 4 epochs of a 3-nearest network and of a daisy chain
    (quiet), and 12 epochs of a daisy chain with an inflation that raises alerts."""
    out = {}
    for name, scenario, network in (("nearest3", QUIET, "nearest3"),
                                    ("daisy", QUIET, "daisy"),
                                    ("inflating", INFLATING, "daisy")):
        root = tmp_path_factory.mktemp(name)
        write_synthetic_archive(root, scenario=scenario, frame=FRAME, volcano="synthetic",
                                size_px=128, centre_lonlat=(120.0, 14.0), seed=3,
                                network=network)  # type: ignore[arg-type]
        out[name] = root
    return out


def make_world(tmp: Path, source: Path, model: LoadedModel,
               metrics: WatchMetrics | None = None, *, cache_dir: Path | None = None,
               series_dir: Path | None = None) -> tuple[Settings, WatchContext, Path]:
    shutil.copytree(source / FRAME, tmp / "archive" / FRAME)
    cfg = tmp / "monitor.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        url = "sqlite:///{tmp}/watch.db"
        [watch]
        series_dir = "{series_dir or tmp / 'series'}"
        cache_dir = "{cache_dir or tmp / 'cache'}"
        quicklook_dir = "{tmp}/quicklooks"
        [science]
        # The CNN: this scenario's alerts come from its single-map rule. On a 128-pixel frame
        # (13 km, under one 20 km window) the block detector, the default, is not calibrated.
        detector = "cnn"
        [email]
        mode = "dry-run"
        outbox_dir = "{tmp}/outbox"
        [archives.local]
        kind = "local"
        root = "{tmp}/archive"
        [[targets]]
        id = "t1"
        name = "Target One"
        lon = 120.0
        lat = 14.0
        radius_km = 1.5
        archive = "local"
        frames = ["{FRAME}"]
        recipients = ["observatory@example.org"]
        """), encoding="utf-8")
    settings = load_settings(cfg, environ={})
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    return settings, WatchContext.from_settings(settings, store, model, metrics), cfg


def unw_path(tmp: Path, d1: date, d2: date) -> Path:
    p = _pair(d1, d2)
    return tmp / "archive" / FRAME / "interferograms" / p / f"{p}.geo.unw.tif"


def cc_path(tmp: Path, d1: date, d2: date) -> Path:
    p = _pair(d1, d2)
    return tmp / "archive" / FRAME / "interferograms" / p / f"{p}.geo.cc.tif"


def _rewrite(path: Path, data: np.ndarray, *, dtype: str | None = None,
             transform: Affine | None = None) -> None:
    """Write ``data`` over the GeoTIFF at ``path``, keeping its georeference."""
    with rasterio.open(path) as src:
        profile = src.profile
    profile.update(dtype=dtype or data.dtype.name, compress="deflate")
    if transform is not None:
        profile["transform"] = transform
    if np.dtype(profile["dtype"]).kind != "f":
        profile["nodata"] = None
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(profile["dtype"]), 1)


def write_bomb(path: Path, size: int = 7000) -> None:
    """A deflate GeoTIFF of ``size`` x ``size`` float32 zeros on the frame's CRS, written
    in row blocks (the test never holds the whole image)."""
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1,
               "dtype": "float32", "crs": "EPSG:4326", "compress": "deflate",
               "tiled": True, "blockxsize": 512, "blockysize": 512, "nodata": float("nan"),
               "transform": Affine(0.001, 0, 119.9, 0, -0.001, 14.1)}
    block = np.zeros((512, size), np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, size, 512):
            n = min(512, size - row)
            dst.write(block[:n], 1, window=Window(0, row, size, n))


def spoil(kind: str, tmp: Path, d1: date, d2: date) -> None:
    """Make the product ``(d1, d2)`` of the archive under ``tmp`` bad in the way ``kind``
    names (real files, written with rasterio or cut with bytes)."""
    unw = unw_path(tmp, d1, d2)
    with rasterio.open(unw) as src:
        phase = src.read(1)
        transform = src.transform
    if kind == "truncated":
        unw.write_bytes(unw.read_bytes()[: unw.stat().st_size // 2])
    elif kind == "corrupt":  # the header intact, the compressed pixels overwritten
        raw = bytearray(unw.read_bytes())
        n = len(raw)
        raw[n // 3: n - 64] = np.random.default_rng(0).integers(
            0, 256, n - 64 - n // 3, dtype=np.uint8).tobytes()
        unw.write_bytes(bytes(raw))
    elif kind == "inf":
        bad = phase.copy()
        bad[60:63, 60:63] = np.inf
        _rewrite(unw, bad)
    elif kind == "nan-only":
        _rewrite(unw, np.full_like(phase, np.nan))
    elif kind == "1e30":
        bad = phase.copy()
        bad[10, 10] = 1e30
        _rewrite(unw, bad)
    elif kind == "complex":
        _rewrite(unw, phase.astype(np.complex64), dtype="complex64")
    elif kind == "int":
        _rewrite(unw, np.round(np.nan_to_num(phase)), dtype="int16")
    elif kind == "13 m LOS":  # 3000 rad: under the phase bound, beyond 10 m of LOS
        bad = phase.copy()
        bad[40:44, 40:44] = 3000.0
        _rewrite(unw, bad)
    elif kind == "incoherent":  # coherence 1/255 everywhere: no valid pixel
        with rasterio.open(cc_path(tmp, d1, d2)) as src:
            cc = src.read(1)
        _rewrite(cc_path(tmp, d1, d2), np.ones_like(cc), dtype="uint8")
    elif kind == "other grid":  # the same pixels 0.05 degree further east
        _rewrite(unw, phase, transform=transform @ Affine.translation(50, 0))
        _rewrite(cc_path(tmp, d1, d2), np.full_like(phase, 200), dtype="uint8",
                 transform=transform @ Affine.translation(50, 0))
    elif kind == "bomb":
        write_bomb(unw)
    else:  # pragma: no cover - a typo in the parametrisation
        raise AssertionError(kind)


#: Bad kinds, and a word each refusal must name.
KINDS = {
    "truncated": "not a readable raster", "corrupt": "broken product", "inf": "infinite",
    "nan-only": "no finite value", "1e30": "|phase| above", "complex": "complex",
    "int": "expected a float raster", "13 m LOS": "above 10 m", "incoherent": "coherence above",
    "other grid": "differs from the series grid", "bomb": "rasters.max_bytes",
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_bad_product_is_quarantined_and_bridged(kind: str, tmp_path: Path,
                                                  staging: dict[str, Path],
                                                  model: LoadedModel,
                                                  faults: FaultTally) -> None:
    """(e1, e2) is bad: quarantined naming the check, and (e1, e3) of the 3-nearest
    network carries the chain on; nothing of the bad product is in the series."""
    registry = CollectorRegistry()
    settings, ctx, _ = make_world(tmp_path, staging["nearest3"], model,
                                  WatchMetrics(registry))
    spoil(kind, tmp_path, E[1], E[2])
    faults.bad_input(f"product: {kind}")
    report = poll_target(ctx, settings.target("t1"), NOW)
    assert report.blocked == () and report.quarantined == 1
    (failure,) = report.failures
    assert failure.pair == _pair(E[1], E[2]) and failure.reason == "validate"
    assert KINDS[kind] in failure.message, failure.message
    row = ctx.store.get_product("t1", FRAME, E[1], E[2])
    assert row.status == ProductStatus.QUARANTINED.value
    assert row.last_error is not None and _pair(E[1], E[2]) in row.last_error
    state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
    assert state is not None and state.last_epoch == E[3] and state.n_epochs == 3
    assert np.isfinite(state.cumulative_m).mean() > 0.5
    assert np.nanmax(np.abs(state.cumulative_m)) < 1.0
    assert E[2] not in {e.epoch for e in ctx.store.list_epochs("t1")}
    assert any("bridges the quarantined" in n for n in report.notes)
    assert registry.get_sample_value("insar_monitor_products_failed_total",
                                     {"target": "t1", "reason": "validate"}) == 1
    # Not retried by itself, and the next poll has nothing left to do.
    again = poll_target(ctx, settings.target("t1"), NOW + timedelta(days=1))
    assert again.ok and again.fetched == 0
    faults.wedged(0 if again.ok else 1)


@pytest.mark.parametrize("kind", ["bomb", "other grid"])
def test_a_bad_first_product_does_not_fix_the_series_grid(
        kind: str, tmp_path: Path, staging: dict[str, Path], model: LoadedModel,
        faults: FaultTally) -> None:
    """The frame metadata's height file fixes a new series' grid: a bomb or a product on
    another grid as the first product is refused, and the series starts on the frame's
    grid with the next pair from the same date."""
    settings, ctx, _ = make_world(tmp_path, staging["nearest3"], model)
    spoil(kind, tmp_path, E[0], E[1])
    faults.bad_input(f"first product: {kind}")
    report = poll_target(ctx, settings.target("t1"), NOW)
    assert report.quarantined == 1 and report.blocked == () and report.ingested >= 2
    grid = json.loads((Path(settings.watch.series_dir) / f"t1__{FRAME}.grid.json")
                      .read_text())
    assert grid["shape"] == [128, 128] and grid["source"].endswith(".geo.hgt.tif")
    state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
    assert state is not None and state.first_epoch == E[0] and state.last_epoch == E[3]


def test_the_bomb_is_refused_from_its_header_with_bounded_memory(
        tmp_path: Path, faults: FaultTally) -> None:
    """1 MB on disk claiming 7000 x 7000 float32: refused in milliseconds, before a pixel
    is decompressed; peak RSS measured in a fresh interpreter (ru_maxrss)."""
    bomb = tmp_path / "bomb.geo.unw.tif"
    write_bomb(bomb)
    size_mb = bomb.stat().st_size / 1e6
    assert size_mb < 2.0
    faults.bad_input("product: decompression bomb (subprocess)")
    probe = textwrap.dedent(f"""
        import json, resource, time
        from pathlib import Path
        from monitor.archive import cache
        from monitor.errors import BrokenProduct
        from monitor.io.rasters import read_raster
        import rasterio
        # Warm the imports and GDAL's drivers on a tiny file first.
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        try:
            cache.validate_product(Path({str(bomb)!r}), "unw", "file:///bomb")
            outcome = "accepted"
        except BrokenProduct as exc:
            outcome = str(exc)
        dt = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"outcome": outcome, "seconds": dt, "before_kib": before,
                           "peak_kib": after}}))
        """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "rasters.max_bytes" in result["outcome"], result
    growth_mib = (result["peak_kib"] - result["before_kib"]) / 1024
    assert result["seconds"] < 0.5 and growth_mib < 32, result
    faults.measured("bomb 7000x7000 file MB", round(size_mb, 2))
    faults.measured("bomb 7000x7000 refusal ms", round(1000 * result["seconds"], 1))
    faults.measured("bomb 7000x7000 peak rss MiB", round(result["peak_kib"] / 1024, 1))
    faults.measured("bomb 7000x7000 rss growth MiB", round(growth_mib, 1))


def test_validate_product_refuses_every_bad_kind_before_the_cache(
        tmp_path: Path, staging: dict[str, Path], faults: FaultTally) -> None:
    """The fetch-time check alone (no pipeline): every unusable file is a BrokenProduct
    naming its URL, and a good one passes."""
    shutil.copytree(staging["nearest3"] / FRAME, tmp_path / "archive" / FRAME)
    cache.validate_product(unw_path(tmp_path, E[0], E[1]), "unw", "file:///good")
    for kind in ("truncated", "corrupt", "inf", "nan-only", "1e30", "complex", "int",
                 "bomb"):
        spoil(kind, tmp_path, E[0], E[1])
        faults.bad_input(f"validate_product: {kind}")
        with pytest.raises(BrokenProduct, match="file:///bad"):
            cache.validate_product(unw_path(tmp_path, E[0], E[1]), "unw", "file:///bad")
        shutil.copy(staging["nearest3"] / FRAME / "interferograms" / _pair(E[0], E[1])
                    / f"{_pair(E[0], E[1])}.geo.unw.tif", unw_path(tmp_path, E[0], E[1]))
    with rasterio.open(unw_path(tmp_path, E[0], E[1])) as src:
        profile = src.profile
    three = tmp_path / "three.tif"
    profile.update(count=3)
    with rasterio.open(three, "w", **profile) as dst:
        dst.write(np.zeros((3, 128, 128), np.float32))
    faults.bad_input("validate_product: 3 bands")
    with pytest.raises(BrokenProduct, match="3 bands"):
        cache.validate_product(three, "unw", "file:///bad")


def test_without_a_bridge_the_frame_is_blocked_until_retried(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel,
        capsys: pytest.CaptureFixture[str], faults: FaultTally) -> None:
    """The reported wedge: inf pixels in a daisy chain. The poll goes on, the frame is
    reported blocked (exit 4, metrics, WARNING), the operator finds the product with
    ``products list`` and re-queues it with ``products retry`` once the archive is fixed."""
    registry = CollectorRegistry()
    settings, ctx, cfg = make_world(tmp_path, staging["daisy"], model, WatchMetrics(registry))
    good = unw_path(tmp_path, E[1], E[2]).read_bytes()
    spoil("inf", tmp_path, E[1], E[2])
    faults.bad_input("product: inf (no bridge)")
    report = poll_target(ctx, settings.target("t1"), NOW)
    assert [(b.frame, b.at) for b in report.blocked] == [(FRAME, E[1])]
    assert "infinite" in report.blocked[0].reason and not report.ok
    assert registry.get_sample_value("insar_monitor_frames_blocked", {"target": "t1"}) == 1
    # Every later poll says so again, names the product, and does not raise.
    assert main(["poll", "t1", "--once", "--config", str(cfg)]) == 4
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
    assert summary["blocked"][0]["at"] == E[1].isoformat()
    assert _pair(E[1], E[2]) in summary["blocked"][0]["reason"]
    assert main(["run", "--once", "--config", str(cfg)]) == 4
    capsys.readouterr()
    assert main(["products", "list", "--status", "quarantined", "--config", str(cfg)]) == 0
    (listed,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert listed["pair"] == _pair(E[1], E[2]) and "infinite" in listed["last_error"]
    unw_path(tmp_path, E[1], E[2]).write_bytes(good)
    assert main(["products", "retry", str(listed["id"]), "--config", str(cfg)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "listed"
    assert main(["poll", "t1", "--once", "--config", str(cfg)]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
    assert summary["ingested"] == 2 and summary["blocked"] == []
    assert main(["products", "retry", str(listed["id"]), "--config", str(cfg)]) != 0
    faults.wedged(0)


def test_a_failed_scoring_is_rolled_back_and_bridged(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel,
        monkeypatch: pytest.MonkeyPatch, faults: FaultTally) -> None:
    """Scoring that raises for one step: the step never reaches the series file nor the
    store, the product is quarantined (stage ``score``), the chain bridges it."""
    settings, ctx, _ = make_world(tmp_path, staging["nearest3"], model)
    original = pipeline.score_raw

    def fails_at_e2(job: ScoringJob) -> RawScoring:
        if job.epoch == E[2]:
            raise FloatingPointError("scoring blew up at E2")
        return original(job)

    monkeypatch.setattr(pipeline, "score_raw", fails_at_e2)
    faults.injected("scoring exception")
    report = poll_target(ctx, settings.target("t1"), NOW)
    (failure,) = report.failures
    assert (failure.pair, failure.stage, failure.reason) == (_pair(E[1], E[2]), "score",
                                                             "validate")
    assert report.blocked == () and report.quarantined == 1
    state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
    assert state is not None and state.last_epoch == E[3] and state.n_epochs == 3
    assert E[2] not in {e.epoch for e in ctx.store.list_epochs("t1")}
    assert ctx.store.get_score("t1", E[2]) is None and ctx.store.get_score("t1", E[3])
    row = ctx.store.get_product("t1", FRAME, E[1], E[2])
    assert row.status == "quarantined" and "scoring blew up" in (row.last_error or "")


def test_a_vanished_product_waits_then_is_bridged(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel,
        monkeypatch: pytest.MonkeyPatch, faults: FaultTally) -> None:
    """Listed, then gone at fetch: a failure that may pass (retried with backoff, the
    chain waits); once the archive no longer lists it, the chain bridges the date."""
    settings, ctx, _ = make_world(tmp_path, staging["nearest3"], model)
    original = LocalArchive.list_products
    gone = unw_path(tmp_path, E[1], E[2]).parent

    def list_then_vanish(self: LocalArchive, frame: str, since: date | None = None
                         ) -> list[ProductRef]:
        refs = original(self, frame, since)
        if gone.exists():
            shutil.rmtree(gone)
        return refs

    monkeypatch.setattr(LocalArchive, "list_products", list_then_vanish)
    faults.injected("product vanished between listing and fetch")
    first = poll_target(ctx, settings.target("t1"), NOW)
    (failure,) = first.failures
    assert (failure.pair, failure.stage, failure.reason) == (_pair(E[1], E[2]), "fetch",
                                                             "fetch")
    assert first.blocked == () and first.quarantined == 0
    row = ctx.store.get_product("t1", FRAME, E[1], E[2])
    assert row.status == ProductStatus.FAILED.value and row.next_attempt_at is not None
    second = poll_target(ctx, settings.target("t1"), NOW + timedelta(hours=1))
    assert second.ok and second.ingested == 1
    state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
    assert state is not None and state.last_epoch == E[3]


@contextlib.contextmanager
def full_disk(path: Path, size_kib: int, monkeypatch: pytest.MonkeyPatch,
              faults: FaultTally, what: str) -> Iterator[object]:
    """A directory that fills up: a ``size_kib`` tmpfs mounted at ``path`` when running
    as root and ``mount`` works (the kernel's real ENOSPC), else ENOSPC simulated by
    patching the writers (the atomic writer of the series and the cache's copy; forced
    with ``MONITOR_TEST_SIMULATE_ENOSPC=1``). The tally says which ran. Yields a callable
    that frees the disk (a larger tmpfs, or the patches undone)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount") \
            and not os.environ.get("MONITOR_TEST_SIMULATE_ENOSPC"):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs",
                               str(path)], capture_output=True)
        mounted = done.returncode == 0
    if mounted:
        faults.injected(f"ENOSPC {what} (tmpfs)")

        def free() -> None:
            subprocess.run(["mount", "-o", "remount,size=64m", str(path)], check=True)
        try:
            yield free
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)
        return
    faults.injected(f"ENOSPC {what} (simulated)")
    patch = pytest.MonkeyPatch()
    enospc = OSError(errno.ENOSPC, "No space left on device (simulated)", str(path))

    def no_space(*args: object, **kwargs: object) -> None:
        raise enospc

    if what == "cache":
        patch.setattr(cache, "install", no_space)
    else:
        patch.setattr("monitor.service.series_files.atomic_write", no_space)
    try:
        yield patch.undo
    finally:
        patch.undo()


@pytest.mark.parametrize("what", ["cache", "series"])
def test_a_full_disk_fails_the_poll_softly_and_resumes(
        what: str, tmp_path: Path, staging: dict[str, Path], model: LoadedModel,
        monkeypatch: pytest.MonkeyPatch, faults: FaultTally) -> None:
    """ENOSPC under the cache or the series store: the product fails as a failure that may
    pass (retried with backoff, never quarantined), the series keeps its last good state,
    and after space is freed the next poll goes on."""
    disk = tmp_path / "disk"
    # The cache: no product fits in 16 KiB; the series: one 128 x 128 state (about 180
    # KiB) fits in 256 KiB, the next atomic write (a second copy) does not.
    size = 16 if what == "cache" else 256
    with full_disk(disk, size, monkeypatch, faults, what) as free:
        settings, ctx, _ = make_world(tmp_path, staging["daisy"], model,
                                      **({"cache_dir": disk} if what == "cache"
                                         else {"series_dir": disk}))
        report = poll_target(ctx, settings.target("t1"), NOW)
        assert report.failures and report.quarantined == 0 and report.blocked == ()
        assert all(f.reason in ("fetch", "other") for f in report.failures)
        assert "No space left" in report.failures[0].message
        failed = ctx.store.list_products("t1", status=ProductStatus.FAILED.value)
        state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
        # The series kept its last good step: the failed product (if the disk refused a
        # product and not only the quicklook maps of a scored epoch) starts there.
        assert state is None or state.last_epoch < E[3]
        assert all(state is None or p.date1 == state.last_epoch for p in failed)
        free()  # type: ignore[operator]
        resumed = poll_target(ctx, settings.target("t1"), NOW + timedelta(hours=1))
        assert resumed.ok, resumed.failures
        state = load_state(series_path(settings.watch.series_dir, "t1", FRAME))
        assert state is not None and state.last_epoch == E[3]


def test_a_target_is_never_wedged_and_its_emails_go_out(
        tmp_path: Path, staging: dict[str, Path], model: LoadedModel,
        capsys: pytest.CaptureFixture[str], faults: FaultTally) -> None:
    """The inflating frame, with inf pixels in its last pair: the epochs before it are
    scored, their alerts raised and e-mailed by the same ``poll --once`` (exit 4: the
    frame is blocked); repeated polls neither raise nor send twice, and once the product
    is repaired and re-queued the last epoch goes in."""
    settings, ctx, cfg = make_world(tmp_path, staging["inflating"], model)
    last = (E[10], E[11])
    good = unw_path(tmp_path, *last).read_bytes()
    spoil("inf", tmp_path, *last)
    faults.bad_input("product: inf after an alert")
    wedged = 0
    assert main(["poll", "t1", "--once", "--config", str(cfg)]) == 4
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
    assert summary["ingested"] == 10 and summary["alerts_raised"] >= 1
    assert summary["sent"] == summary["deliveries_queued"] == summary["alerts_raised"]
    assert summary["blocked"] and summary["blocked"][0]["at"] == E[10].isoformat()
    outbox = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(outbox) == summary["alerts_raised"]
    for _ in range(2):
        code = main(["poll", "t1", "--once", "--config", str(cfg)])
        again = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
        wedged += int(code != 4 or again["blocked"] == [] or again["sent"] != 0)
    assert sorted((tmp_path / "outbox").glob("*.eml")) == outbox
    unw_path(tmp_path, *last).write_bytes(good)
    (row,) = ctx.store.list_products("t1", status="quarantined")
    ctx.store.requeue_product(row.id, NOW)
    assert main(["poll", "t1", "--once", "--config", str(cfg)]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
    assert summary["ingested"] == 1
    faults.wedged(wedged)
    assert wedged == 0

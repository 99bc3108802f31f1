"""Shared fixtures: seeded generators, temporary rasters, the shared DEM tiles, databases."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

# Many small BLAS calls stall badly when OpenBLAS threads oversubscribe 2 busy cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from faults.tally import TALLY

from monitor.io.models import LoadedModel

torch_threads = os.environ.get("MONITOR_TEST_TORCH_THREADS", "1")
try:  # keep CNN tests from oversubscribing the 2-core machines
    import torch

    torch.set_num_threads(int(torch_threads))
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass

POSTGRES_ENV = "MONITOR_TEST_POSTGRES_URL"
#: Parameters of a fixture run on SQLite always and on PostgreSQL when POSTGRES_ENV is set.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


StratifiedScene = dict[str, "np.ndarray"]


def _agung_scene(k1_zenith: float, incidence_deg: float, turbulence_m: float,
                 turbulence_length_m: float, seed: int, uplift_m: float) -> StratifiedScene:
    """The packaged Agung crop (224 x 224 pixels of 100 m, 0-2993 m) and maps over it:
    ``dem``; ``stratified``, a delay of ``k1_zenith`` per metre of height seen at
    ``incidence_deg``; ``turbulence``; ``uplift``, a Mogi source 3 km under the summit
    with a peak LOS of ``uplift_m``; ``atmosphere`` = S + T; ``deformation`` = S + T + D."""
    import math

    from monitor.evaluation.grids import dem_on_grid, dem_window
    from monitor.science.atmosphere import turbulent_delay
    from monitor.science.geometry import project_to_los
    from monitor.science.grids import grid_xy
    from monitor.science.sources import mogi

    dem = dem_window(dem_on_grid("agung", 100.0), 224, "agung").astype(np.float32)
    strat = -k1_zenith * (dem - dem.min()) / math.cos(math.radians(incidence_deg))
    turb = turbulent_delay((224, 224), 100.0, turbulence_m, turbulence_length_m,
                           np.random.default_rng(seed))
    r, c = np.unravel_index(int(np.argmax(dem)), dem.shape)
    x, y = grid_xy((224, 224), 100.0)
    enu = mogi(x - (c - 111.5) * 100.0, y + (r - 111.5) * 100.0, depth_m=3000.0,
               dvolume_m3=1e6)
    uplift = np.asarray(project_to_los(enu.east, enu.north, enu.up, incidence_deg, 190.0))
    uplift *= uplift_m / np.abs(uplift).max()
    as32 = {"dem": dem, "stratified": strat, "turbulence": turb, "uplift": uplift,
            "atmosphere": strat + turb, "deformation": strat + turb + uplift}
    return {k: np.asarray(v, dtype=np.float32) for k, v in as32.items()}


@pytest.fixture(scope="session")
def agung_scene() -> Callable[..., StratifiedScene]:
    """Builds a stratified scene over Agung (see ``_agung_scene``) for second-look tests."""
    return _agung_scene


@pytest.fixture(scope="session")
def model() -> LoadedModel:
    """The packaged compact detector, loaded once for the watch tests (read-only use);
    a module that needs other weights defines its own ``model``."""
    from monitor.io.models import load_detector

    return load_detector(None, "compact")


@contextmanager
def _fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """URL of an empty database: a SQLite file in ``folder``, or a fresh PostgreSQL schema
    (under ``MONITOR_TEST_POSTGRES_URL``) dropped afterwards; skips when that is unset."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'watch.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (e.g. postgresql://postgres@127.0.0.1/test)")
    from monitor.store import make_engine

    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base, connect_timeout_s=5)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def fresh_database() -> Callable[[str, Path], AbstractContextManager[str]]:
    """``fresh_database(backend, folder)``: a context giving an empty database's URL
    (for fixtures of any scope; see :data:`BACKENDS`)."""
    return _fresh_database


@pytest.fixture(params=BACKENDS)
def watch_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for one test, on each backend of :data:`BACKENDS`."""
    with _fresh_database(request.param, tmp_path) as url:
        yield url


# The fault suite's tally (tests/faults/tally.py). Under pytest-xdist each worker sends its
# own back when it finishes (tests/faults/conftest.py); the controller adds them up here,
# then prints the total and writes it to ``MONITOR_FAULT_REPORT``.
@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    sent = getattr(node, "workeroutput", {}).get("fault_tally")
    if sent:
        TALLY.merge(json.loads(sent))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = TALLY.as_dict()
    if not any(report[k] for k in ("injected", "bad_inputs", "figures")):
        return
    terminalreporter.section("fault suite tally")
    for key, value in report.items():
        terminalreporter.write_line(f"{key}: {json.dumps(value)}")
    path = os.environ.get("MONITOR_FAULT_REPORT")
    if path:
        Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

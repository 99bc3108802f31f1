"""Shared fixtures: seeded generators, temporary rasters, the shared DEM tiles."""

from __future__ import annotations

import os

# Many small BLAS calls stall badly when OpenBLAS threads oversubscribe 2 busy cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pathlib import Path

import numpy as np
import pytest

torch_threads = os.environ.get("MONITOR_TEST_TORCH_THREADS", "1")
try:  # keep CNN tests from oversubscribing the 2-core machines
    import torch

    torch.set_num_threads(int(torch_threads))
except ImportError:  # pragma: no cover - torch is a hard dependency
    pass

SHARED_DEM_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dem"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def shared_dem_dir() -> Path:
    if not SHARED_DEM_DIR.is_dir():
        pytest.skip(f"shared SRTM tiles not found at {SHARED_DEM_DIR}")
    return SHARED_DEM_DIR

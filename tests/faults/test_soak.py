"""A short soak (``bench/bench_soak.py``): 100 polls over 5 targets with faults injected
(broken products repaired later, a frame that is never there, an archive folder that
vanishes for three rounds, e-mail in the dry-run folder), in this process with an
injected clock; memory and file descriptors must stay flat after the warm-up, no poll may
raise, every alert must be delivered and no target may stay behind. The full soak (1,000
polls over 20 targets, ``--smtp`` for a real server that goes down) is the benchmark."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from faults.conftest import FaultTally
from monitor.io.models import LoadedModel

ROOT = Path(__file__).resolve().parents[2]
#: Growth allowed after the warm-up (the full soak's is ~0 MiB and 0 over 600 polls).
MAX_RSS_GROWTH_MIB = 8.0
MAX_FD_GROWTH = 1


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "bench_soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_short_soak_keeps_memory_and_descriptors_flat(tmp_path: Path, model: LoadedModel,
                                                      faults: FaultTally) -> None:
    result = _bench().run_soak(100, 5, workdir=tmp_path, model=model)
    for kind, n in result.faults.items():
        if n:
            faults.injected(f"soak: {kind}", n)
    faults.measured("soak (short): polls", result.polls)
    faults.measured("soak (short): rss growth MiB", result.rss_growth_mib)
    faults.measured("soak (short): fd growth", result.fd_growth)
    faults.lost(result.alerts - result.deliveries_sent)
    faults.wedged(result.wedged_targets)
    assert result.polls == 100 and result.poll_errors == 0
    assert result.faults["broken product"] >= 1 and result.product_failures >= 1
    assert result.alerts >= 1 and result.deliveries_sent == result.alerts
    assert result.outbox_depth == 0 and result.wedged_targets == 0
    assert len(result.rss_samples_mib) >= 10, "too few readings after the warm-up"
    assert result.rss_growth_mib <= MAX_RSS_GROWTH_MIB, result.rss_samples_mib
    assert result.fd_growth <= MAX_FD_GROWTH, result.fd_samples

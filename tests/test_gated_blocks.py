"""The gated block network: coherent windows to one network, windows with gaps to the
other, its logits on the first one's scale; the packaged model is one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.config import load_settings
from monitor.errors import InputError, ModelError
from monitor.io.models import load_block_model, save_model
from monitor.noise_bank import load_noise_bank
from monitor.science.detect.blocks import (
    BlockCalibration,
    BlockDetector,
    BlockNet,
    window_channels,
)
from monitor.science.detect.gated_blocks import (
    GAP_GATE,
    GatedBlockNet,
    block_network,
    coherent_scale,
    gate_networks,
    to_coherent_scale,
)
from monitor.science.incoherent_shapes import excursion_mask

CROP = Path(__file__).parent / "data" / "erta_ale_014A"
FRAME = "014A_07688_131313"
COHERENT = BlockCalibration(1.3, 0.35, None, 1.8)
GAPPED = BlockCalibration(-0.6, 0.7, None, 2.5)


def _nets() -> tuple[BlockNet, BlockNet, GatedBlockNet]:
    torch.manual_seed(0)
    a, b = BlockNet(4).eval(), BlockNet(6).eval()
    return a, b, gate_networks(a, b, coherent_scale(COHERENT, GAPPED))


def _windows(invalid: list[float]) -> torch.Tensor:
    """Windows of 30 x 30 blocks of noise, the first ``invalid[k]`` share of rows of
    window k invalid."""
    rng = np.random.default_rng(3)
    out = []
    for share in invalid:
        b = rng.normal(0.0, 0.01, (30, 30))
        b[:round(share * 30)] = np.nan
        out.append(window_channels(b, None))
    return torch.from_numpy(np.stack(out))


def test_the_gap_networks_logit_gets_the_p_its_own_calibration_gives() -> None:
    scale = coherent_scale(COHERENT, GAPPED)
    logits = torch.linspace(-6.0, 6.0, 49, dtype=torch.float64)
    mapped = to_coherent_scale(logits, scale)
    np.testing.assert_allclose(COHERENT.probability(mapped.numpy()),
                               GAPPED.probability(logits.numpy()), atol=1e-12)
    assert float(to_coherent_scale(torch.tensor(GAPPED.threshold), scale)) == pytest.approx(
        COHERENT.threshold)
    assert bool(torch.all(torch.diff(mapped) > 0))  # order kept


def test_windows_go_to_the_network_that_reads_them() -> None:
    a, b, gated = _nets()
    x = _windows([0.0, 0.05, 0.1, 0.3, 0.6])
    with torch.no_grad():
        assert gated.gated(x).tolist() == [False, False, True, True, True]
        got = gated(x)
        plain, gap = a(x), to_coherent_scale(b(x), gated.scale)
        torch.testing.assert_close(got[:2], plain[:2])
        torch.testing.assert_close(got[2:], gap[2:])
        logits, maps = gated.evidence(x)
        torch.testing.assert_close(logits, got)
        torch.testing.assert_close(maps[:2], a.evidence(x)[1][:2])
        torch.testing.assert_close(maps[2:], b.evidence(x)[1][2:])
    assert GAP_GATE == 0.1


def test_a_gated_model_file_reads_back_and_its_coherent_part_is_the_plain_network(
        tmp_path: Path) -> None:
    a, _, gated = _nets()
    path = tmp_path / "g.pt"
    save_model(path, gated, {"calibration": {"threshold": 1.3, "slope": 0.35}})
    loaded = load_block_model(path)
    assert isinstance(loaded.model, GatedBlockNet) and loaded.model.config() == gated.config()
    x = _windows([0.0, 0.5])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), gated(x))
        torch.testing.assert_close(loaded.model.coherent()(x), a(x))
    # a plain network's keys are the gated one's coherent part
    assert set(a.state_dict()) < set(gated.state_dict())
    with pytest.raises(InputError, match="both networks must be plain"):
        gate_networks(gated, a, gated.scale)


@pytest.mark.parametrize(("change", "message"), [
    ({"gate": 0.0}, "gate must lie in \\(0, 1\\)"),
    ({"gate": 1.5}, "gate must lie in \\(0, 1\\)"),
    ({"scale": {"threshold": 1.0}}, "scale must hold gap_threshold"),
    ({"scale": {"gap_threshold": 0.0, "threshold": 1.0, "ratio_below": -1.0,
                "ratio_above": 1.0}}, "positive ratios"),
    ({"scale": {"gap_threshold": float("nan"), "threshold": 1.0, "ratio_below": 1.0,
                "ratio_above": 1.0}}, "finite"),
])
def test_a_bad_gated_configuration_is_refused_by_name(tmp_path: Path, change: dict,
                                                      message: str) -> None:
    _, _, gated = _nets()
    config = {**gated.config(), **change}
    with pytest.raises(InputError, match=message):
        block_network(config)
    # in a model file, the file is named
    path = tmp_path / "bad.pt"
    save_model(path, gated, {"calibration": {"threshold": 1.3, "slope": 0.35}})
    payload = torch.load(path, weights_only=True)
    payload["config"] = config
    torch.save(payload, path)
    with pytest.raises(ModelError, match=f"model file {str(path)!r}"):
        load_block_model(path)


def test_the_packaged_model_reads_coherent_maps_with_its_coherent_network_alone() -> None:
    packaged = load_block_model(None)
    assert isinstance(packaged.model, GatedBlockNet)
    assert packaged.model.gate == GAP_GATE
    gap = packaged.meta["gap_network"]
    assert gap["options"]["incoherent_fraction"] > 0
    assert gap["calibration"]["source"] == packaged.calibration.source
    bank = load_noise_bank(str(CROP), FRAME, load_settings(None))
    identity = BlockCalibration(0.0, 1.0)
    gated = BlockDetector(packaged.model, identity, bank.grid.pixel_m, bank.dem)
    plain = BlockDetector(packaged.model.coherent(), identity, bank.grid.pixel_m, bank.dem)
    maps = [e.displacement_m for e in bank.epochs[:6]]
    # the real crop is coherent: the gated model is its coherent network exactly
    assert [gated.window_logits(m) for m in maps] == [plain.window_logits(m) for m in maps]
    # half of each map incoherent: the gap network reads it, on the coherent scale
    rng = np.random.default_rng(1)
    holes = [excursion_mask(m.shape, bank.grid.pixel_m[0], rng, 0.5, 1500.0) for m in maps]
    gapped = [np.where(h, np.nan, m) for h, m in zip(holes, maps, strict=True)]
    got = [max(w[2] for w in gated.window_logits(m)) for m in gapped]
    alone = BlockDetector(packaged.model.gapped, identity, bank.grid.pixel_m, bank.dem)
    own = torch.tensor([max(w[2] for w in alone.window_logits(m)) for m in gapped],
                       dtype=torch.float64)
    np.testing.assert_allclose(got, to_coherent_scale(own, packaged.model.scale).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert got != [max(w[2] for w in plain.window_logits(m)) for m in gapped]

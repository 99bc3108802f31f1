"""Detector networks, encodings, registry and model files."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.errors import InputError, ModelError
from monitor.io.models import load_model, model_sha256, save_model
from monitor.science.detect.alexnet import AlexNet, load_torchvision_weights
from monitor.science.detect.compact import CompactNet
from monitor.science.detect.encoding import encode
from monitor.science.detect.registry import build_model

TINY_COMPACT = (4, 4, 4, 8)
TINY_ALEX: dict[str, tuple[int, ...] | int] = {"conv_widths": (4, 4, 4, 4, 4), "fc_width": 8}

#: torchvision.models.alexnet().state_dict(): key -> shape, written out by hand from
#: torchvision's definition (features.0/3/6/8/10 convolutions, classifier.1/4/6 linear).
TORCHVISION_ALEXNET_SHAPES: dict[str, tuple[int, ...]] = {
    "features.0.weight": (64, 3, 11, 11),
    "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5),
    "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3),
    "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3),
    "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3),
    "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216),
    "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096),
    "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096),
    "classifier.6.bias": (1000,),
}


@pytest.fixture(autouse=True)
def _two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def torchvision_state() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {k: torch.randn(s, generator=gen) for k, s in TORCHVISION_ALEXNET_SHAPES.items()}


# --- AlexNet ---------------------------------------------------------------------------


def test_alexnet_layout_matches_torchvision(torchvision_state: dict[str, torch.Tensor]) -> None:
    net = AlexNet(num_classes=1000)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes == TORCHVISION_ALEXNET_SHAPES
    net.load_state_dict(torchvision_state, strict=True)
    assert torch.equal(net.features[10].weight, torchvision_state["features.10.weight"])
    assert isinstance(net.classifier[0], torch.nn.Dropout)
    assert isinstance(net.classifier[3], torch.nn.Dropout)
    assert net.avgpool.output_size == (6, 6)


def test_torchvision_weights_load_except_final_layer(
    torchvision_state: dict[str, torch.Tensor],
) -> None:
    torch.manual_seed(1)
    net = AlexNet(num_classes=2)
    final_before = net.classifier[6].weight.detach().clone()
    skipped = load_torchvision_weights(net, torchvision_state)
    assert skipped == ("classifier.6.weight", "classifier.6.bias")
    for key in TORCHVISION_ALEXNET_SHAPES:
        if not key.startswith("classifier.6"):
            assert torch.equal(net.state_dict()[key], torchvision_state[key]), key
    assert torch.equal(net.classifier[6].weight, final_before)
    assert tuple(net.classifier[6].weight.shape) == (2, 4096)
    # A 1000-class network takes every layer.
    assert load_torchvision_weights(AlexNet(num_classes=1000), torchvision_state) == ()


def test_torchvision_weights_mismatch_is_a_model_error(
    torchvision_state: dict[str, torch.Tensor],
) -> None:
    net = AlexNet(num_classes=2)
    missing = {k: v for k, v in torchvision_state.items() if k != "features.3.bias"}
    with pytest.raises(ModelError, match="features.3.bias"):
        load_torchvision_weights(net, missing)
    tiny = AlexNet(conv_widths=(4, 4, 4, 4, 4), fc_width=8)
    with pytest.raises(ModelError, match="features.0.weight"):
        load_torchvision_weights(tiny, torchvision_state)


def test_alexnet_forward_shape_and_patch_check() -> None:
    net = AlexNet(conv_widths=(4, 4, 4, 4, 4), fc_width=8).eval()
    x = torch.zeros(3, 3, 224, 224)
    assert tuple(net(x).shape) == (3, 2)
    assert tuple(net.patch_logits(x).shape) == (3, 2)
    with pytest.raises(InputError, match="224"):
        net.patch_logits(torch.zeros(1, 3, 200, 224))


# --- compact network -------------------------------------------------------------------


def test_compact_default_is_small_and_gives_one_output_per_patch() -> None:
    net = CompactNet().eval()
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params < 1_000_000
    with torch.no_grad():
        assert tuple(net(torch.zeros(2, 3, 224, 224)).shape) == (2, 2, 1, 1)
        # 224 + 28 * k input -> k + 1 outputs per axis (stride 28).
        assert tuple(net(torch.zeros(1, 3, 224 + 56, 224 + 28)).shape) == (1, 2, 3, 2)
    assert net.dense_stride == 28


def test_compact_receptive_field_is_exactly_the_patch() -> None:
    """Output (1, 0) reads every row and column of the patch at (28, 0) and nothing else."""
    torch.manual_seed(0)
    net = CompactNet(widths=TINY_COMPACT).eval()
    base = torch.randn(1, 3, 224 + 56, 224 + 28)
    lines = [("row", 27, False), ("row", 28, True), ("row", 251, True), ("row", 252, False),
             ("col", 0, True), ("col", 223, True), ("col", 224, False)]
    with torch.no_grad():
        out = net(base)[0, :, 1, 0]
        for axis, index, inside in lines:
            x = base.clone()
            if axis == "row":
                x[0, :, index, :] += 5.0 * torch.randn(3, x.shape[-1])
            else:
                x[0, :, :, index] += 5.0 * torch.randn(3, x.shape[-2])
            changed = not torch.equal(net(x)[0, :, 1, 0], out)
            assert changed == inside, (axis, index)


# --- encodings and registry ------------------------------------------------------------


def test_encodings_recover_known_values() -> None:
    psi = np.array([[0.0, math.pi / 2], [-math.pi, np.nan]], dtype=np.float32)
    gray = encode(psi, "gray")
    assert gray.shape == (3, 2, 2) and gray.dtype == np.float32
    np.testing.assert_allclose(gray[1], [[0.0, 0.5], [-1.0, 0.0]], atol=1e-6)
    np.testing.assert_array_equal(gray[0], gray[2])
    csm = encode(psi, "cos_sin_mask")
    np.testing.assert_allclose(csm[0], [[1.0, 0.0], [-1.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(csm[1], [[0.0, 1.0], [0.0, 0.0]], atol=1e-6)
    np.testing.assert_array_equal(csm[2], [[1.0, 1.0], [1.0, 0.0]])
    batch = encode(np.stack([psi, psi]), "cos_sin_mask")
    assert batch.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(batch[1], csm)
    with pytest.raises(InputError, match="unknown input encoding 'rgb'"):
        encode(psi, "rgb")
    with pytest.raises(InputError, match="2 dimensions"):
        encode(np.zeros(4), "gray")


def test_build_model_by_name_and_bad_configs() -> None:
    net = build_model("compact", widths=[4, 4, 4, 8], encoding="gray")
    assert isinstance(net, CompactNet) and net.config()["widths"] == (4, 4, 4, 8)
    assert net.encoding == "gray"
    assert isinstance(build_model("alexnet", **TINY_ALEX), AlexNet)
    with pytest.raises(InputError, match="unknown detector architecture 'resnet'"):
        build_model("resnet")
    with pytest.raises(InputError, match="invalid configuration"):
        build_model("compact", depth=3)
    with pytest.raises(InputError, match="widths must be 4 positive integers"):
        build_model("compact", widths=(4, 4, 0, 8))
    with pytest.raises(InputError, match="num_classes"):
        build_model("alexnet", num_classes=1)
    with pytest.raises(InputError, match="encoding"):
        build_model("compact", encoding="phase")


# --- model files -----------------------------------------------------------------------


def test_model_file_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(3)
    net = build_model("compact", widths=TINY_COMPACT)
    with torch.no_grad():  # make batch-norm statistics non-trivial
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
    path = tmp_path / "m.pt"
    meta = {"seed": 7, "recipe": "test", "val": {"auc": 0.5}, "gains": [1, 2]}
    digest = save_model(path, net, meta)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest() == model_sha256(path)
    loaded = load_model(path)
    assert loaded.arch == "compact" and loaded.meta == meta and loaded.sha256 == digest
    assert not loaded.model.training
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net.eval()(x), rtol=0, atol=0)


def test_model_file_errors_name_the_file(tmp_path: Path) -> None:
    root = tmp_path
    missing = root / "nope.pt"
    with pytest.raises(ModelError, match="nope.pt"):
        load_model(missing)
    corrupt = root / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a torch file" * 10)
    with pytest.raises(ModelError, match="corrupt.pt.*corrupt"):
        load_model(corrupt)
    with pytest.raises(ModelError, match="nope.pt"):
        model_sha256(missing)
    good = root / "good.pt"
    save_model(good, build_model("compact", widths=TINY_COMPACT))
    truncated = root / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ModelError, match="truncated.pt.*truncated"):
        load_model(truncated)

    net = build_model("compact", widths=TINY_COMPACT)
    mismatched = root / "mismatch.pt"
    payload = {"format": 1, "arch": "compact", "config": {"widths": (4, 4, 4, 16)},
               "state_dict": net.state_dict(), "meta": {}}
    torch.save(payload, mismatched)
    with pytest.raises(ModelError, match="mismatch.pt.*do not match"):
        load_model(mismatched)
    unknown = root / "unknown.pt"
    torch.save({**payload, "arch": "vgg"}, unknown)
    with pytest.raises(ModelError, match="unknown.pt.*unknown detector architecture"):
        load_model(unknown)
    not_model = root / "dict.pt"
    torch.save({"weights": torch.zeros(3)}, not_model)
    with pytest.raises(ModelError, match="dict.pt.*format"):
        load_model(not_model)
    with pytest.raises(InputError, match="meta.*ndarray"):
        save_model(root / "bad.pt", net, {"x": np.zeros(2)})

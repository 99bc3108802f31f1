"""Patch inference (grid, Canny prefilter, merge, both paths) and multi-gain fusion."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.feature import canny

from monitor.errors import InputError
from monitor.science.detect.alexnet import AlexNet
from monitor.science.detect.base import PatchClassifier
from monitor.science.detect.canny import canny_mask, masked_canny, suppress_non_maxima
from monitor.science.detect.compact import CompactNet
from monitor.science.detect.encoding import encode
from monitor.science.detect.fusion import (
    detect_displacement,
    detect_wrapped,
    fuse_maps,
    pixel_centre_lonlat,
)
from monitor.science.detect.inference import (
    dense_probabilities,
    probability_map,
    probability_maps,
    sliding_window_probabilities,
)
from monitor.science.detect.patching import (
    PatchConfig,
    merge_patch_probabilities,
    pad_channels,
    patch_edge_counts,
    patch_grid,
    phase_jump_edges,
    prefilter_patches,
)
from monitor.science.geometry import rewrap, wrap

TINY = (4, 4, 4, 8)


@pytest.fixture(autouse=True)
def _two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _scene(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Wrapped phase: a bump of 6 cm at gain 2, 2 mm noise, an incoherent block."""
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    d = 0.06 * np.exp(-((yy - 0.3 * ny) ** 2 + (xx - 0.6 * nx) ** 2) / (2 * 40.0**2))
    d = d + 0.002 * rng.standard_normal(shape)
    d[: ny // 5, : nx // 4] = np.nan
    return rewrap(d, 2.0)


def _fringes(shape: tuple[int, int]) -> np.ndarray:
    """Wrapped phase of a steep ramp: a phase jump every ~17 px, so every patch is tested."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.asarray(wrap(0.3 * xx + 0.2 * yy + 0.1), dtype=np.float32)


def _spread(encoding: str) -> CompactNet:
    """Tiny compact net with random weights whose outputs vary from patch to patch.

    Batch-norm statistics come from patches of a test scene, and the last layer is scaled
    and shifted so that the logit difference has mean 0 and standard deviation 2 there.
    """
    torch.manual_seed(0)
    net = CompactNet(widths=TINY, encoding=encoding)
    rng = np.random.default_rng(1)
    big = _scene((420, 420), rng)
    corners = rng.integers(0, 420 - 224, size=(16, 2))
    crops = np.stack([big[r:r + 224, c:c + 224] for r, c in corners])
    calib = torch.from_numpy(encode(crops, encoding))
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None  # running statistics = plain average over the calibration
    net.train()
    with torch.no_grad():
        net(calib)
        net.eval()
        z = net(calib)[:, :, 0, 0]
        diff = z[:, 1] - z[:, 0]
        last = net.head[-1]
        last.weight.mul_(2.0 / float(diff.std()))
        last.bias.mul_(2.0 / float(diff.std()))
        last.bias[1] -= 2.0 * float(diff.mean()) / float(diff.std())
    return net


@pytest.fixture(scope="module")
def spread_net() -> CompactNet:
    return _spread("cos_sin_mask")


def _constant(net: PatchClassifier, p: float) -> PatchClassifier:
    """Make the last layer output P(deformation) = p for every patch."""
    last = net.head[-1] if isinstance(net, CompactNet) else net.classifier[6]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, math.log(p / (1 - p))]))
    return net.eval()


class _ExplodingNet(CompactNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the network must not run on background patches")


# --- patch grid ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "coverage", "k", "before", "after"),
    [
        (500, "centres", 19, 114, 114),
        (500, "seed", 11, 0, 4),
        (1, "centres", 1, 111, 112),
        (1, "seed", 1, 0, 223),
        (224, "centres", 9, 112, 112),
        (224, "seed", 1, 0, 0),
        (225, "seed", 2, 0, 27),
    ],
)
def test_patch_grid_known_layouts(n: int, coverage: str, k: int, before: int,
                                  after: int) -> None:
    grid = patch_grid(n, 7, PatchConfig(coverage=coverage))
    assert (grid.n_rows, grid.pad_top, grid.pad_bottom) == (k, before, after)
    assert grid.padded_shape[0] == 224 + 28 * (k - 1)


@pytest.mark.parametrize("n", [1, 2, 27, 28, 29, 100, 223, 224, 225, 333, 500])
def test_patch_centres_reach_every_pixel(n: int) -> None:
    grid = patch_grid(n, n, PatchConfig(coverage="centres"))
    centres = np.arange(grid.n_rows) * 28 + 112.0 - grid.pad_top  # image coordinates
    pixels = np.arange(n) + 0.5
    assert np.abs(pixels[:, None] - centres[None, :]).min(axis=1).max() <= 14.0
    assert centres.min() <= 1.0 and centres.max() >= n - 1.0


# --- Canny prefilter -------------------------------------------------------------------


def test_canny_finds_phase_jumps_and_ignores_nan_borders() -> None:
    yy, xx = np.mgrid[:120, :200]
    smooth = (2.0 * xx / 199 - 1.0).astype(np.float32)  # -1 .. 1 rad, no jump
    assert not phase_jump_edges(smooth).any()
    ramp = np.asarray(wrap(2 * np.pi * xx / 50.0 + 0.3), dtype=np.float32)  # 4 fringes
    cols = np.flatnonzero(phase_jump_edges(ramp)[60])
    jumps = np.flatnonzero(np.abs(np.diff(ramp[60])) > np.pi)  # wrap between j and j+1
    assert len(cols) == len(jumps) == 4
    assert np.all(np.abs(cols - jumps) <= 1)
    # An incoherent block inside constant phase 2.5 rad, with thresholds (1 and 2 rad
    # steps) that a 2.5 rad step passes: naive Canny (NaN -> 0, no mask) sees the block's
    # border; the prefilter does not.
    block = np.full((120, 200), 2.5, dtype=np.float32)
    block[30:80, 50:120] = np.nan
    low = PatchConfig(canny_low_step_rad=1.0, canny_high_step_rad=2.0)
    unit_step = 2.5637  # Canny gradient magnitude of a unit step at sigma = 1
    naive = canny(np.nan_to_num(block), low_threshold=1.0 * unit_step,
                  high_threshold=2.0 * unit_step, mode="nearest")
    assert naive.sum() > 100
    assert not phase_jump_edges(block, low).any()
    step = np.where(xx < 100, 2.5, 0.0).astype(np.float32)  # the same step, coherent
    assert phase_jump_edges(step, low)[1:-1, 99:101].any(axis=1).all()


def test_prefilter_tests_exactly_the_patches_holding_the_jump() -> None:
    psi = np.full((300, 300), 2.5, dtype=np.float32)
    psi[:, 150:] = -2.5  # a 5 rad phase jump between columns 149 and 150
    grid = patch_grid(300, 300, PatchConfig(coverage="centres"))
    tested = prefilter_patches(psi, grid)
    start = np.arange(grid.n_cols) * 28 - grid.pad_left
    expected = (start <= 149) & (start + 224 > 150)
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(tested, np.broadcast_to(expected, tested.shape))
    off = prefilter_patches(psi, grid, PatchConfig(min_edge_pixels=0))
    assert off.all()
    # A patch is tested when it holds at least min_edge_pixels edge pixels.
    most = int(patch_edge_counts(phase_jump_edges(psi), grid).max())
    assert most >= 200
    assert prefilter_patches(psi, grid, PatchConfig(min_edge_pixels=most)).any()
    assert not prefilter_patches(psi, grid, PatchConfig(min_edge_pixels=most + 1)).any()


def _canny_scenes() -> Iterator[np.ndarray]:
    """Wrapped phase with smooth and noisy fringes, some with incoherent holes and blocks."""
    rng = np.random.default_rng(11)
    for k in range(12):
        ny, nx = (int(v) for v in rng.integers(3, 260, size=2))
        field = ndimage.gaussian_filter(rng.standard_normal((ny, nx)), rng.uniform(2, 15))
        field *= rng.uniform(1, 30) / (field.std() + 1e-12)
        field += rng.uniform(0, 0.6) * rng.standard_normal((ny, nx))
        if k % 2:
            field[rng.uniform(size=(ny, nx)) < 0.05] = np.nan
        if k % 3 == 0:
            field[: ny // 3, : nx // 2] = np.nan
        yield np.asarray(wrap(field), dtype=np.float32)
    yield _scene((300, 280), rng)
    yield np.round(_fringes((90, 120)) * 4) / 4  # quantised: ties between gradients


@pytest.mark.parametrize(
    ("sigma", "low", "high", "mode"),
    [(1.0, 4.0, 8.0, "nearest"), (2.0, 0.5, 3.0, "nearest"), (1.0, 0.0, 2.0, "reflect")],
)
def test_masked_canny_gives_scikit_image_edges_bit_for_bit(sigma: float, low: float,
                                                            high: float, mode: str) -> None:
    found = 0
    for psi in _canny_scenes():
        valid = np.isfinite(psi)
        image = np.where(valid, psi, 0.0).astype(np.float64)
        expected = canny(image, sigma=sigma, low_threshold=low, high_threshold=high,
                         mask=valid, mode=mode)
        got = masked_canny(image, canny_mask(valid, sigma, mode), low, high)
        np.testing.assert_array_equal(got, expected)
        found += int(expected.sum())
    assert found > 1000


def test_numpy_non_maximum_suppression_matches_the_compiled_kernel() -> None:
    from skimage.feature._canny_cy import _nonmaximum_suppression_bilinear

    for psi in _canny_scenes():
        valid = np.isfinite(psi)
        smooth = ndimage.gaussian_filter(np.where(valid, psi, 0.0).astype(np.float64), 1.0)
        gi, gj = ndimage.sobel(smooth, axis=0), ndimage.sobel(smooth, axis=1)
        magnitude = np.hypot(gi, gj)
        eroded = canny_mask(valid, 1.0).eroded
        for low in (0.0, 1.0, 3.0):
            expected = _nonmaximum_suppression_bilinear(gi, gj, magnitude,
                                                        eroded.astype(np.uint8), low)
            got = suppress_non_maxima(gi, gj, magnitude, eroded, low)
            np.testing.assert_array_equal(got, np.asarray(expected))


def test_shared_canny_mask_gives_the_same_edges() -> None:
    psi = _scene((200, 260), np.random.default_rng(12))
    cfg = PatchConfig()
    own = phase_jump_edges(psi, cfg)
    assert own.any()
    shared = canny_mask(np.isfinite(psi), cfg.canny_sigma)
    np.testing.assert_array_equal(phase_jump_edges(psi, cfg, shared), own)
    # Terms of another mask (or sigma) are not used: the edges stay the same.
    other = canny_mask(np.ones(psi.shape, dtype=bool), cfg.canny_sigma)
    np.testing.assert_array_equal(phase_jump_edges(psi, cfg, other), own)
    np.testing.assert_array_equal(
        phase_jump_edges(psi, cfg, canny_mask(np.isfinite(psi), 2.0)), own)
    grid = patch_grid(*psi.shape, cfg)
    np.testing.assert_array_equal(prefilter_patches(psi, grid, cfg, other),
                                  prefilter_patches(psi, grid, cfg))


# --- merge -----------------------------------------------------------------------------


def test_merge_is_the_mean_of_covering_patches_then_gaussian() -> None:
    grid = patch_grid(60, 90)
    rng = np.random.default_rng(2)
    prob = rng.uniform(size=(grid.n_rows, grid.n_cols))
    brute = np.zeros((grid.ny, grid.nx))
    count = np.zeros((grid.ny, grid.nx))
    for i in range(grid.n_rows):
        for j in range(grid.n_cols):
            r, c = 28 * i - grid.pad_top, 28 * j - grid.pad_left
            rs, cs = slice(max(r, 0), max(r + 224, 0)), slice(max(c, 0), max(c + 224, 0))
            brute[rs, cs] += prob[i, j]
            count[rs, cs] += 1
    brute /= count
    no_smooth = PatchConfig(smooth_sigma_px=0.0)
    np.testing.assert_allclose(merge_patch_probabilities(prob, grid, no_smooth), brute,
                               atol=1e-6)
    smoothed = ndimage.gaussian_filter(brute, 5.0, truncate=2.0, mode="nearest")
    np.testing.assert_allclose(merge_patch_probabilities(prob, grid), smoothed, atol=1e-6)
    const = merge_patch_probabilities(np.full(prob.shape, 0.3), grid)
    np.testing.assert_allclose(const, 0.3, atol=1e-6)


@pytest.mark.parametrize(("shape", "coverage", "sigma"),
                         [((1, 1), "centres", 5.0), ((250, 100), "centres", 5.0),
                          ((500, 333), "seed", 5.0), ((301, 57), "seed", 2.3),
                          ((90, 200), "centres", 0.0)])
def test_merge_equals_the_per_pixel_mean_and_gaussian(shape: tuple[int, int],
                                                      coverage: str, sigma: float) -> None:
    cfg = PatchConfig(coverage=coverage, smooth_sigma_px=sigma)
    grid = patch_grid(*shape, cfg)
    rng = np.random.default_rng(5)
    prob = rng.uniform(size=(grid.n_rows, grid.n_cols)) * (rng.uniform(size=(grid.n_rows,
                                                                             grid.n_cols)) > 0.3)
    total = np.zeros(grid.padded_shape)
    count = np.zeros(grid.padded_shape)
    for i in range(grid.n_rows):
        for j in range(grid.n_cols):
            total[28 * i:28 * i + 224, 28 * j:28 * j + 224] += prob[i, j]
            count[28 * i:28 * i + 224, 28 * j:28 * j + 224] += 1
    rows = slice(grid.pad_top, grid.pad_top + grid.ny)
    cols = slice(grid.pad_left, grid.pad_left + grid.nx)
    mean = total[rows, cols] / count[rows, cols]
    if sigma > 0:
        mean = ndimage.gaussian_filter(mean, sigma, truncate=2.0, mode="nearest")
    expected = np.clip(mean, 0, 1).astype(np.float32)
    got = merge_patch_probabilities(prob, grid, cfg)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, expected, rtol=2e-7, atol=1e-12)


def test_compact_net_eval_forward_folds_batch_norm() -> None:
    torch.manual_seed(3)
    net = CompactNet(widths=TINY)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.3, 3.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.3, 0.3)
    x = torch.from_numpy(encode(_scene((280, 310), np.random.default_rng(6)), net.encoding))
    x = x[None]
    net.eval()
    with torch.no_grad():
        layered = net.head(net.features(x))
        folded = net(x)
    assert folded.shape == layered.shape == (1, 2, 3, 4)
    assert float(layered.abs().max()) > 0.01
    torch.testing.assert_close(folded, layered, rtol=0, atol=1e-5)
    net.train()  # training runs the layers (batch statistics): not the folded weights
    with torch.no_grad():
        trained = net(x)
    assert not torch.allclose(trained, layered, atol=1e-3)


# --- the two paths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "coverage"),
    [((1, 1), "centres"), ((37, 250), "centres"), ((224, 224), "centres"),
     ((300, 451), "centres"), ((250, 100), "seed")],
)
def test_dense_and_sliding_paths_agree(spread_net: CompactNet, shape: tuple[int, int],
                                       coverage: str) -> None:
    cfg = PatchConfig(coverage=coverage)
    psi = _scene(shape, np.random.default_rng(3))
    grid = patch_grid(*shape, cfg)
    padded = pad_channels(encode(psi, spread_net.encoding), grid)
    slide = sliding_window_probabilities(spread_net, padded, grid, batch_size=5)
    dense = dense_probabilities(spread_net, padded, grid)
    np.testing.assert_allclose(dense, slide, atol=1e-4, rtol=0)
    np.testing.assert_allclose(dense_probabilities(spread_net, padded, grid, strip_rows=1),
                               dense, atol=1e-6, rtol=0)
    if slide.size > 4:
        assert slide.std() > 0.1  # the network's outputs differ from patch to patch
    by_dense = probability_map(spread_net, psi, method="dense", config=cfg)
    by_slide = probability_map(spread_net, psi, method="sliding", config=cfg)
    np.testing.assert_array_equal(by_dense.tested, by_slide.tested)
    np.testing.assert_allclose(by_dense.patch_prob, by_slide.patch_prob, atol=1e-4, rtol=0)
    np.testing.assert_allclose(by_dense.prob_map, by_slide.prob_map, atol=1e-4, rtol=0)
    assert by_dense.prob_map.shape == shape and by_dense.prob_map.dtype == np.float32
    assert by_dense.method == "dense" and by_slide.method == "sliding"
    assert probability_map(spread_net, psi, config=cfg).method == "dense"


def test_several_images_score_as_each_alone(spread_net: CompactNet) -> None:
    rng = np.random.default_rng(8)
    base = _scene((260, 300), rng)
    images = [base, np.asarray(wrap(3 * base), dtype=np.float32),
              np.tile(np.linspace(-1.0, 1.0, 300, dtype=np.float32), (260, 1))]  # no jump
    for method in ("dense", "sliding"):
        together = probability_maps(spread_net, images, method=method)
        assert len(together) == 3 and not together[2].tested.any()
        assert together[0].tested.any()
        for image, result in zip(images, together, strict=True):
            alone = probability_map(spread_net, image, method=method)
            np.testing.assert_array_equal(result.tested, alone.tested)
            np.testing.assert_allclose(result.patch_prob, alone.patch_prob, atol=1e-5, rtol=0)
            np.testing.assert_allclose(result.prob_map, alone.prob_map, atol=1e-5, rtol=0)
            assert result.method == method
    grid = together[0].grid
    padded = np.stack([pad_channels(encode(im, spread_net.encoding), grid) for im in images])
    tested = np.stack([r.tested for r in together])
    batch = dense_probabilities(spread_net, padded, grid, tested, strip_rows=2)
    assert batch.shape == (3, grid.n_rows, grid.n_cols)
    np.testing.assert_allclose(batch[1], dense_probabilities(spread_net, padded[1], grid,
                                                             tested[1]), atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="tested must have shape"):
        dense_probabilities(spread_net, padded, grid, tested[0])
    with pytest.raises(InputError, match="one shape"):
        probability_maps(spread_net, [base, base[:, :200]])


def test_paths_agree_with_the_seed_grey_encoding() -> None:
    net = _spread("gray")
    psi = _scene((100, 300), np.random.default_rng(4))
    by_dense = probability_map(net, psi, method="dense")
    by_slide = probability_map(net, psi, method="sliding")
    assert by_slide.patch_prob.std() > 0.1
    np.testing.assert_allclose(by_dense.patch_prob, by_slide.patch_prob, atol=1e-4, rtol=0)
    np.testing.assert_allclose(by_dense.prob_map, by_slide.prob_map, atol=1e-4, rtol=0)


def test_constant_network_gives_a_known_map() -> None:
    psi = _fringes((150, 260))
    compact = _constant(CompactNet(widths=TINY), 0.75)
    alex = _constant(AlexNet(conv_widths=(4, 4, 4, 4, 4), fc_width=8), 0.75)
    for net in (compact, alex):
        result = probability_map(net, psi)
        assert result.tested.all()
        np.testing.assert_allclose(result.patch_prob, 0.75, atol=1e-6)
        np.testing.assert_allclose(result.prob_map, 0.75, atol=1e-6)
    assert probability_map(alex, psi).method == "sliding"
    # Half the image without phase jumps: those patches count as P = 0 in the merge.
    half = psi.copy()
    half[:, :130] = 1.0
    result = probability_map(compact, half, config=PatchConfig(coverage="centres"))
    assert 0 < result.tested.sum() < result.tested.size
    expected = merge_patch_probabilities(0.75 * result.tested, result.grid)
    np.testing.assert_allclose(result.prob_map, expected, atol=1e-6)
    assert result.prob_map[:, 0].max() < result.prob_map[:, -1].min()


def test_background_patches_never_reach_the_network() -> None:
    smooth = np.tile(np.linspace(-1.0, 1.0, 300, dtype=np.float32), (260, 1))
    net = _ExplodingNet(widths=TINY)
    net.train()
    for method in ("dense", "sliding"):
        result = probability_map(net, smooth, method=method)
        assert not result.tested.any()
        assert np.all(result.prob_map == 0.0)
    assert net.training  # the caller's mode is restored


def test_inference_rejects_bad_inputs(spread_net: CompactNet) -> None:
    with pytest.raises(InputError, match="2-D"):
        probability_map(spread_net, np.zeros(10, dtype=np.float32))
    with pytest.raises(InputError, match="infinite"):
        probability_map(spread_net, np.array([[0.0, np.inf]]))
    with pytest.raises(InputError, match="no finite pixel"):
        probability_map(spread_net, np.full((5, 5), np.nan))
    with pytest.raises(InputError, match=r"wrapped phase in \[-pi, pi\]"):
        probability_map(spread_net, np.full((5, 5), 10.0))
    with pytest.raises(InputError, match="method"):
        probability_map(spread_net, np.zeros((5, 5)), method="fast")
    alex = AlexNet(conv_widths=(4, 4, 4, 4, 4), fc_width=8)
    with pytest.raises(InputError, match="dense path"):
        probability_map(alex, _fringes((50, 50)), method="dense")
    with pytest.raises(InputError, match="2-class"):
        probability_map(CompactNet(widths=TINY, num_classes=3), np.zeros((5, 5)))
    with pytest.raises(InputError, match="stride"):
        PatchConfig(stride=0)
    with pytest.raises(InputError, match="coverage"):
        PatchConfig(coverage="edges")


# --- fusion ----------------------------------------------------------------------------


def test_fuse_maps_is_the_mean_with_its_peak() -> None:
    a = np.zeros((4, 5), dtype=np.float32)
    b = np.zeros((4, 5), dtype=np.float32)
    a[1, 2], b[1, 2], b[3, 4] = 0.8, 0.6, 0.9
    det = fuse_maps({1: a, 2: b}, keep_maps=True)
    assert det.p_fused == pytest.approx(0.7)
    assert (det.peak_row, det.peak_col) == (1, 2)
    assert det.p_by_gain == {1.0: pytest.approx(0.8), 2.0: pytest.approx(0.9)}
    assert det.flag and det.maps_by_gain is not None
    np.testing.assert_allclose(det.prob_map, (a + b) / 2)
    assert not fuse_maps({1: a, 2: b}, threshold=0.75).flag
    assert fuse_maps({1: a}).maps_by_gain is None
    with pytest.raises(InputError, match="shape"):
        fuse_maps({1: a, 2: np.zeros((3, 3))})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        fuse_maps({1: a + 2})
    with pytest.raises(InputError, match="threshold"):
        fuse_maps({1: a}, threshold=1.5)


def test_gains_decide_which_maps_see_fringes() -> None:
    """A +-6 mm ramp has no phase jump at gains 1 and 2 and several at gains 4 and 8."""
    ramp = np.tile(np.linspace(-0.006, 0.006, 300), (200, 1))
    net = _constant(CompactNet(widths=TINY), 0.75)
    det = detect_displacement(net, ramp, keep_maps=True)
    assert det.p_by_gain[1.0] == 0.0 and det.p_by_gain[2.0] == 0.0
    assert det.p_by_gain[4.0] == pytest.approx(0.75, abs=1e-6)
    assert det.p_by_gain[8.0] == pytest.approx(0.75, abs=1e-6)
    assert det.p_fused == pytest.approx(0.375, abs=1e-6) and not det.flag
    assert set(det.maps_by_gain or {}) == {1.0, 2.0, 4.0, 8.0}
    assert detect_displacement(net, ramp, threshold=0.3).flag
    # Wrapped input at the reference fringe spacing, re-wrapped with integer gains.
    wrapped = detect_wrapped(net, rewrap(ramp, 1.0), gains=(1, 4))
    assert wrapped.p_by_gain == {1.0: 0.0, 4.0: pytest.approx(0.75, abs=1e-6)}
    with pytest.raises(InputError, match="integer gains"):
        detect_wrapped(net, rewrap(ramp, 1.0), gains=(1, 1.5))
    with pytest.raises(InputError, match="distinct"):
        detect_displacement(net, ramp, gains=(2, 2))
    with pytest.raises(InputError, match="positive"):
        detect_displacement(net, ramp, gains=(0,))
    with pytest.raises(InputError, match="displacement_m"):
        detect_displacement(net, np.full((3, 3), np.nan))


def test_pixel_centre_lonlat() -> None:
    transform = (0.001, 0.0, 10.0, 0.0, -0.001, 50.0)  # 0.001 deg pixels, north-up
    assert pixel_centre_lonlat(transform, 0, 0) == pytest.approx((10.0005, 49.9995))
    assert pixel_centre_lonlat(transform, 99, 9) == pytest.approx((10.0095, 49.9005))
    with pytest.raises(InputError, match="6 finite numbers"):
        pixel_centre_lonlat((1.0, 0.0, 0.0), 0, 0)

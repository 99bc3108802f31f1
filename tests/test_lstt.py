"""LSTT: uLSIF against analytic ratios, batched permutations, calibration on a correlated
null, power, region sampling, reference choice, bad input and the ``lstt`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from monitor.cli import main
from monitor.errors import InputError, RasterError
from monitor.io.rasters import write_raster
from monitor.science import lstt as lt
from monitor.science import lstt_regions as lr
from monitor.science import references as refs_mod
from monitor.science.atmosphere import turbulent_delay

ALPHA = 0.05
FIELD_SHAPE = (128, 128)
PIXEL_M = 100.0
NOISE_M = 0.01  # 1 cm turbulent delay standard deviation
CORR_PX = 3.0  # e-folding length of the turbulent field, pixels


def _regions() -> tuple[np.ndarray, np.ndarray]:
    target = lr.disc_mask(FIELD_SHAPE, (64, 36), 30)
    ref = np.zeros(FIELD_SHAPE, bool)
    ref[10:118, 76:124] = True
    return target, ref


def _field(rng: np.random.Generator) -> np.ndarray:
    return turbulent_delay(FIELD_SHAPE, PIXEL_M, NOISE_M, CORR_PX * PIXEL_M, rng).astype(float)


# ------------------------------------------------------------------ uLSIF and the statistic


@pytest.mark.parametrize(("mean_b", "sd_b"), [(0.5, 1.0), (0.0, 1.5)])
def test_ulsif_matches_analytic_ratio(mean_b: float, sd_b: float) -> None:
    """r = N(0, 1) / N(mean_b, sd_b) from 3,000 samples each, compared on the central 60 %
    of the denominator: worst relative error < 25 % and RMS relative error < 12 % (kernel
    smoothing and regularisation bias; measured 6-18 % worst over 8 seeds)."""
    rng = np.random.default_rng(7)
    a, b = rng.normal(0.0, 1.0, 3000), rng.normal(mean_b, sd_b, 3000)
    fit = lt.ulsif(a, b, rng=rng)
    x = np.linspace(stats.norm.ppf(0.2, mean_b, sd_b), stats.norm.ppf(0.8, mean_b, sd_b), 50)
    truth = stats.norm.pdf(x, 0.0, 1.0) / stats.norm.pdf(x, mean_b, sd_b)
    rel = fit.ratio(x) / truth - 1.0
    assert np.abs(rel).max() < 0.25
    assert np.sqrt(np.mean(rel ** 2)) < 0.12
    assert fit.cv_scores.shape == (len(lt.SIGMA_FACTORS), len(lt.LAMBDAS))
    assert np.all(fit.alpha >= 0)


def test_closed_form_loocv_equals_refitting(rng: np.random.Generator) -> None:
    """The Sherman-Woodbury LOOCV score equals refitting uLSIF without each held-out pair:
    H_-i = (n_b H - k_b,i k_b,i^T) / (n_b - 1), h_-i = (n_a h - k_a,i) / (n_a - 1)."""
    k_a = lt.gaussian_kernel(rng.normal(size=(40, 2)), rng.normal(size=(12, 2)), 1.0)
    k_b = lt.gaussian_kernel(rng.normal(0.5, 1.2, size=(55, 2)), rng.normal(size=(12, 2)), 1.0)
    held_a, held_b = rng.choice(40, 25, replace=False), rng.choice(55, 25, replace=False)
    lambdas = [0.01, 0.1, 1.0]
    n_a, n_b = k_a.shape[0], k_b.shape[0]
    h_mat, h_vec = k_b.T @ k_b / n_b, k_a.mean(0)
    brute = []
    for lam in lambdas:
        losses = []
        for i, j in zip(held_a, held_b, strict=True):
            h_i = (n_b * h_mat - np.outer(k_b[j], k_b[j])) / (n_b - 1)
            v_i = (n_a * h_vec - k_a[i]) / (n_a - 1)
            alpha = np.maximum(0.0, np.linalg.solve(h_i + lam * np.eye(12), v_i))
            losses.append(0.5 * (k_b[j] @ alpha) ** 2 - k_a[i] @ alpha)
        brute.append(np.mean(losses))
    np.testing.assert_allclose(lt.loocv_scores(k_a, k_b, lambdas, held_a, held_b), brute,
                               rtol=1e-9, atol=1e-12)


def test_batched_permutations_equal_the_loop(rng: np.random.Generator) -> None:
    pooled = rng.normal(size=(600, 1))
    centres = pooled[rng.choice(600, 50, replace=False)]
    splits = rng.permuted(np.broadcast_to(np.arange(600), (30, 600)), axis=1)
    for sigma, lam in [(0.5, 0.01), (1.0, 0.1), (2.0, 1.0)]:
        kernel = lt.gaussian_kernel(pooled, centres, sigma)
        for n_a in (200, 400):  # gathers the A side, then the B side
            batch = lt._permuted_pe(kernel, splits, n_a, lam)
            loop = lt._permuted_pe_loop(pooled, centres, sigma, lam, splits, n_a)
            # float32 Gram matrices in the batch: agreement to 1e-5, while the permutation
            # spread of PE is ~1e-2
            np.testing.assert_allclose(batch, loop, rtol=1e-4, atol=1e-5)
            assert np.std(loop) > 1e-3


def test_result_fields_and_p_value_formula(rng: np.random.Generator) -> None:
    res = lt.lstt(rng.normal(size=150), rng.normal(0.3, 1.0, size=120), n_permutations=40,
                 n_centres=60, rng=rng)
    assert (res.n_a, res.n_b, res.n_permutations, res.n_centres) == (150, 120, 40, 60)
    assert res.permuted_pe.shape == (40,)
    assert res.p_value == (1 + np.count_nonzero(res.permuted_pe >= res.pe)) / 41
    larger = res.permuted_pe[res.permuted_pe > res.pe]
    if larger.size:
        assert res.seed_statistic == pytest.approx(larger.mean())
    else:
        assert np.isnan(res.seed_statistic)
    assert res.sigma > 0 and res.lambda_ in lt.LAMBDAS
    assert res.select_on == "random-split"
    # a clear difference: observed PE above every permuted one, smallest possible p
    big = lt.lstt(rng.normal(size=150), rng.normal(3.0, 1.0, size=150), n_permutations=40,
                 n_centres=60, rng=rng)
    assert big.p_value == pytest.approx(1 / 41) and np.isnan(big.seed_statistic)


def test_same_seed_same_result() -> None:
    x = np.random.default_rng(3).normal(size=(200, 4))
    y = np.random.default_rng(4).normal(size=(180, 4))
    r1 = lt.lstt(x, y, n_centres=50, rng=np.random.default_rng(9))
    r2 = lt.lstt(x, y, n_centres=50, rng=np.random.default_rng(9))
    assert r1.pe == r2.pe and r1.p_value == r2.p_value
    np.testing.assert_array_equal(r1.permuted_pe, r2.permuted_pe)


# ------------------------------------------------------------------ calibration and power


def _binomial_interval(n: int, p: float = ALPHA, level: float = 0.99) -> tuple[float, float]:
    lo, hi = stats.binom.interval(level, n, p)
    return lo / n, hi / n


@pytest.mark.slow
def test_calibrated_under_spatially_correlated_null() -> None:
    """Target disc and reference block of one turbulent field (exponential covariance,
    L = 3 px, no deformation): the rejection rate at alpha = 0.05 over 200 draws lies in
    the binomial 99 % interval around 0.05."""
    rng = np.random.default_rng(7)
    target, ref = _regions()
    draws = 200
    p_values = np.array([lr.lstt_regions(_field(rng), target, [ref], rng=rng,
                                        n_centres=50).p_value for _ in range(draws)])
    rate = float(np.mean(p_values <= ALPHA))
    lo, hi = _binomial_interval(draws)
    assert lo <= rate <= hi, f"rejection rate {rate:.3f} outside [{lo:.3f}, {hi:.3f}]"


@pytest.mark.slow
def test_without_thinning_the_null_is_rejected_too_often() -> None:
    """Why samples are thinned: treating neighbouring pixels as independent
    rejects a true null far more often than alpha (measured ~23 %)."""
    rng = np.random.default_rng(5)
    target, ref = _regions()
    draws = 60
    p_values = np.array([lr.lstt_regions(_field(rng), target, [ref], rng=rng, spacing_px=1,
                                        max_samples=400, n_centres=50).p_value
                         for _ in range(draws)])
    lo, hi = _binomial_interval(draws)
    assert np.mean(p_values <= ALPHA) > hi


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "amount"), [("shift", 1.5), ("scale", 3.0)])
def test_power_against_shift_and_scale(kind: str, amount: float) -> None:
    """Detected in >= 90 % of 50 draws at alpha = 0.05: a uniform 1.5 cm LOS shift of the
    target disc (1.5 noise sd), or its noise amplitude tripled (deformation signal of
    varying amplitude widening the distribution)."""
    rng = np.random.default_rng(11 if kind == "shift" else 12)
    target, ref = _regions()
    hits = 0
    draws = 50
    for _ in range(draws):
        field = _field(rng)
        if kind == "shift":
            field[target] += amount * NOISE_M
        else:
            field[target] *= amount
        hits += lr.lstt_regions(field, target, [ref], rng=rng, n_centres=50).p_value <= ALPHA
    assert hits / draws >= 0.9


def test_intersection_union_over_references(rng: np.random.Generator) -> None:
    field = _field(rng)
    target, ref = _regions()
    refs = []
    for top in (10, 46, 82):  # three 36 x 48 px blocks east of the target
        block = np.zeros(FIELD_SHAPE, bool)
        block[top: top + 36] = ref[top: top + 36]
        refs.append(block)
    deformed = field.copy()
    deformed[target] += 0.05
    result = lr.lstt_regions(deformed, target, refs, rng=rng, n_centres=40, n_permutations=50)
    assert result.rule == "intersection-union"
    assert result.p_value == max(r.p_value for r in result.per_reference)
    assert result.p_value <= ALPHA  # 5 cm against 1 cm noise: every reference differs
    assert result.spacing_px == int(np.ceil(lr.DEFAULT_SPACING_FACTOR
                                            * result.correlation_length_px))
    # one disturbed reference (a second volcano) keeps the target from being flagged
    disturbed = deformed.copy()
    disturbed[refs[0]] += 0.05
    mixed = lr.lstt_regions(disturbed, target, refs, rng=rng, n_centres=40, n_permutations=50)
    assert mixed.per_reference[0].p_value > ALPHA
    assert mixed.p_value > ALPHA


# ------------------------------------------------------------------ sampling helpers


def test_correlation_length_of_exponential_field() -> None:
    rng = np.random.default_rng(1)
    estimates = [lr.correlation_length_px(turbulent_delay((200, 200), PIXEL_M, NOISE_M,
                                                         4.0 * PIXEL_M, rng))
                 for _ in range(5)]
    assert np.mean(estimates) == pytest.approx(4.0, rel=0.2)
    white = rng.normal(size=(100, 100))
    white[rng.random(white.shape) < 0.3] = np.nan  # gaps do not bias the estimate
    assert lr.correlation_length_px(white) < 1.0


def test_disc_mask_area_and_centre() -> None:
    mask = lr.disc_mask((200, 200), (100.0, 80.0), 30.0)
    assert mask[100, 80] and not mask[100, 111]
    assert mask.sum() == pytest.approx(np.pi * 30 ** 2, rel=0.02)


def test_region_samples_grid_patches_and_nan(rng: np.random.Generator) -> None:
    rows, cols = np.mgrid[0:60, 0:80]
    field = (rows * 1000 + cols).astype(float)
    field[30, 40] = np.nan
    mask = np.ones((60, 80), bool)
    x = lr.region_samples(field, mask, rng=rng, spacing_px=7)
    r, c = (x[:, 0] // 1000).astype(int), (x[:, 0] % 1000).astype(int)
    assert len(set(r % 7)) == 1 and len(set(c % 7)) == 1  # one grid, step 7
    p = lr.region_samples(field, mask, rng=rng, patch=3, spacing_px=1)
    assert p.shape[1] == 9
    np.testing.assert_array_equal(p[:, 4] - p[:, 0], 1001.0)  # centre minus top-left
    centre = p[:, 4]
    near = (np.abs(centre // 1000 - 30) <= 1) & (np.abs(centre % 1000 - 40) <= 1)
    assert not near.any()  # windows touching the NaN pixel are dropped
    assert lr.region_samples(field, mask, rng=rng, max_samples=25).shape == (25, 1)


def test_auto_reference_regions(rng: np.random.Generator) -> None:
    shape = (200, 200)
    field = rng.normal(size=shape)
    field[150:, :60] = np.nan  # incoherent lake
    rows, cols = np.mgrid[0:200, 0:200]
    dem = 200.0 + 10.0 * cols  # elevation rises to the east
    centre, radius = (100.0, 100.0), 20.0
    wins = refs_mod.auto_reference_regions(field, target_centre_rc=centre, target_radius_px=radius,
                                    n=3, size_px=30)
    assert len(wins) == 3
    for w in wins:
        m = w.mask(shape)
        assert np.isfinite(field[m]).mean() >= 0.8
        dist = np.hypot(rows[m] - centre[0], cols[m] - centre[1])
        assert dist.min() >= 2 * radius - 1e-9 and w.distance_px == pytest.approx(dist.min())
    for i in range(3):
        for j in range(i + 1, 3):
            assert not (wins[i].mask(shape) & wins[j].mask(shape)).any()
    with_dem = refs_mod.auto_reference_regions(field, target_centre_rc=centre,
                                        target_radius_px=radius, n=2, size_px=30, dem=dem)
    target_elev = np.median(dem[lr.disc_mask(shape, centre, radius)])
    for w in with_dem:  # windows at the target's elevation: same columns band
        assert abs(np.median(dem[w.mask(shape)]) - target_elev) < 100.0
    coherence = np.where(np.isfinite(field), 0.8, 0.05)
    assert refs_mod.auto_reference_regions(coherence, target_centre_rc=centre,
                                    target_radius_px=radius, field_is_coherence=True)
    with pytest.raises(InputError, match="no reference window"):
        refs_mod.auto_reference_regions(field, target_centre_rc=centre, target_radius_px=radius,
                                 min_distance_px=500.0)


# ------------------------------------------------------------------ bad input


def test_bad_input_gets_clear_errors(rng: np.random.Generator) -> None:
    x = rng.normal(size=100)
    with pytest.raises(InputError, match="no samples"):
        lt.lstt(np.array([]), x, rng=rng)
    with pytest.raises(InputError, match="finite"):
        lt.lstt(np.full(100, np.nan), x, rng=rng)
    with pytest.raises(InputError, match="n_centres"):
        lt.lstt(x[:30], x[:40], n_centres=100, rng=rng)
    with pytest.raises(InputError, match="n_centres"):
        lt.ulsif(x[:30], x, n_centres=50, rng=rng)
    with pytest.raises(InputError, match="length 9 but x_b of length 4"):
        lt.lstt(rng.normal(size=(80, 9)), rng.normal(size=(80, 4)), n_centres=50, rng=rng)
    with pytest.raises(InputError, match="identical"):
        lt.lstt(np.ones(60), np.ones(60), n_centres=50, rng=rng)
    with pytest.raises(InputError, match="n_permutations"):
        lt.lstt(x, x, n_permutations=0, rng=rng)
    with pytest.raises(InputError, match="select_on"):
        lt.lstt(x, x, select_on="both", rng=rng)
    field = rng.normal(size=(50, 50))
    with pytest.raises(InputError, match="empty"):
        lr.region_samples(field, np.zeros((50, 50), bool), rng=rng)
    nan_field = field.copy()
    nan_field[:25] = np.nan
    top = np.zeros((50, 50), bool)
    top[:20] = True
    with pytest.raises(InputError, match="all NaN"):
        lr.region_samples(nan_field, top, rng=rng)
    with pytest.raises(InputError, match="reference_masks\\[0\\].*all NaN"):
        lr.lstt_regions(nan_field, ~top, [top], rng=rng, spacing_px=2)
    with pytest.raises(InputError, match="boolean mask of shape"):
        lr.region_samples(field, np.ones((10, 10), bool), rng=rng)
    with pytest.raises(InputError, match="radius_px"):
        lr.disc_mask((10, 10), (5, 5), 0)


# ------------------------------------------------------------------ command line


def _run_cli(argv: list[str]) -> int:
    return main(["lstt", *argv])


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str], exit_code: int) -> str:
    """The error line of a command that must fail with ``exit_code``."""
    assert _run_cli(argv) == exit_code
    return capsys.readouterr().err


def test_cli_json_on_sample_arrays(tmp_path: Path, rng: np.random.Generator,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(0.0, 1.0, 300))
    np.save(b, rng.normal(2.0, 1.0, 250))
    assert _run_cli([str(a), str(b), "--permutations", "30", "--json", "--seed", "3"]) == 0
    record = json.loads(capsys.readouterr().out)
    for key in ("pe", "p_value", "sigma", "lambda", "n_a", "n_b", "seed_statistic"):
        assert key in record
    assert (record["n_a"], record["n_b"], record["n_permutations"]) == (300, 250, 30)
    assert record["p_value"] == pytest.approx(1 / 31)
    assert _run_cli([str(a), str(b), "--permutations", "30"]) == 0
    text = capsys.readouterr().out
    assert "p-value" in text and "n_a = 300" in text


def test_cli_rasters_and_patches(tmp_path: Path, rng: np.random.Generator,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    r1, r2 = tmp_path / "r1.tif", tmp_path / "r2.tif"
    write_raster(r1, rng.normal(size=(64, 64)).astype(np.float32))
    write_raster(r2, rng.normal(size=(64, 64)).astype(np.float32))
    assert _run_cli([str(r1), str(r2), "--patch", "3", "--permutations", "20", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["dimension"] == 9 and record["spacing_px"] >= 1
    assert record["correlation_length_px"] < 1.0  # white noise


def test_cli_errors(tmp_path: Path, rng: np.random.Generator,
                    capsys: pytest.CaptureFixture[str]) -> None:
    a, wide, vec = tmp_path / "a.npy", tmp_path / "wide.npy", tmp_path / "vec.npy"
    np.save(a, rng.normal(size=100))
    np.save(wide, rng.normal(size=(64, 200)))
    np.save(vec, rng.normal(size=(100, 9)))
    bad_input = InputError.exit_code
    assert "no such file" in _cli_error(capsys, [str(tmp_path / "missing.npy"), str(a)],
                                        bad_input)
    assert "--as-raster" in _cli_error(capsys, [str(wide), str(a)], bad_input)
    assert "same patch size" in _cli_error(capsys, [str(vec), str(a)], bad_input)
    assert "--permutations" in _cli_error(capsys, [str(a), str(a), "--permutations", "0"],
                                          bad_input)
    assert "missing.tif" in _cli_error(capsys, [str(tmp_path / "missing.tif"), str(a)],
                                       RasterError.exit_code)
    assert _run_cli([str(wide), str(wide), "--as-raster", "--permutations", "10"]) == 0

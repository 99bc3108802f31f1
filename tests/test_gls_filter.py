"""The GLS Mogi filter: a source it knows is found and placed; whitening with the noise's
correlation tames correlated noise that fools the white filter; the relief as nuisance
takes out stratified delay; a large source no template fits still scores high; the
empirical threshold holds its rate; bad maps and settings are refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.atmosphere import turbulent_delay
from monitor.science.detect.gls_filter import OUTLIER_RATIO, GlsMogiFilter, null_quantile
from monitor.science.detect.matched_filter import MogiMatchedFilter
from monitor.science.detect.training import roc_auc
from monitor.science.geometry import project_to_los
from monitor.science.injection import (
    S1_ASCENDING_HEADING_DEG,
    S1_INCIDENCE_DEG,
    draw_mogi_injection,
)
from monitor.science.noise_covariance import block_mean, estimate_correlation
from monitor.science.sources.draws import draw_source

SHAPE = (72, 72)
PIXEL = (250.0, 250.0)
LENGTH_M = 3000.0


def _noise(rng: np.random.Generator, n: int, sigma_m: float = 0.01) -> list[np.ndarray]:
    return [turbulent_delay(SHAPE, PIXEL[0], sigma_m, LENGTH_M, rng).astype(np.float64)
            for _ in range(n)]


@pytest.fixture(scope="module")
def gls() -> GlsMogiFilter:
    corr = estimate_correlation(_noise(np.random.default_rng(0), 40), 2)
    return GlsMogiFilter(PIXEL, corr)


def _white_t(x: np.ndarray, unit: np.ndarray) -> float:
    """The t of one template's amplitude with a plane, pixels taken as independent."""
    rows, cols = np.nonzero(np.isfinite(x))
    q, _ = np.linalg.qr(np.column_stack([np.ones(rows.size), cols, rows]).astype(float))
    v, t = x[rows, cols], unit[rows, cols].astype(float)
    v, t = v - q @ (q.T @ v), t - q @ (q.T @ t)
    a = (t @ v) / (t @ t)
    return float(a * np.sqrt(t @ t) / np.sqrt((v @ v - a * a * (t @ t)) / (v.size - 4)))


def _auc(score: Callable[[np.ndarray], float], quiet: list[np.ndarray],
         injected: list[np.ndarray]) -> float:
    """How well ``score`` ranks the injected maps above the quiet ones."""
    y = np.r_[np.zeros(len(quiet)), np.ones(len(injected))]
    return roc_auc(np.array([score(x) for x in quiet + injected]), y)


def test_a_source_is_found_and_placed(gls: GlsMogiFilter) -> None:
    rng = np.random.default_rng(1)
    source = draw_mogi_injection(rng, SHAPE, PIXEL, depth_range_m=(3000.0, 3000.0),
                                 max_offset_m=0.0)
    noise = _noise(rng, 1, 0.003)[0]
    for sign in (1.0, -1.0):
        x = noise + sign * source.scaled(0.04)
        x[5:20, 30:60] = np.nan
        m = gls.measure(x)
        assert m.t > 2 * gls.threshold
        assert abs(m.east_m) <= 1000 and abs(m.north_m) <= 1000 and m.depth_m in (
            2000.0, 3000.0, 4000.0)
        d = gls.detect(x)
        assert d.flag and d.p_fused > 0.5 and d.p_by_gain == {}
        assert abs(d.peak_row - 35.5) <= 5 and abs(d.peak_col - 35.5) <= 5


def test_whitening_tames_correlated_noise(gls: GlsMogiFilter) -> None:
    """With one known template, the t of correlated noise scatters by about 3 through the
    GLS filter and by about 20 when pixels are taken as independent."""
    source = draw_mogi_injection(np.random.default_rng(5), SHAPE, PIXEL)
    template = block_mean(source.unit_los, 2)[None]
    noise = _noise(np.random.default_rng(6), 60)
    t_gls = [gls.t_values(x, template)[0] for x in noise]
    t_white = [_white_t(x, source.unit_los) for x in noise]
    assert np.std(t_gls) < np.std(t_white) / 3


def test_gls_ranks_sources_above_noise_better_than_the_white_filter(
        gls: GlsMogiFilter) -> None:
    rng = np.random.default_rng(7)
    white = MogiMatchedFilter(PIXEL)
    quiet = _noise(rng, 30)
    injected = [x + draw_mogi_injection(rng, SHAPE, PIXEL).scaled(0.02)
                for x in _noise(rng, 30)]
    auc_gls = _auc(lambda x: gls.measure(x).t, quiet, injected)
    auc_white = _auc(lambda x: white.measure(x).r2, quiet, injected)
    assert auc_gls > auc_white + 0.03


def _cone() -> np.ndarray:
    """A volcano-like relief: a 1200 m cone of 6 km half-width at the centre, metres."""
    ny, nx = SHAPE
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot((xx - (nx - 1) / 2) * PIXEL[0], (yy - (ny - 1) / 2) * PIXEL[1])
    return 1200.0 * np.exp(-(r / 6000.0) ** 2) + 100.0


def _stratified(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Turbulence and a stratified delay linear in height with a coefficient of each date
    of 0-1.5 cm per km, either sign."""
    h = _cone()
    return [x + rng.choice([-1.0, 1.0]) * rng.uniform(0.0, 0.015) * h / 1000.0
            for x in _noise(rng, n, 0.005)]


def test_the_height_nuisance_takes_out_stratified_delay(gls: GlsMogiFilter) -> None:
    """Stratified delay over a cone looks like a summit source to the plane-only filter;
    with the relief as nuisance the quiet maps score as turbulence alone and 2 cm sources
    rank above them."""
    with_h = replace(gls, height_m=_cone())
    rng = np.random.default_rng(11)
    quiet = _stratified(rng, 30)
    injected = [x + draw_mogi_injection(rng, SHAPE, PIXEL).scaled(0.02)
                for x in _stratified(rng, 30)]
    auc_h = _auc(lambda x: with_h.measure(x).t, quiet, injected)
    auc_plane = _auc(lambda x: gls.measure(x).t, quiet, injected)
    assert auc_h > 0.9 and auc_h > auc_plane + 0.1
    turbulence = [with_h.measure(x).t for x in _noise(np.random.default_rng(12), 30, 0.005)]
    cut = np.quantile(turbulence, 0.9)  # what turbulence alone exceeds one time in ten
    assert np.mean([with_h.measure(x).t > cut for x in quiet]) <= 0.15
    assert np.mean([gls.measure(x).t > cut for x in quiet]) >= 0.3
    # a flat frame holds no stratification to take out: the plane-only filter
    flat = replace(gls, height_m=np.full(SHAPE, 300.0))
    assert flat.measure(quiet[0]).t == pytest.approx(gls.measure(quiet[0]).t)
    # blocks without a height are left out, like blocks without data
    holed = _cone()
    holed[:20, :] = np.nan
    assert replace(gls, height_m=holed).measure(quiet[0]).t > 0


def _dyke(amplitude_m: float) -> np.ndarray:
    """A dyke at the centre, LOS metres, scaled to a peak |LOS| of ``amplitude_m``."""
    ny, nx = SHAPE
    east = (np.arange(nx) - (nx - 1) / 2.0) * PIXEL[0]
    north = ((ny - 1) / 2.0 - np.arange(ny)) * PIXEL[1]
    xx, yy = np.meshgrid(east, north)
    enu = draw_source(np.random.default_rng(3), "dyke").displacement(xx, yy)
    los = project_to_los(enu.east, enu.north, enu.up, S1_INCIDENCE_DEG,
                         S1_ASCENDING_HEADING_DEG).astype(np.float64)
    return los * amplitude_m / float(np.max(np.abs(los)))


def test_a_large_source_no_template_fits_scores_high(gls: GlsMogiFilter) -> None:
    """A 15 cm dyke fits no Mogi template. With the scale of the whole residual alone its
    misfit inflates the scale and the score stays near that of a small source; with the
    smaller of that and the scale of the blocks beyond 6 km (the default) it scores far
    above it."""
    assert gls.scale_beyond_m == 6000.0
    whole = replace(gls, scale_beyond_m=None)
    noise = _noise(np.random.default_rng(13), 1, 0.005)[0]
    big = noise + _dyke(0.15)
    small = noise + draw_mogi_injection(np.random.default_rng(14), SHAPE, PIXEL).scaled(0.03)
    assert gls.measure(big).t > 2 * whole.measure(big).t
    assert gls.measure(big).t > 2 * gls.measure(small).t
    # the scale of quiet maps hardly changes: the two agree within a third on noise alone
    quiet = _noise(np.random.default_rng(15), 10, 0.005)
    ratio = np.median([gls.measure(x).t / whole.measure(x).t for x in quiet])
    assert 1.0 <= ratio < 1.33
    # too few valid blocks that far: the whole map gives the scale
    centre = noise.copy()
    ny, nx = SHAPE
    yy, xx = np.mgrid[:ny, :nx]
    centre[np.hypot((yy - (ny - 1) / 2) * PIXEL[1], (xx - (nx - 1) / 2) * PIXEL[0]) > 6000] = np.nan
    assert gls.measure(centre).t == pytest.approx(whole.measure(centre).t)


def test_the_null_quantile_is_exceeded_by_a_new_quiet_score_at_most_alpha() -> None:
    # Scores that are exchangeable with the n given: a new one lands at each of the n + 1
    # ranks alike, so the k-th smallest is exceeded with probability (n + 1 - k) / (n + 1).
    for n in range(39, 300):  # from 39 scores on, the conformal quantile below the largest
        scores = np.random.default_rng(n).permutation(np.arange(1.0, n + 1))
        k = int(null_quantile(list(scores)))
        assert (n + 1 - k) / (n + 1) <= 0.05 < (n + 2 - k) / (n + 1)
    for n in range(20, 39):  # below, the largest
        assert null_quantile(list(range(1, n + 1))) == n
    assert null_quantile(list(range(1, 40))) == 38  # ceil(0.95 * 40)
    assert null_quantile(list(range(1, 60))) == 57  # ceil(0.95 * 60)
    # the sample quantile it replaces, the higher order statistic, is exceeded 5.6% of
    # the time at 70 scores, this rule 4.2% (3 / 71): an empirical draw tells them apart
    rng = np.random.default_rng(1)
    past, new = 7.0 + 2.0 * rng.normal(size=(20000, 70)), 7.0 + 2.0 * rng.normal(size=20000)
    conformal = np.mean([x > null_quantile(list(p)) for p, x in zip(past, new, strict=True)])
    higher = np.mean(new > np.quantile(past, 0.95, axis=1, method="higher"))
    assert conformal == pytest.approx(3 / 71, abs=0.005)
    assert higher == pytest.approx(4 / 71, abs=0.005)
    with pytest.raises(InputError, match="need at least 20"):
        null_quantile(list(range(19)))


def test_scores_too_large_to_be_quiet_do_not_set_the_null_quantile() -> None:
    quiet = list(np.linspace(4.0, 12.0, 28))  # the real frame's spread: median 8
    assert null_quantile(quiet + [90.0]) == 12.0  # one dyke-like score among them
    # two events: an order statistic alone would stop at the smaller one (9 times the
    # quiet ones' median: the filter would veto every later source below it)
    assert null_quantile(quiet + [70.0, 90.0]) == 12.0
    # several, as long as the quiet scores are most of the history (the median moves a
    # little with each: 10 of 38 leave it at 9.9)
    assert null_quantile(quiet + list(np.linspace(50.0, 90.0, 10))) == 12.0
    # a large quiet score is kept: 3.3 times the median is within the real frame's tail
    assert null_quantile(quiet[:-1] + [3.3 * 8.0]) == pytest.approx(3.3 * 8.0)
    assert 3.3 < OUTLIER_RATIO < 10.7  # the real quiet tail; the real dyke pair


def test_the_empirical_threshold_holds_its_rate(gls: GlsMogiFilter) -> None:
    quiet = _noise(np.random.default_rng(8), 40)
    quiet.append(np.full(SHAPE, np.nan))  # too few blocks: left out, not an error
    fitted = gls.with_null_threshold(quiet)
    assert fitted.null_maps == 40 and fitted.threshold != gls.threshold
    flagged = [fitted.detect(x).flag for x in quiet[:-1]]
    assert sum(flagged) == 1  # the 39th of 40: ceil(0.95 * 41)
    fresh = [fitted.detect(x).flag for x in _noise(np.random.default_rng(9), 40)]
    assert sum(fresh) <= 6
    with pytest.raises(InputError, match="need at least 20"):
        gls.with_null_threshold(quiet[:10])


def test_bad_maps_and_settings_are_refused(gls: GlsMogiFilter) -> None:
    with pytest.raises(InputError, match="2-D"):
        gls.measure(np.zeros(10))
    with pytest.raises(InputError, match="block grid|blocks"):
        gls.measure(np.zeros((40, 40)))
    holes = np.full(SHAPE, np.nan)
    holes[:6, :6] = 0.0
    with pytest.raises(InputError, match="valid blocks"):
        gls.measure(holes)
    sparse = gls.detect(holes)  # scored as holding no evidence, not an error
    assert sparse.p_fused == 0.0 and not sparse.flag
    with pytest.raises(InputError, match="blocks"):
        gls.detect(np.zeros((40, 40)))
    corr = gls.correlation
    with pytest.raises(InputError, match="alpha"):
        GlsMogiFilter(PIXEL, corr, alpha=1.5)
    with pytest.raises(InputError, match="pixel"):
        GlsMogiFilter((0.0, 250.0), corr)
    with pytest.raises(InputError, match="threshold"):
        GlsMogiFilter(PIXEL, corr, null_threshold=-1.0)
    with pytest.raises(InputError, match="depths"):
        GlsMogiFilter(PIXEL, corr, depths_m=())
    assert GlsMogiFilter(PIXEL, corr).n_templates == 116
    with pytest.raises(InputError, match="scale_beyond_m"):
        GlsMogiFilter(PIXEL, corr, scale_beyond_m=-1.0)
    with pytest.raises(InputError, match="heights must be a 2-D"):
        GlsMogiFilter(PIXEL, corr, height_m=np.zeros(5))
    with pytest.raises(InputError, match="heights .* are not on the map's grid"):
        GlsMogiFilter(PIXEL, corr, height_m=np.zeros((30, 30))).measure(np.zeros(SHAPE))

"""Evaluation science: the threshold protocol, sigmoid fits, ROC and precision/recall."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.detect.evaluation import (
    PROTOCOL_TURBULENT_SIGMA_M,
    Confusion,
    ThresholdProtocol,
    confusion_at,
    deformation_specs,
    fit_sigmoid,
    fitted_curve,
    mogi_los,
    protocol_cases,
    protocol_samples,
    recall_by_bin,
    roc_curve,
    sigmoid,
    stratified_los,
    turbulent_los,
)
from monitor.science.detect.training import roc_auc


def test_the_threshold_protocol_has_405_cases_with_the_stated_parameters() -> None:
    protocol = ThresholdProtocol()
    cases = protocol_cases(protocol)
    assert len(cases) == protocol.n_cases == 405
    specs = deformation_specs(protocol)
    assert len(specs) == protocol.n_deformations == 45
    assert sorted({s.depth_m for s in specs}) == [3000.0, 4000.0, 5000.0]
    assert sorted({s.incidence_deg for s in specs}) == [1.0, 23.0, 44.0]
    volumes = sorted({s.dvolume_m3 for s in specs})
    np.testing.assert_allclose(volumes, [1e5, 10**5.5, 1e6, 10**6.5, 1e7], rtol=1e-12)
    pairs = [(c.alpha, c.beta) for c in cases]
    assert sorted(set(pairs)) == [(a, b) for a in (0, 0.5, 1) for b in (0, 0.5, 1)]
    assert all(pairs.count(p) == 45 for p in set(pairs))
    assert len({(c.deformation.index, c.alpha, c.beta) for c in cases}) == 405
    # Anantrasirichai et al. (2019b): sigma^2 = 7.5 mm^2, L = 8 km
    assert protocol.turbulent_sigma_m == pytest.approx(math.sqrt(7.5) * 1e-3)
    assert protocol.turbulent_length_m == 8000.0


def test_mogi_deformation_peak_matches_the_analytic_uplift() -> None:
    protocol = ThresholdProtocol(shape=(65, 65))  # odd: a pixel centre above the source
    specs = deformation_specs(protocol)
    spec = next(s for s in specs if s.incidence_deg == 1.0 and s.depth_m == 3000.0
                and s.dvolume_m3 == 1e6)
    d = mogi_los(spec, protocol)
    uz_max = (1 - 0.25) / math.pi * 1e6 / 3000.0**2  # Mogi (1958), 2.65 cm
    assert float(np.abs(d).max()) == pytest.approx(uz_max * math.cos(math.radians(1.0)),
                                                   rel=1e-4)
    assert float(d[32, 32]) == pytest.approx(uz_max * math.cos(math.radians(1.0)), rel=1e-4)
    bigger = next(s for s in specs if s.incidence_deg == 1.0 and s.depth_m == 3000.0
                  and s.dvolume_m3 == 1e7)
    np.testing.assert_allclose(mogi_los(bigger, protocol), 10 * d, rtol=1e-5)


def test_protocol_samples_compose_d_alpha_s_beta_t() -> None:
    protocol = ThresholdProtocol(shape=(40, 48), depths_m=(3000.0,), incidences_deg=(23.0,),
                                 log10_volumes_m3=(6.0, 7.0))
    yy, xx = np.mgrid[:40, :48]
    dem = 2000.0 * np.exp(-((yy - 20) ** 2 + (xx - 24) ** 2) / 200.0)
    samples = list(protocol_samples(protocol, dem))
    assert len(samples) == 18
    s = stratified_los(dem, protocol, 23.0)
    dh = dem.max() - dem.min()
    expected_summit = -(protocol.strat_k1_m_per_m * dh + protocol.strat_k2_m_per_m2 * dh**2) \
        / math.cos(math.radians(23.0))
    assert float(s[20, 24]) == pytest.approx(expected_summit, rel=1e-5)
    assert -0.02 < expected_summit < -0.01  # about 1.6 cm of apparent subsidence
    for sample in samples:
        spec = sample.case.deformation
        d = mogi_los(spec, protocol)
        t = turbulent_los(protocol, spec.index)
        expected = d + sample.case.alpha * s + sample.case.beta * t
        np.testing.assert_allclose(sample.x, expected, atol=1e-7)
        assert sample.max_abs_d_m == pytest.approx(float(np.abs(d).max()))
    # one turbulent field per deformation, reproducible, different between deformations
    np.testing.assert_array_equal(turbulent_los(protocol, 0), turbulent_los(protocol, 0))
    assert not np.allclose(turbulent_los(protocol, 0), turbulent_los(protocol, 1))


def test_turbulence_has_the_protocol_variance() -> None:
    protocol = ThresholdProtocol(shape=(256, 256), pixel_m=500.0)
    fields = np.stack([turbulent_los(protocol, k) for k in range(4)])
    # 128 km grids, L = 8 km: the sample std is within a few percent of sigma.
    assert float(fields.std()) == pytest.approx(PROTOCOL_TURBULENT_SIGMA_M, rel=0.1)


def test_powerlaw_turbulence_has_the_protocol_variance_over_the_grid() -> None:
    protocol = ThresholdProtocol(shape=(64, 64), turbulence="powerlaw")
    t = turbulent_los(protocol, 0)
    assert float(t.std()) == pytest.approx(PROTOCOL_TURBULENT_SIGMA_M, rel=1e-3)
    np.testing.assert_array_equal(t, turbulent_los(protocol, 0))
    exponential = turbulent_los(ThresholdProtocol(shape=(64, 64)), 0)
    assert not np.allclose(t, exponential)
    with pytest.raises(InputError, match="turbulence"):
        ThresholdProtocol(turbulence="kolmogorov")
    with pytest.raises(InputError, match="powerlaw_beta"):
        ThresholdProtocol(turbulence="powerlaw", powerlaw_beta=-1.0)


def test_protocol_rejects_bad_parameters() -> None:
    with pytest.raises(InputError, match="depths_m"):
        ThresholdProtocol(depths_m=(-1.0,))
    with pytest.raises(InputError, match="incidences_deg"):
        ThresholdProtocol(incidences_deg=(95.0,))
    with pytest.raises(InputError, match="alphas"):
        ThresholdProtocol(alphas=(0.0, 0.0))
    with pytest.raises(InputError, match="dem_m must be finite heights of shape"):
        stratified_los(np.zeros((3, 3)), ThresholdProtocol(), 23.0)


def test_sigmoid_fit_recovers_a_known_threshold() -> None:
    rng = np.random.default_rng(7)
    x = np.geomspace(1e-3, 0.3, 90)
    p = np.clip(sigmoid(x, 0.035, 0.006) + rng.normal(0.0, 0.03, x.size), 0.0, 1.0)
    fit = fit_sigmoid(x, p)
    assert fit.status == "fit" and not fit.log_x and fit.n == 90
    assert fit.threshold == pytest.approx(0.035, rel=0.05)
    assert fit.scale == pytest.approx(0.006, rel=0.25)
    assert 0.01 < fit.rmse < 0.03  # the noise, halved where clipping at 0 and 1 cuts it
    np.testing.assert_allclose(fitted_curve(fit, [fit.threshold]), [0.5])
    # in log10(x): the 0.5 crossing of a sigmoid in log10 x with centre log10(0.02)
    p_log = sigmoid(np.log10(x), math.log10(0.02), 0.1)
    log_fit = fit_sigmoid(x, p_log, log_x=True)
    assert log_fit.threshold == pytest.approx(0.02, rel=1e-3)
    assert log_fit.scale == pytest.approx(0.1, rel=1e-2)


def test_sigmoid_fit_reports_thresholds_outside_the_data() -> None:
    x = np.array([0.01, 0.02, 0.03, 0.04])
    every = fit_sigmoid(x, [0.9, 0.95, 0.99, 1.0])
    assert every.status == "below_range" and math.isnan(every.threshold)
    assert (every.x_min, every.x_max) == (0.01, 0.04)
    assert fit_sigmoid(x, [0.0, 0.1, 0.2, 0.5]).status == "above_range"
    # One point at 0.45, the rest on a sigmoid crossing 0.5 at 0.005, below the smallest
    # x: the fitted crossing is outside the data, so it is no threshold.
    x_far = np.linspace(0.01, 0.1, 30)
    p_far = sigmoid(x_far, 0.005, 0.01)
    p_far[0] = 0.45
    low = fit_sigmoid(x_far, p_far)
    assert low.status == "below_range" and math.isnan(low.threshold)
    assert low.scale == pytest.approx(0.01, rel=0.5)
    with pytest.raises(InputError, match="equal length >= 3"):
        fit_sigmoid([0.1, 0.2], [0.1, 0.9])
    with pytest.raises(InputError, match=r"p must lie in \[0, 1\]"):
        fit_sigmoid(x, [0.1, 0.2, 1.5, 0.9])
    with pytest.raises(InputError, match="x must be > 0"):
        fit_sigmoid([-0.1, 0.2, 0.3], [0.1, 0.6, 0.9], log_x=True)


def test_roc_auc_on_known_scores() -> None:
    # Hand-computed: positives 0.35 and 0.8, negatives 0.1 and 0.4. Of the 4 pairs,
    # 0.8 beats both negatives and 0.35 beats 0.1 only: AUC = 3 / 4.
    roc = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert roc.auc == 0.75
    np.testing.assert_allclose(roc.fpr, [0.0, 0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(roc.tpr, [0.0, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(roc.thresholds, [np.inf, 0.8, 0.4, 0.35, 0.1])
    # ties count half: one positive tied with one negative, the other above all
    tied = roc_curve([0.5, 0.5, 0.9, 0.2], [0, 1, 1, 0])
    assert tied.auc == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    rng = np.random.default_rng(1)
    scores = np.round(rng.uniform(size=200), 2)  # with many ties
    labels = rng.integers(0, 2, size=200)
    assert roc_curve(scores, labels).auc == pytest.approx(roc_auc(scores, labels), abs=1e-12)
    with pytest.raises(InputError, match="both classes"):
        roc_curve([0.1, 0.2], [1, 1])
    with pytest.raises(InputError, match="labels must be 0"):
        roc_curve([0.1, 0.2], [0, 2])


def test_precision_and_recall_at_the_flag_threshold() -> None:
    scores = [0.9, 0.6, 0.5, 0.2, 0.7, 0.1]
    labels = [1, 1, 1, 1, 0, 0]
    conf = confusion_at(scores, labels)
    # flagged (> 0.5): 0.9, 0.6 (positives) and 0.7 (negative); 0.5 is not above 0.5
    assert conf == Confusion(0.5, tp=2, fp=1, tn=1, fn=2)
    assert conf.precision == pytest.approx(2 / 3)
    assert conf.recall == pytest.approx(0.5)
    assert conf.false_positive_rate == pytest.approx(0.5)
    assert conf.accuracy == pytest.approx(0.5)
    assert math.isnan(confusion_at([0.1, 0.2], [1, 0]).precision)


def test_recall_by_bin() -> None:
    bins = recall_by_bin([0.5, 1.5, 1.7, 3.0, 12.0], [False, True, False, True, True],
                         [0.0, 1.0, 2.0, 10.0, math.inf])
    assert bins == [(0.0, 1.0, 1, 0.0), (1.0, 2.0, 2, 0.5), (2.0, 10.0, 1, 1.0),
                    (10.0, math.inf, 1, 1.0)]
    with pytest.raises(InputError, match="edges increase"):
        recall_by_bin([1.0], [True], [2.0, 1.0])

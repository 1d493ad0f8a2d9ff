"""privlearn.stats: weighted metrics equal sklearn's, intervals cover, verdicts are honest."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from privlearn import stats
from privlearn.metrics import tpr_at_fpr


def _resample(counts_row):
    return np.repeat(np.arange(len(counts_row)), counts_row.astype(int))


def test_weighted_metrics_equal_sklearn_on_each_resample():
    rng = np.random.default_rng(0)
    y = np.repeat([1, 0], 150)
    scores = np.round(y * 0.6 + rng.normal(0, 1, 300), 1)  # many ties
    counts = stats.bootstrap_counts(300, 50, strata=y, random_state=0)
    auc = stats.weighted_roc_auc(y, scores, counts)
    tpr = stats.weighted_tpr_at_fpr(y, scores, counts, 0.05)
    for b in (0, 17, 49):
        idx = _resample(counts[b])
        assert auc[b] == pytest.approx(roc_auc_score(y[idx], scores[idx]))
        assert tpr[b] == pytest.approx(tpr_at_fpr(y[idx], scores[idx], 0.05))
    correct = rng.random(300) < 0.7
    acc = stats.weighted_accuracy(correct, counts)
    assert acc[3] == pytest.approx(correct[_resample(counts[3])].mean())


def test_stratified_counts_keep_stratum_sizes():
    strata = np.repeat([0, 1], [30, 70])
    counts = stats.bootstrap_counts(100, 200, strata=strata, random_state=1)
    assert np.all(counts[:, :30].sum(axis=1) == 30) and np.all(counts[:, 30:].sum(axis=1) == 70)
    assert counts.std(axis=0).mean() > 0.5  # really random


@pytest.mark.slow
def test_bootstrap_interval_of_a_mean_covers_about_95_percent():
    rng = np.random.default_rng(0)
    covered = 0
    n_trials = 200
    for trial in range(n_trials):
        sample = rng.normal(0.3, 1.0, 80)
        low, high = stats.bootstrap_ci(sample, n_boot=400, random_state=trial)
        covered += low <= 0.3 <= high
    assert 0.88 <= covered / n_trials <= 0.99


def test_t_interval_of_known_values():
    low, high = stats.t_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, 2) = 4.303
    assert low == pytest.approx(2 - 4.303 / np.sqrt(3), abs=1e-3)
    assert high == pytest.approx(2 + 4.303 / np.sqrt(3), abs=1e-3)


def test_paired_difference_detects_a_real_gap_and_not_a_null_one():
    rng = np.random.default_rng(1)
    m = np.repeat([1, 0], 300)
    noise = rng.normal(0, 1, 600)
    strong = m * 1.0 + noise
    result = stats.paired_bootstrap_diff(m, strong, m * 0.2 + noise, random_state=0)
    assert result["verdict"] == "holds" and result["ci"][0] > 0
    same = stats.paired_bootstrap_diff(m, strong, strong + 1e-9 * rng.normal(size=600),
                                       random_state=0)
    assert same["verdict"] == "inconclusive"
    reverse = stats.paired_bootstrap_diff(m, m * 0.2 + noise, strong, random_state=0)
    assert reverse["verdict"] == "does not hold"


@settings(max_examples=200, deadline=None)
@given(st.floats(-1, 1), st.floats(0, 1))
def test_an_interval_touching_or_crossing_zero_never_holds(low, width):
    ci = [low, low + width]
    v = stats.verdict(ci)
    if low <= 0 <= low + width:
        assert v == "inconclusive"
    assert (v == "holds") == (low > 0)
    assert (v == "does not hold") == (low + width < 0)


def test_verdict_of_nan_interval_is_inconclusive():
    assert stats.verdict([np.nan, 0.5]) == "inconclusive"


@pytest.mark.parametrize("call, message", [
    (lambda: stats.bootstrap_counts(0), "`n`"),
    (lambda: stats.bootstrap_counts(5, 3), "`n_boot`"),
    (lambda: stats.bootstrap_ci([1.0]), "`values`"),
    (lambda: stats.bootstrap_ci([1.0, 2.0], "mode"), "`statistic`"),
    (lambda: stats.t_interval([1.0]), "`values`"),
    (lambda: stats.percentile_ci([1.0, 2.0], 1.5), "`confidence`"),
    (lambda: stats.paired_bootstrap_diff([1, 0], [1, 0], [1, 0], "f1"), "`metric`"),
    (lambda: stats.paired_bootstrap_diff([1, 0], [1, 0], [1, 0, 1]), "one length"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fraction_of_excess_removed_is_one_formula_for_scalars_and_resamples():
    assert stats.fraction_of_excess_removed(0.9, 0.7, 0.5) == pytest.approx(0.5)
    assert stats.fraction_of_excess_removed(0.9, 0.95, 0.5) == pytest.approx(-0.125)
    # nothing above the baseline: nothing to remove, not a division by zero
    assert np.isnan(stats.fraction_of_excess_removed(0.5, 0.4, 0.5))
    resampled = stats.fraction_of_excess_removed(np.array([0.9, 0.6, 0.4]),
                                                 np.array([0.5, 0.6, 0.3]), 0.5)
    np.testing.assert_allclose(resampled[:2], [1.0, 0.0])
    assert np.isnan(resampled[2])

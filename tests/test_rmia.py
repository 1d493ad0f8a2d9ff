"""RMIA (Zarifzadeh et al., ICML 2024): power with few reference models, its score
against a brute-force computation, sharing reference models with LiRA."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import privlearn as pl
from _reference_checks import (EXPECTED, N_POOL, RMIAOnChecks, best_metric_tpr,
                               overfit_setup, stand_in_target)
from privlearn.attacks import RMIA, LiRA
from privlearn.metrics import tpr_at_fpr

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def overfit():
    """An MLP on a random half of a 1,000-record digits pool; 4 reference models."""
    return overfit_setup(n_models=4, random_state=1)


@pytest.mark.slow
def test_rmia_with_four_reference_models_beats_the_metric_attack(overfit):
    pool, member, target, reference = overfit
    scores = RMIA(target, reference=reference).fit(pool).decision_function(pool)
    rmia_tpr = tpr_at_fpr(member, scores, 0.01)
    metric_tpr = best_metric_tpr(target, pool, member, 0.01)
    # Measured: 0.070 against 0.006 (500 non-members: 1% FPR is 5 of them).
    assert rmia_tpr >= 3 * max(metric_tpr, 1 / 500), (rmia_tpr, metric_tpr)
    assert roc_auc_score(member, scores) > 0.58


def test_score_is_the_fraction_of_population_below(overfit):
    """Brute force, record by record: Pr(x) = ((1 + a) Pr_OUT(x) + 1 - a) / 2."""
    pool, member, target, reference = overfit
    a, gamma = 0.3, 2.0
    rmia = RMIA(target, reference=reference, offline_a=a, gamma=gamma).fit(pool)

    def log_ratio(i):
        label = pool.labels[i]
        x = pool.inputs[i:i + 1]
        p_target = target.predict_proba(x)[0][list(target.classes_).index(label)]
        outs = [m.predict_proba(x)[0][list(m.classes_).index(label)]
                for k, m in enumerate(reference.models_) if not reference.in_[k, i]]
        p_x = ((1 + a) * np.mean(outs) + 1 - a) / 2
        return np.log(p_target) - np.log(p_x)

    z = np.array([log_ratio(i) for i in range(0, N_POOL, 10)])
    population = pool[np.arange(0, N_POOL, 10)]
    rmia_z = RMIA(target, reference=reference, offline_a=a, gamma=gamma,
                  population=population).fit(pool)
    for i in (3, 17, 501):
        expected = np.mean(np.exp(log_ratio(i) - z) > gamma)
        assert rmia_z.score_samples(pool[[i]])[0] == pytest.approx(expected)
    assert rmia.population_log_ratios_.shape == (N_POOL,)


def test_shares_reference_models_with_lira(overfit):
    pool, member, target, reference = overfit
    lira = LiRA(target, reference=reference).fit(pool)
    rmia = RMIA(target, reference=lira.reference_).fit(pool)
    assert rmia.reference_ is lira.reference_ is reference
    assert clone(rmia).reference is reference


def test_online_and_offline_variants(overfit):
    pool, member, target, reference = overfit
    for params in (dict(online=True), dict(offline_a=1.0), dict(gamma=1.5)):
        scores = RMIA(target, reference=reference, **params).fit(pool).decision_function(pool)
        assert roc_auc_score(member, scores) > 0.55, params
    # Records outside the pool are scored (offline: every model left them out).
    X, y = load_digits(return_X_y=True)
    outside = pl.Records(X[-4:] / 16.0 + 1e-3, y[-4:])
    proba = RMIA(target, reference=reference).fit(pool).predict_proba(outside)
    assert ((proba >= 0) & (proba <= 1)).all() and np.allclose(proba.sum(axis=1), 1)


def test_predict_and_proba_follow_the_score(overfit):
    pool, member, target, reference = overfit
    rmia = RMIA(target, reference=reference).fit(pool)
    score = rmia.score_samples(pool)
    assert np.array_equal(rmia.predict(pool), (score > 0.5).astype(int))
    assert np.allclose(rmia.predict_proba(pool)[:, 1], score)


@pytest.mark.parametrize("params, error, match", [
    (dict(offline_a=1.5), ValueError, "offline_a"),
    (dict(gamma=0.5), ValueError, "gamma"),
    (dict(online="yes"), TypeError, "online"),
    (dict(population=np.zeros((3, 64))), TypeError, "population"),
    (dict(n_shadows=1), ValueError, "at least 2"),
])
def test_bad_parameters_fail_before_training(params, error, match):
    X, y = load_digits(return_X_y=True)
    target = LogisticRegression(max_iter=50).fit(X[:100], y[:100])

    class Tripwire(LogisticRegression):
        def fit(self, X, y):
            raise AssertionError("trained before the parameters were checked")

    with pytest.raises(error, match=match):
        RMIA(target, Tripwire(), **params).fit(pl.Records(X[:100], y[:100]))


# --------------------------------------------------------------------------- sklearn checks
@parametrize_with_checks(
    [RMIAOnChecks(stand_in_target(),
                  LogisticRegression(max_iter=100), n_shadows=2, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_one_call_scores_every_reference_attack(overfit):
    """What the audit calls: LiRA online/offline and RMIA from one set of models."""
    from privlearn.attacks import reference_attack_scores

    pool, member, target, reference = overfit
    scores = reference_attack_scores(target, reference, pool)
    assert np.array_equal(scores["rmia"],
                          RMIA(target, reference=reference).fit(pool).decision_function(pool))
    assert np.array_equal(scores["lira_online"],
                          LiRA(target, reference=reference).fit(pool).decision_function(pool))
    X, y = load_digits(return_X_y=True)
    outside = pl.Records(X[-3:] / 16.0 + 1e-3, y[-3:])
    assert sorted(reference_attack_scores(target, reference, pool, outside)) == [
        "lira_offline", "rmia"]

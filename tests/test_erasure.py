"""LinearConceptEraser (LEACE): zero cross-covariance, linear probe at the majority
rate while a nonlinear attacker may still succeed, rank deficiency, routing through
Pipeline and GridSearchCV, bad input, and sklearn's estimator checks."""

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import privlearn as pl
from privlearn.erasure import LinearConceptEraser


def _one_hot_cross_cov(X, s):
    Z = (s[:, None] == np.unique(s)[None, :]).astype(float)
    return (X - X.mean(0)).T @ (Z - Z.mean(0)) / len(X)


@pytest.fixture
def linear_and_nonlinear(rng):
    """3-valued attribute shifting the mean of two features (linear signal) and,
    for s=2, the variance of a third (a signal only a nonlinear model sees);
    a duplicated and a constant column make the covariance singular."""
    n = 3000
    s = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 8))
    X[:, 0] += 2.0 * (s == 1)
    X[:, 1] -= 1.5 * (s == 2)
    X[:, 2] *= np.where(s == 0, 0.2, 3.0)         # scale only: no mean shift
    X[:, 6] = 2 * X[:, 5]                         # duplicate direction
    X[:, 7] = 1.0                                  # constant
    return X, s


def test_cross_covariance_is_zero_and_rank(linear_and_nonlinear):
    X, s = linear_and_nonlinear
    eraser = LinearConceptEraser().fit(X, sensitive_features=s)
    before = np.abs(_one_hot_cross_cov(X, s)).max()
    after = np.abs(_one_hot_cross_cov(eraser.transform(X), s)).max()
    assert before > 0.3
    assert after < 1e-10 * before
    assert eraser.rank_ == 2                       # at most #values - 1
    # P is a projection: P @ P == P.
    P = eraser.projection_
    np.testing.assert_allclose(P @ P, P, atol=1e-8)
    # Every attribute value has the same mean after erasure.
    Xe = eraser.transform(X)
    means = np.stack([Xe[s == v].mean(0) for v in range(3)])
    np.testing.assert_allclose(means, means[[0, 0, 0]], atol=1e-8)
    # Erasing again changes nothing: no linear signal is left.
    again = LinearConceptEraser().fit(Xe, sensitive_features=s)
    assert again.rank_ == 0
    np.testing.assert_allclose(again.transform(Xe), Xe, atol=1e-10)


def test_linear_probe_at_majority_rate_but_mlp_still_recovers(linear_and_nonlinear):
    X, s = linear_and_nonlinear
    X_fit, X_test, s_fit, s_test = train_test_split(X, s, test_size=0.5, random_state=0,
                                                    stratify=s)
    eraser = LinearConceptEraser().fit(X_fit, sensitive_features=s_fit)
    E_fit, E_test = eraser.transform(X_fit), eraser.transform(X_test)
    majority = np.bincount(s_test).max() / len(s_test)
    noise = 3 * np.sqrt(majority * (1 - majority) / len(s_test))   # 3 binomial s.d.

    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    assert linear.fit(X_fit, s_fit).score(X_test, s_test) > majority + 0.2   # before
    assert linear.fit(E_fit, s_fit).score(E_test, s_test) < majority + noise  # after
    mlp = make_pipeline(StandardScaler(), MLPClassifier((64,), max_iter=500,
                                                        random_state=0))
    # The variance signal survives: linear-only erasure, as documented.
    assert mlp.fit(E_fit, s_fit).score(E_test, s_test) > majority + 0.1


def test_smallest_change_direction(rng):
    """With white data and a binary attribute the eraser is the orthogonal
    projection removing the class-mean difference, nothing else."""
    n = 4000
    s = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 5))
    X[:, 0] += 2 * s
    eraser = LinearConceptEraser().fit(X, sensitive_features=s)
    assert eraser.rank_ == 1
    Xc = X - X.mean(0)
    moved = np.linalg.norm(eraser.transform(X) - X, axis=0) / np.linalg.norm(Xc, axis=0)
    assert moved[0] > 0.3 and moved[1:].max() < 0.1


def test_float32_and_string_attribute(linear_and_nonlinear):
    X, s = linear_and_nonlinear
    labels = np.array(["a", "b", "c"])[s]
    eraser = LinearConceptEraser().fit(X.astype(np.float32), sensitive_features=labels)
    out = eraser.transform(X.astype(np.float32))
    assert out.dtype == np.float32
    assert list(eraser.sensitive_classes_) == ["a", "b", "c"]
    assert np.abs(_one_hot_cross_cov(out.astype(float), s)).max() < 1e-4


@pytest.mark.parametrize("sensitive, message", [
    (None, "is required"),
    (np.zeros(5), "at least two"),
    (np.arange(4), "one value per sample"),
    (np.array([0.0, 1.0, np.nan, 0.0, 1.0]), "NaN"),
    (np.linspace(0, 1, 5), "class labels"),
])
def test_bad_sensitive_features(sensitive, message):
    X = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(ValueError, match=message):
        LinearConceptEraser().fit(X, sensitive_features=sensitive)


@pytest.mark.parametrize("tol", [-1.0, 1.0, "small", True])
def test_bad_tol(tol):
    with pytest.raises(ValueError, match="`tol`"):
        LinearConceptEraser(tol=tol).fit(np.eye(4), sensitive_features=[0, 1, 0, 1])


# --------------------------------------------------------------------------- composition
TINY = dict(max_epochs=1, batch_size=64, projection_dim=8, random_state=0)


def test_pipeline_after_simclr_and_grid_search(digits):
    X, y = digits.images[:240], digits.target[:240]
    s = digits.sensitive[:240]
    model = make_pipeline(pl.SimCLR(**TINY), pl.LinearConceptEraser(),
                          LogisticRegression(max_iter=300))
    model.fit(X, y, linearconcepteraser__sensitive_features=s)
    assert model.predict(X[:5]).shape == (5,)
    E = model[:-1].transform(X)
    assert np.abs(_one_hot_cross_cov(E.astype(float), s)).max() < 1e-4

    # Metadata routing: requested by default, sliced per fold by the search.
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            make_pipeline(pl.SimCLR(**TINY), pl.LinearConceptEraser(),
                          LogisticRegression(max_iter=300)),
            {"linearconcepteraser__tol": [1e-10, 1e-6]},
            scoring={"utility": "accuracy", "leak": pl.attribute_leakage_scorer(
                cv=2, attack_model=LogisticRegression(max_iter=300))},
            refit="utility", cv=2)
        search.fit(X, y, sensitive_features=s)
    leak = -search.cv_results_["mean_test_leak"]
    assert leak.shape == (2,) and np.all(leak < 0.6)   # 10 digits: linear ≈ chance


# --------------------------------------------------------------------------- sklearn checks
class EraserOnChecks(LinearConceptEraser):
    """The checks call fit(X, y): ``y`` (or, without one, the sign of the first
    feature, a fixed function of each row) is the attribute."""

    def fit(self, X, y=None, **fit_params):
        if y is None:
            y = np.asarray(X, dtype=float)[:, 0] > 0
        return super().fit(X, y, sensitive_features=y, **fit_params)


@parametrize_with_checks([EraserOnChecks()])
def test_sklearn_compatible(estimator, check):
    check(estimator)

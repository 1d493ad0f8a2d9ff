"""compare_defenses: every defense on the same split and attacks; the fraction of
excess leakage removed; the table and the plot; bad input."""

import math

import matplotlib
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import privlearn as pl
from privlearn.attacks.membership import METHODS
from privlearn.tradeoff import compare_defenses, defense_table, plot_defenses

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def tabular():
    """The attribute s lives in two features, the task y in two others."""
    rng = np.random.default_rng(0)
    n = 600
    y, s = rng.integers(0, 2, n), rng.integers(0, 2, n)
    X = rng.normal(size=(n, 6))
    X[:, 0] += 2.5 * y
    X[:, 1] -= 2.0 * y
    X[:, 2] += 3.0 * s
    X[:, 3] += 2.0 * s
    return X, y, s


def test_erasure_removes_the_linear_leakage_it_promises(tabular):
    """Against a linear attacker, LEACE removes (almost) all excess leakage at
    (almost) no utility cost; the undefended reference removes none."""
    X, y, s = tabular
    result = compare_defenses(
        {"PCA": PCA(6),
         "PCA + LEACE": make_pipeline(PCA(6), pl.LinearConceptEraser(),
                                      LogisticRegression())},
        X, y, s, attack_model=LogisticRegression(), random_state=0)
    assert list(result.defense) == ["PCA", "PCA + LEACE"]
    assert result.reference == "PCA"
    assert result.attack_accuracy[0] > 0.9                   # the attribute leaks
    assert result.leakage_removed[0] == 0 and result.utility_cost[0] == 0
    assert result.leakage_removed[1] > 0.85
    assert abs(result.utility_cost[1]) < 0.05
    assert np.all((result.membership_auc >= 0) & (result.membership_auc <= 1))
    assert set(result.membership_method) <= set(METHODS)
    assert np.all(np.isinf(result.epsilon))
    assert result.attack_baseline == pytest.approx(
        np.bincount(s).max() / len(s), abs=0.05)
    table = defense_table(result)
    assert "PCA + LEACE" in table and "Majority attribute rate" in table
    axes = plot_defenses(result)
    assert len(axes) == 2 and len(axes[0].lines) == 3     # two defenses + baseline


def test_image_defenses_on_one_split(digits):
    X, y, s = digits.images[:200], digits.target[:200], digits.sensitive[:200]
    fast = dict(max_epochs=1, batch_size=64, random_state=0)
    result = compare_defenses(
        {"SimCLR": pl.SimCLR(**fast),
         "SimCLR + LEACE": make_pipeline(pl.SimCLR(**fast), pl.LinearConceptEraser(),
                                         LogisticRegression(max_iter=300)),
         "DP-SGD": pl.SupervisedClassifier(noise_multiplier=1.0, max_grad_norm=1.0,
                                           **fast)},
        X, y, s, membership_methods=["confidence", "entropy"], random_state=0)
    assert result.n_members == result.n_held_out == 100
    assert math.isinf(result.epsilon[0]) and math.isfinite(result.epsilon[2])
    assert np.all((result.utility >= 0) & (result.utility <= 1))
    assert np.all(result.fit_seconds > 0)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(defenses={}), TypeError, "non-empty dict"),
    (dict(reference="nope"), ValueError, "reference"),
    (dict(membership_methods=["magic"]), ValueError, "membership_methods"),
    (dict(membership_cv=1), ValueError, "membership_cv"),
    (dict(test_size=1.5), ValueError, "test_size"),
    (dict(defenses={"bad": object()}), TypeError, "encoder"),
    (dict(y=np.zeros(3)), ValueError, "`y`"),
])
def test_bad_input(tabular, kwargs, error, message):
    X, y, s = tabular
    args = dict(defenses={"PCA": PCA(2)}, X=X, y=y, sensitive_features=s)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        compare_defenses(**args)

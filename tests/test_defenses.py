"""compare_defenses: every defense on the same split and attacks; the fraction of
excess leakage removed; the table and the plot; bad input; the defenses home and
its one evaluation path (evaluate_defense, summarize_defenses); the deprecated
privlearn.tradeoff names."""

import math

import matplotlib
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import privlearn as pl
from privlearn.attacks.membership import METHODS
from privlearn.defenses import (compare_defenses, defense_table, evaluate_defense,
                                plot_defenses, summarize_defenses)

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


def test_compare_defenses_is_evaluate_defense_per_model(tabular):
    """compare_defenses' rows are evaluate_defense's, on its split, and its relative
    columns summarize_defenses' (the function the audit's table calls)."""
    from sklearn.model_selection import train_test_split

    X, y, s = tabular
    defenses = {"PCA": PCA(6),
                "PCA + LEACE": make_pipeline(PCA(6), pl.LinearConceptEraser(),
                                             LogisticRegression())}
    kwargs = dict(attack_model=LogisticRegression(), membership_methods=["confidence"],
                  random_state=0)
    result = compare_defenses(defenses, X, y, s, **kwargs)
    members, held_out = train_test_split(np.arange(len(y)), test_size=0.5, stratify=y,
                                         random_state=0)
    for i, model in enumerate([make_pipeline(PCA(6), LogisticRegression(max_iter=1000)),
                               defenses["PCA + LEACE"]]):
        row = evaluate_defense(model, (X[members], y[members], s[members]),
                               (X[held_out], y[held_out], s[held_out]), **kwargs)
        assert row["utility"] == result.utility[i]
        assert row["attack_accuracy"] == result.attack_accuracy[i]
        assert row["membership_auc"] == result.membership_auc[i]
        assert row["attack_baseline"] == result.attack_baseline
    summary = summarize_defenses(result.utility, result.attack_accuracy,
                                 result.attack_baseline)
    np.testing.assert_array_equal(summary.utility_cost, result.utility_cost)
    np.testing.assert_array_equal(summary.leakage_removed, result.leakage_removed)


def test_evaluate_defense_on_a_fitted_model_without_membership(tabular):
    X, y, s = tabular
    model = make_pipeline(PCA(6), LogisticRegression()).fit(X[:300], y[:300])
    row = evaluate_defense(model, (X[:300], y[:300], s[:300]), (X[300:], y[300:], s[300:]),
                           attack_model=LogisticRegression(), membership_methods=None,
                           fitted=True, random_state=0)
    assert row["fit_seconds"] == 0 and row["membership_method"] is None
    assert math.isnan(row["membership_auc"]) and math.isinf(row["epsilon"])
    assert row["utility"] == model.score(X[300:], y[300:])


def test_summarize_defenses_against_the_reference():
    summary = summarize_defenses([0.8, 0.9, 0.7], [0.7, 0.9, 0.5], 0.5, reference=1)
    np.testing.assert_allclose(summary.utility_cost, [0.1, 0.0, 0.2])
    np.testing.assert_allclose(summary.leakage_removed, [0.5, 0.0, 1.0])
    # Nothing above the baseline to remove: NaN, not a division by zero.
    assert np.isnan(summarize_defenses([1, 1], [0.5, 0.4], 0.5).leakage_removed).all()


def test_defenses_home_reexports_every_defense():
    from privlearn import catalogue, defenses, encoders, erasure, talos

    assert defenses.Talos is talos.Talos and defenses.AdversaryNet is talos.AdversaryNet
    assert defenses.LinearConceptEraser is erasure.LinearConceptEraser
    assert defenses.SupervisedClassifier is encoders.SupervisedClassifier
    # Every catalogued defense resolves to a class the home re-exports.
    for spec in catalogue.DEFENSES.values():
        assert catalogue.load(spec) in {defenses.Talos, defenses.LinearConceptEraser,
                                        defenses.SupervisedClassifier}
    assert {"talos", "mmd", "leace", "dp_sgd"} <= set(catalogue.DEFENSES)


@pytest.mark.parametrize("name", ["compare_defenses", "defense_table", "plot_defenses",
                                  "privacy_utility_curve", "plot_privacy_utility"])
def test_old_tradeoff_names_warn_and_still_work(name):
    import privlearn.defenses
    import privlearn.tradeoff

    with pytest.warns(DeprecationWarning, match=f"tradeoff.{name} is deprecated"):
        old = getattr(privlearn.tradeoff, name)
    assert old is getattr(privlearn.defenses, name)
    assert name in dir(privlearn.tradeoff)
    with pytest.raises(AttributeError):
        privlearn.tradeoff.no_such_name  # noqa: B018


def test_old_talos_names_warn_and_root_names_do_not():
    import warnings

    import privlearn.defenses
    import privlearn.talos

    with pytest.warns(DeprecationWarning, match="privlearn.talos.privacy_utility_curve"):
        old = privlearn.talos.privacy_utility_curve
    assert old is privlearn.defenses.privacy_utility_curve
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # the root's lazy names are not deprecated
        assert pl.compare_defenses is privlearn.defenses.compare_defenses
        assert pl.privacy_utility_curve is privlearn.defenses.privacy_utility_curve

"""Attack metrics, scorers and ROC plots."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.metrics import (accuracy_score, f1_score, precision_score,  # noqa: E402
                             recall_score, roc_auc_score)
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402

import privlearn as pl  # noqa: E402
from privlearn.attacks._thresholds import sweep_thresholds  # noqa: E402
from privlearn.metrics import (advantage_scorer, attack_advantage,  # noqa: E402
                               attack_report, make_tpr_at_fpr_scorer, plot_roc,
                               tpr_at_01pct_fpr_scorer, tpr_at_1pct_fpr_scorer,
                               tpr_at_fpr)


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(0)
    membership = np.repeat([1, 0], 1000)
    scores = rng.normal(size=2000) + 0.8 * membership
    return membership, scores


def test_report_matches_sklearn(scored):
    membership, scores = scored
    report = attack_report(membership, scores, threshold=0.4)
    predicted = scores >= 0.4
    assert report["accuracy"] == accuracy_score(membership, predicted)
    assert report["precision"] == precision_score(membership, predicted)
    assert report["recall"] == recall_score(membership, predicted)
    assert report["f1"] == f1_score(membership, predicted)
    assert report["roc_auc"] == roc_auc_score(membership, scores)
    assert set(report) == {"accuracy", "balanced_accuracy", "precision", "recall", "f1",
                           "roc_auc", "tpr_at_1%_fpr", "tpr_at_0.1%_fpr", "advantage"}
    assert all(isinstance(v, float) for v in report.values())
    assert 0 <= report["tpr_at_0.1%_fpr"] <= report["tpr_at_1%_fpr"] <= 1
    given = attack_report(membership, scores, predictions=np.ones(2000, dtype=int))
    assert given["accuracy"] == 0.5 and given["recall"] == 1.0
    assert given["roc_auc"] == report["roc_auc"]          # scores still rank


def test_tpr_at_fpr_is_the_best_rate_under_the_fpr_cap(scored):
    membership, scores = scored
    negatives = np.sort(scores[membership == 0])
    for fpr in (0.0, 0.001, 0.01, 0.1, 0.5):
        # Brute force: every threshold whose false-positive rate is within the cap.
        best = max(np.mean(scores[membership == 1] >= t)
                   for t in np.append(scores, np.inf)
                   if np.mean(negatives >= t) <= fpr)
        assert tpr_at_fpr(membership, scores, fpr) == pytest.approx(best)
    assert tpr_at_fpr([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], fpr=0.0) == 1.0


def test_advantage_is_twice_the_best_balanced_accuracy_minus_one(scored):
    membership, scores = scored
    _, bacc = sweep_thresholds(scores, membership == 1, np.zeros(2000, dtype=int))
    assert attack_advantage(membership, scores) == pytest.approx(2 * bacc[0] - 1)
    assert attack_report(membership, scores)["advantage"] == pytest.approx(2 * bacc[0] - 1)


def test_scorers_work_in_cross_validation():
    X, y = load_digits(return_X_y=True)
    target = RandomForestClassifier(10, max_features=1, random_state=0).fit(X[:200], y[:200])
    records, m = pl.membership_set((X[:200], y[:200]), (X[200:400], y[200:400]))
    attack = pl.MembershipInference(target, method="modified_entropy")
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    for scorer, fpr in ((tpr_at_1pct_fpr_scorer, 0.01), (tpr_at_01pct_fpr_scorer, 0.001),
                        (make_tpr_at_fpr_scorer(0.1), 0.1)):
        got = cross_val_score(attack, records, m, cv=cv, scoring=scorer)
        expected = [tpr_at_fpr(m[test], attack.fit(records[train], m[train])
                               .decision_function(records[test]), fpr=fpr)
                    for train, test in cv.split(records, m)]
        np.testing.assert_allclose(got, expected)
    advantage = cross_val_score(attack, records, m, cv=cv, scoring=advantage_scorer)
    assert (advantage > 0.3).all()


def test_plot_roc_draws_every_curve_and_a_log_variant(scored):
    membership, scores = scored
    curves = {"strong": (membership, scores), "weak": (membership, scores * 0.1 +
                                                        np.random.default_rng(1).normal(size=2000))}
    fig, (linear, log) = plt.subplots(1, 2)
    assert plot_roc(curves, ax=linear) is linear
    labels = [text.get_text() for text in linear.get_legend().get_texts()]
    assert any(label.startswith("strong") for label in labels)
    assert any(label.startswith("weak") for label in labels)
    plot_roc(curves, ax=log, log=True)
    assert log.get_xscale() == "log" and log.get_yscale() == "log"
    assert log.get_xlim()[0] < 1e-3
    plt.close(fig)
    plt.close(plot_roc({"one": (membership, scores)}).figure)


def test_bad_input():
    with pytest.raises(ValueError, match="1 for members"):
        attack_report([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="same length"):
        attack_report([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="both members"):
        attack_report([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"predict_proba\(X\)\[:, 1\]"):
        attack_report([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="predictions"):
        attack_report([0, 1], [0.1, 0.8], predictions=[0.1, 0.8])
    with pytest.raises(ValueError, match="fpr"):
        tpr_at_fpr([0, 1], [0.1, 0.8], fpr=2)
    with pytest.raises(ValueError, match="fpr"):
        make_tpr_at_fpr_scorer(-0.1)
    with pytest.raises(TypeError, match="curves"):
        plot_roc([([0, 1], [0.1, 0.8])])

"""Posterior-based membership inference (NN and Song & Mittal's metric attacks)."""

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.svm import SVC
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

import privlearn as pl
from privlearn.attacks._features import (label_columns, neg_entropy,
                                         neg_modified_entropy, top_k_features)
from privlearn.attacks._thresholds import fit_class_thresholds, sweep_thresholds
from privlearn.attacks.membership import METHODS

METRIC_METHODS = ("confidence", "entropy", "modified_entropy")


class CountingForest(RandomForestClassifier):
    """A random forest that counts its fit calls (class-wide), to catch refits."""

    fits = 0

    def fit(self, X, y, sample_weight=None):
        type(self).fits += 1
        return super().fit(X, y, sample_weight=sample_weight)


def overfitting_forest():
    # Ten fully grown trees on one random feature per split: 100% training
    # accuracy on digits, about 77% on unseen digits, overconfident on members.
    return CountingForest(n_estimators=10, max_features=1, random_state=0)


@pytest.fixture(scope="module")
def digits10():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="module")
def halves(digits10):
    """150 members and 150 non-members of a 10-class digits target."""
    X, y = digits10
    X_in, X_out, y_in, y_out = train_test_split(X, y, train_size=150, test_size=150,
                                                stratify=y, random_state=0)
    records, membership = pl.membership_set((X_in, y_in), (X_out, y_out))
    return Bunch(X_in=X_in, y_in=y_in, X_out=X_out, y_out=y_out, records=records,
                 membership=membership)


@pytest.fixture(scope="module")
def overfitted(halves):
    return overfitting_forest().fit(halves.X_in, halves.y_in)


# --- the attack must find the leak, and only where there is one ---------------------
@pytest.mark.parametrize("method", METHODS)
def test_audit_mode_detects_overfitted_target(overfitted, halves, method):
    attack = pl.MembershipInference(overfitted, method=method, random_state=0)
    auc = cross_val_score(attack, halves.records, halves.membership, cv=5,
                          scoring="roc_auc")
    acc = cross_val_score(attack, halves.records, halves.membership, cv=5)
    if method == "correctness":
        # Bounded by the generalisation gap: (1 + 1 - 0.77) / 2 ≈ 0.62.
        assert auc.mean() > 0.58 and acc.mean() > 0.58
    else:
        assert auc.mean() > 0.8, auc
        assert acc.mean() > 0.7, acc


def test_correctness_balanced_accuracy_is_generalisation_gap(overfitted, halves):
    attack = pl.MembershipInference(overfitted, method="correctness")
    attack.fit(halves.records, halves.membership)
    train_acc = overfitted.score(halves.X_in, halves.y_in)
    test_acc = overfitted.score(halves.X_out, halves.y_out)
    bacc = balanced_accuracy_score(halves.membership, attack.predict(halves.records))
    assert train_acc == 1.0 and test_acc < 0.85
    assert bacc == pytest.approx((train_acc + 1 - test_acc) / 2, abs=1e-12)


@pytest.mark.parametrize("kind", ["ignores_input", "regularised"])
def test_no_leak_when_train_and_test_accuracy_agree(digits10, kind):
    X, y = digits10
    X_in, X_out, y_in, y_out = train_test_split(X, y, train_size=400, test_size=400,
                                                stratify=y, random_state=1)
    if kind == "ignores_input":
        target = DummyClassifier(strategy="prior").fit(X_in, y_in)
    else:
        target = LogisticRegression(C=2e-3, max_iter=500).fit(X_in, y_in)
        assert abs(target.score(X_in, y_in) - target.score(X_out, y_out)) < 0.04
    records, membership = pl.membership_set((X_in, y_in), (X_out, y_out))
    for method in METHODS:
        attack = pl.MembershipInference(target, method=method, random_state=0)
        auc = cross_val_score(attack, records, membership, cv=4, scoring="roc_auc")
        assert abs(auc.mean() - 0.5) < 0.07, (method, auc)


@pytest.fixture(scope="module")
def paper_parts(digits10):
    X, y = digits10
    return pl.datasets.paper_split(Bunch(images=X, target=y), n_per_part=150,
                                   random_state=0)


@pytest.mark.parametrize("method", METHODS)
def test_shadow_protocol_attacks_the_target(paper_parts, method):
    parts = paper_parts
    target = overfitting_forest().fit(parts.target_train.images, parts.target_train.target)
    recipe = overfitting_forest()
    X_shadow, m_shadow = pl.membership_set(parts.shadow_train, parts.shadow_test)
    X_eval, m_eval = pl.membership_set(parts.target_train, parts.target_test)
    attack = pl.MembershipInference(target, shadow=recipe, method=method, random_state=0)
    attack.fit(X_shadow, m_shadow)
    # The shadow was cloned and trained on the shadow members only.
    assert attack.shadow_ is not recipe
    with pytest.raises(NotFittedError):
        check_is_fitted(recipe)
    reference = overfitting_forest().fit(parts.shadow_train.images, parts.shadow_train.target)
    np.testing.assert_array_equal(attack.shadow_.predict_proba(X_eval.inputs),
                                  reference.predict_proba(X_eval.inputs))
    auc = roc_auc_score(m_eval, attack.predict_proba(X_eval)[:, 1])
    acc = attack.score(X_eval, m_eval)
    floor = 0.58 if method == "correctness" else 0.75
    assert auc > floor and acc > floor - 0.08, (auc, acc)


def test_shadow_protocol_queries_target_only_at_prediction(paper_parts):
    parts = paper_parts
    target = overfitting_forest().fit(parts.target_train.images, parts.target_train.target)
    X_shadow, m_shadow = pl.membership_set(parts.shadow_train, parts.shadow_test)
    X_eval, _ = pl.membership_set(parts.target_train, parts.target_test)
    attack = pl.MembershipInference(target, shadow=overfitting_forest(), method="confidence")
    attack.fit(X_shadow, m_shadow)
    expected = target.predict_proba(X_eval.inputs)[np.arange(len(X_eval)), X_eval.labels]
    shifted = attack.decision_function(X_eval) - expected
    # decision = p_y(target) - threshold of the record's class.
    for label in np.unique(X_eval.labels):
        assert np.ptp(shifted[X_eval.labels == label]) < 1e-12


# --- the fitted target survives clone, cross-validation and grid search -------------
def test_clone_cross_val_and_grid_search_never_refit_the_target(halves):
    CountingForest.fits = 0
    target = overfitting_forest().fit(halves.X_in, halves.y_in)
    assert CountingForest.fits == 1
    attack = pl.MembershipInference(target, method="entropy")
    copy = clone(attack)
    assert copy.target is target
    cross_val_score(attack, halves.records, halves.membership, cv=3, scoring="roc_auc")
    search = GridSearchCV(attack, {"method": ["confidence", "modified_entropy"]}, cv=3,
                          scoring="roc_auc").fit(halves.records, halves.membership)
    assert search.best_estimator_.target is target
    assert CountingForest.fits == 1
    check_is_fitted(target)

    # The shadow, in contrast, is a recipe: cloned and trained once per attack fit.
    recipe = overfitting_forest()
    attack = pl.MembershipInference(target, shadow=recipe, method="confidence")
    assert clone(attack).shadow is not recipe
    cross_val_score(attack, halves.records, halves.membership, cv=3)
    assert CountingForest.fits == 1 + 3
    with pytest.raises(NotFittedError):
        check_is_fitted(recipe)


def test_frozen_target_gives_the_same_attack(overfitted, halves):
    plain = pl.MembershipInference(overfitted, method="modified_entropy")
    frozen = pl.MembershipInference(FrozenEstimator(overfitted), method="modified_entropy")
    a = plain.fit(halves.records, halves.membership).decision_function(halves.records)
    b = frozen.fit(halves.records, halves.membership).decision_function(halves.records)
    np.testing.assert_array_equal(a, b)
    assert cross_val_score(frozen, halves.records, halves.membership, cv=3).mean() > 0.6


# --- outputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_scores_are_continuous_and_follow_input_order(overfitted, halves, method):
    attack = pl.MembershipInference(overfitted, method=method, random_state=0)
    attack.fit(halves.records, halves.membership)
    np.testing.assert_array_equal(attack.classes_, [0, 1])
    proba = attack.predict_proba(halves.records)
    assert proba.shape == (len(halves.records), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    order = np.random.default_rng(0).permutation(len(halves.records))
    np.testing.assert_allclose(attack.predict_proba(halves.records[order]), proba[order])
    decision = attack.decision_function(halves.records)
    # predict, predict_proba and decision_function agree.
    np.testing.assert_array_equal(attack.predict(halves.records), decision >= 0)
    assert np.mean((proba[:, 1] >= 0.5) == (decision >= 0)) > 0.99
    if method != "correctness":
        assert len(np.unique(decision)) > 20      # scores, not 0/1 labels


def test_per_class_thresholds_and_fallback_for_unseen_classes(overfitted, halves):
    records, membership = halves.records, halves.membership
    seen = records.labels != 9
    attack = pl.MembershipInference(overfitted, method="confidence")
    attack.fit(records[seen], membership[seen])
    assert 9 not in attack.threshold_classes_
    assert set(attack.threshold_classes_) == set(range(9))
    assert len(np.unique(attack.thresholds_)) > 1          # really one per class
    nines = records[~seen]
    p_y = overfitted.predict_proba(nines.inputs)[:, 9]
    np.testing.assert_allclose(attack.decision_function(nines),
                               p_y - attack.global_threshold_)


def test_nn_attack_reads_top_k_and_clones_the_attack_model(overfitted, halves):
    recipe = LogisticRegression()
    attack = pl.MembershipInference(overfitted, method="nn", top_k=3, attack_model=recipe)
    attack.fit(halves.records, halves.membership)
    assert attack.attack_model_ is not recipe and attack.attack_model_.n_features_in_ == 4
    with pytest.raises(NotFittedError):
        check_is_fitted(recipe)
    assert attack.score(halves.records, halves.membership) > 0.7


def test_image_pipeline_target(digits):
    # Images N×C×H×W through a flattening pipeline: records carry the images.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    flatten = FunctionTransformer(lambda x: np.asarray(x, float).reshape(len(x), -1) / 255)
    images, target = digits.images, digits.sensitive      # the digit itself
    model = make_pipeline(flatten, RandomForestClassifier(10, max_features=1, random_state=0))
    model.fit(images[:150], target[:150])
    records, m = pl.membership_set((images[:150], target[:150]), (images[150:300], target[150:300]))
    auc = cross_val_score(pl.MembershipInference(model, method="modified_entropy"), records, m,
                          cv=3, scoring="roc_auc")
    assert auc.mean() > 0.75


# --- the building blocks ---------------------------------------------------------------
def test_threshold_sweep_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 60))
        scores = rng.integers(0, 8, n).astype(float)          # many ties
        positive = rng.random(n) < 0.5
        groups = rng.integers(0, 3, n)
        thresholds, bacc = sweep_thresholds(scores, positive, groups)
        for g in range(len(thresholds)):
            s, p = scores[groups == g], positive[groups == g]
            if p.all() or not p.any():
                assert np.isnan(thresholds[g])
                continue
            brute = max((np.mean(s[p] >= c) + np.mean(s[~p] < c)) / 2 for c in np.append(s, np.inf))
            got = (np.mean(s[p] >= thresholds[g]) + np.mean(s[~p] < thresholds[g])) / 2
            assert got == pytest.approx(brute) and bacc[g] == pytest.approx(brute)


def test_fit_class_thresholds_skips_one_sided_classes():
    scores = np.array([0.9, 0.1, 0.8, 0.7, 0.3])
    membership = np.array([1, 0, 1, 1, 0])
    classes, thresholds, overall = fit_class_thresholds(scores, membership,
                                                        np.array([0, 0, 1, 1, 2]))
    assert classes.tolist() == [0]                  # classes 1 and 2 are one-sided
    assert 0.1 < thresholds[0] <= 0.9 and 0.3 < overall <= 0.7


def test_score_functions_match_their_formulas():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=20)
    labels = rng.integers(0, 4, 20)
    cols, known = label_columns(np.arange(4), labels)
    np.testing.assert_allclose(-neg_entropy(proba, cols, known), scipy_entropy(proba, axis=1))
    mentr = [-(1 - p[y]) * np.log(p[y]) - sum(p[i] * np.log(1 - p[i]) for i in range(4) if i != y)
             for p, y in zip(proba, labels)]
    np.testing.assert_allclose(-neg_modified_entropy(proba, cols, known), mentr)
    feats = top_k_features(proba, cols, known, 2)
    np.testing.assert_allclose(feats[:, :2], np.sort(proba, axis=1)[:, ::-1][:, :2])
    np.testing.assert_array_equal(feats[:, 2], proba.argmax(1) == labels)
    # Labels are mapped through classes_, whatever their order and type.
    cols, known = label_columns(np.array(["b", "a"]), np.array(["a", "b", "z"]))
    assert cols.tolist()[:2] == [1, 0] and known.tolist() == [True, True, False]


# --- bad input ---------------------------------------------------------------------------
def test_bad_input_is_rejected_with_a_clear_message(overfitted, halves):
    records, m = halves.records, halves.membership
    attack = pl.MembershipInference(overfitted, method="confidence")
    with pytest.raises(TypeError, match="membership_set"):
        attack.fit(records.inputs, m)
    with pytest.raises(ValueError, match=r"`y` \(membership\) must hold 1 for members"):
        attack.fit(records, np.where(m == 1, 2, 0))
    with pytest.raises(ValueError, match="only members"):
        attack.fit(records, np.ones_like(m))
    with pytest.raises(ValueError, match="same length"):
        attack.fit(records, m[:-1])
    with pytest.raises(ValueError, match=r"`X.labels` holds labels \[42\]"):
        attack.fit(pl.Records(records.inputs, np.where(m == 1, records.labels, 42)), m)
    with pytest.raises(NotFittedError, match="`target`"):
        pl.MembershipInference(RandomForestClassifier()).fit(records, m)
    with pytest.raises(TypeError, match="predict_proba"):
        pl.MembershipInference(SVC().fit(halves.X_in, halves.y_in)).fit(records, m)
    with pytest.raises(ValueError, match="'nn', 'correctness'"):
        pl.MembershipInference(overfitted, method="loss").fit(records, m)
    for k in (0, 11, 1.5):
        with pytest.raises(ValueError, match="top_k"):
            pl.MembershipInference(overfitted, top_k=k).fit(records, m)
    fitted = attack.fit(records, m)
    with pytest.raises(TypeError, match="Records"):
        fitted.predict_proba(records.inputs)


def test_bad_parameters_fail_before_the_shadow_is_trained(overfitted, halves):
    CountingForest.fits = 0
    attack = pl.MembershipInference(overfitted, shadow=overfitting_forest(), method="nope")
    with pytest.raises(ValueError, match="method"):
        attack.fit(halves.records, halves.membership)
    assert CountingForest.fits == 0


def test_unfitted_attack_raises(overfitted, halves):
    with pytest.raises(NotFittedError):
        pl.MembershipInference(overfitted).predict(halves.records)


@pytest.mark.slow
def test_paper_protocol_end_to_end_with_a_simclr_pipeline():
    """The paper's four splits, SimCLR + linear-probe target and shadow, both attacks."""
    encoders = pytest.importorskip("privlearn.encoders")
    from sklearn.pipeline import make_pipeline

    data = pl.datasets.load("digits", task="digit")
    parts = pl.datasets.paper_split(data, n_per_part=60, random_state=0)
    recipe = make_pipeline(encoders.SimCLR(max_epochs=1, batch_size=60, random_state=0),
                           LogisticRegression(max_iter=200))
    target = clone(recipe).fit(parts.target_train.images, parts.target_train.target)
    X_shadow, m_shadow = pl.membership_set(parts.shadow_train, parts.shadow_test)
    X_eval, m_eval = pl.membership_set(parts.target_train, parts.target_test)
    before = target.predict_proba(X_eval.inputs)

    attack = pl.MembershipInference(target, shadow=recipe, method="modified_entropy")
    attack.fit(X_shadow, m_shadow)
    assert attack.shadow_ is not recipe
    check_is_fitted(attack.shadow_)
    report = pl.metrics.attack_report(m_eval, attack.predict_proba(X_eval)[:, 1],
                                      predictions=attack.predict(X_eval))
    assert all(0.0 <= value <= 1.0 for value in report.values())

    few = np.r_[0:10, 60:70]                       # 10 members, 10 non-members
    label_only = pl.LabelOnlyMembershipInference(target, shadow=recipe, max_iter=1,
                                                 init_eval=5, random_state=0)
    label_only.fit(X_shadow[few], m_shadow[few])
    distances = label_only.boundary_distance(X_eval[few])
    assert label_only.n_queries_ > 0 and (distances >= 0).all()
    assert distances.max() <= np.sqrt(np.prod(X_eval.inputs.shape[1:]))
    # The target was queried, never refitted.
    np.testing.assert_array_equal(target.predict_proba(X_eval.inputs), before)

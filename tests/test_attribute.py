"""Attribute inference (AttributeInference) and its model-selection scorer.

Digits: the task is parity, the sensitive attribute is the digit itself.  An
embedding that keeps the digit (PCA) must leak it; one that keeps only parity (the
posterior of a parity classifier) must leak little beyond parity.
"""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.ensemble import StackingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (GridSearchCV, StratifiedKFold, cross_val_score,
                                     cross_validate)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from privlearn.attacks.attribute import AttributeInference, attribute_leakage_scorer


def flatten(images):
    """N×C×H×W uint8 images -> N×(C·H·W) floats, for scikit-learn encoders."""
    return images.reshape(len(images), -1).astype(np.float32)


class CountingPCA(PCA):
    """PCA that counts how often it is fitted (to catch refitting of a target)."""

    def fit(self, X, y=None):
        self.fit_calls_ = getattr(self, "fit_calls_", 0) + 1
        return super().fit(X, y)

    def fit_transform(self, X, y=None):
        self.fit_calls_ = getattr(self, "fit_calls_", 0) + 1
        return super().fit_transform(X, y)


class ExplodingClassifier(LogisticRegression):
    """An attack recipe that must never be trained (for the bad-input tests)."""

    def fit(self, X, y):
        raise AssertionError("the attack model was trained despite bad input")


def fast_attack():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


@pytest.fixture(scope="module")
def digit_keeping_target(digits_parts):
    """Parity classifier whose embedding (PCA, 20 components) keeps the digit."""
    part = digits_parts.target_train
    return make_pipeline(FunctionTransformer(flatten), CountingPCA(20, random_state=0),
                         LogisticRegression(max_iter=1000)).fit(part.images, part.target)


@pytest.fixture(scope="module")
def parity_only_target(digits_parts):
    """Parity classifier whose embedding is its own parity posterior, P(odd | x)."""
    part = digits_parts.target_train
    stack = StackingClassifier([("parity", LogisticRegression(max_iter=2000))],
                               final_estimator=LogisticRegression())
    return make_pipeline(FunctionTransformer(flatten), stack).fit(part.images, part.target)


# --------------------------------------------------------------------------- the attack
def test_attack_measures_what_the_embedding_leaks(digits_parts, digit_keeping_target,
                                                  parity_only_target):
    # The paper's protocol: the attacker trains on auxiliary records (shadow_train)
    # and is scored on the target's own training records.
    aux, victims = digits_parts.shadow_train, digits_parts.target_train
    majority = np.bincount(victims.sensitive).max() / len(victims.sensitive)
    leaky = AttributeInference(digit_keeping_target, random_state=0).fit(
        aux.images, aux.sensitive).score(victims.images, victims.sensitive)
    parity = AttributeInference(parity_only_target, random_state=0).fit(
        aux.images, aux.sensitive).score(victims.images, victims.sensitive)
    print(f"majority {majority:.3f}  PCA(20) embedding {leaky:.3f}  "
          f"parity-posterior embedding {parity:.3f}")
    # Seen: majority 0.125, PCA(20) 0.946, parity posterior 0.194.
    assert leaky > majority + 0.6
    # Knowing parity alone narrows ten digits to five: about 0.2, far from PCA.
    assert parity < 0.35
    assert leaky - parity > 0.5


def test_cross_val_score_never_refits_the_target(digits_parts, digit_keeping_target):
    pca = digit_keeping_target[1]
    fits_before, components = pca.fit_calls_, pca.components_
    aux = digits_parts.shadow_train
    attack = AttributeInference(digit_keeping_target, random_state=0)
    scores = cross_val_score(attack, aux.images, aux.sensitive, cv=5)
    assert scores.mean() > 0.85
    assert pca.fit_calls_ == fits_before == 1
    assert pca.components_ is components
    assert clone(attack).target is digit_keeping_target
    assert not hasattr(attack, "attack_model_")


def test_grid_search_over_attack_model_params_keeps_target(digits_parts,
                                                           digit_keeping_target):
    pca = digit_keeping_target[1]
    fits_before = pca.fit_calls_
    recipe = fast_attack()
    aux = digits_parts.shadow_train
    search = GridSearchCV(AttributeInference(digit_keeping_target, attack_model=recipe),
                          {"attack_model__logisticregression__C": [1e-5, 1.0]}, cv=3)
    search.fit(aux.images, aux.sensitive)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"attack_model__logisticregression__C": 1.0}
    assert scores[1] > scores[0] + 0.1
    assert search.best_estimator_.target is digit_keeping_target
    assert pca.fit_calls_ == fits_before
    assert not hasattr(recipe[-1], "classes_")  # the recipe is cloned, never fitted


def test_params_and_clone_follow_the_estimator_contract(digit_keeping_target):
    recipe = fast_attack()
    attack = AttributeInference(digit_keeping_target, attack_model=recipe, random_state=3)
    assert attack.get_params(deep=False) == {
        "target": digit_keeping_target, "attack_model": recipe, "random_state": 3}
    copy = clone(attack)
    assert copy.target is digit_keeping_target and copy.attack_model is not recipe
    copy.set_params(attack_model__logisticregression__C=0.5)
    assert recipe[-1].C == 1.0 and copy.attack_model[-1].C == 0.5


def test_every_kind_of_target_gives_the_same_embedding(digits_parts, digit_keeping_target):
    aux, victims = digits_parts.shadow_train, digits_parts.target_train
    encoder = digit_keeping_target[:-1]            # Pipeline of transformers only
    targets = [digit_keeping_target, FrozenEstimator(digit_keeping_target), encoder,
               FrozenEstimator(encoder)]
    probas = [AttributeInference(t, attack_model=fast_attack())
              .fit(aux.images, aux.sensitive).predict_proba(victims.images)
              for t in targets]
    for proba in probas[1:]:
        np.testing.assert_allclose(proba, probas[0])
    assert probas[0].shape == (len(victims.images), 10)
    np.testing.assert_allclose(probas[0].sum(axis=1), 1.0, rtol=1e-5)


def test_arbitrary_attribute_labels_and_seeding(digits_parts, digit_keeping_target):
    aux, victims = digits_parts.shadow_train, digits_parts.target_train
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine"])
    attack = AttributeInference(digit_keeping_target, random_state=0)
    attack.fit(aux.images, names[aux.sensitive])
    assert attack.classes_.tolist() == sorted(names.tolist())
    predicted = attack.predict(victims.images)
    assert set(predicted) <= set(names)
    assert np.mean(predicted == names[victims.sensitive]) > 0.85
    assert attack.n_embedding_features_ == 20
    again = clone(attack).fit(aux.images, names[aux.sensitive]).predict(victims.images)
    np.testing.assert_array_equal(predicted, again)


# --------------------------------------------------------------------------- bad input
def _bad(target, X, y, error, match):
    attack = AttributeInference(target, attack_model=ExplodingClassifier())
    with pytest.raises(error, match=match):
        attack.fit(X, y)


def test_missing_or_wrong_attribute_is_refused_before_training(digits_parts,
                                                               digit_keeping_target):
    aux = digits_parts.shadow_train
    t = digit_keeping_target
    _bad(t, aux.images, None, ValueError, r"`y` is required")
    _bad(t, aux.images, aux.sensitive[:3], ValueError, rf"3 values but X has {len(aux.images)}")
    _bad(t, aux.images, np.full(len(aux.images), 7), ValueError, r"at least two distinct.*\[7\]")
    _bad(t, aux.images, np.linspace(0, 1, len(aux.images)), ValueError,
         r"`y` must hold class labels.*Unknown label type: continuous")


def test_unusable_targets_are_refused_before_training(digits_parts):
    aux = digits_parts.shadow_train
    X, s = flatten(aux.images), aux.sensitive
    _bad(LogisticRegression().fit(X, aux.target), X, s, TypeError,
         r"`target` must be a fitted model that yields embeddings.*LogisticRegression")
    _bad(None, X, s, TypeError, r"`target`")
    _bad(make_pipeline(PCA(5), LogisticRegression()), X, s, NotFittedError, r"`target`")
    _bad(PCA(5), X, s, NotFittedError, r"`target`")
    _bad(FrozenEstimator(PCA(5)), X, s, NotFittedError, r"`target`")
    broken = FunctionTransformer(lambda Z: np.full((len(Z), 4), np.nan)).fit(X)
    _bad(broken, X, s, ValueError, r"embeddings `target` returned contain NaN")
    with pytest.raises(TypeError, match=r"`attack_model`.*predict"):
        AttributeInference(PCA(5).fit(X), attack_model=StandardScaler()).fit(X, s)


def test_predict_before_fit_is_refused(digit_keeping_target, digits_parts):
    with pytest.raises(NotFittedError):
        AttributeInference(digit_keeping_target).predict(digits_parts.target_train.images)


# --------------------------------------------------------------------------- the scorer
@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


@pytest.fixture(scope="module")
def half_digits(digits_parts):
    parts = [digits_parts.target_train, digits_parts.target_test]
    return (np.concatenate([p.images for p in parts]),
            np.concatenate([p.target for p in parts]),
            np.concatenate([p.sensitive for p in parts]))


def parity_pipeline():
    return make_pipeline(FunctionTransformer(flatten), PCA(random_state=0),
                         LogisticRegression(max_iter=1000))


def test_scorer_selects_by_utility_and_reports_leak_per_fold(routing, half_digits):
    X, y, s = half_digits
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    leak = attribute_leakage_scorer(cv=3, random_state=0)
    search = GridSearchCV(parity_pipeline(), {"pca__n_components": [2, 20]},
                          scoring={"utility": "accuracy", "leak": leak},
                          refit="utility", cv=cv, error_score="raise")
    search.fit(X, y, sensitive_features=s)
    results = search.cv_results_
    attack_accuracy = -results["mean_test_leak"]
    print("n_components [2, 20]: attack accuracy", attack_accuracy,
          "utility", results["mean_test_utility"])
    # Seen: attack 0.63 vs 0.91; utility 0.75 vs 0.89.
    assert np.all((attack_accuracy >= 0) & (attack_accuracy <= 1))
    assert attack_accuracy[1] > attack_accuracy[0] + 0.2
    assert attack_accuracy[1] > 0.8
    assert search.best_params_ == {"pca__n_components": 20}   # refit on utility
    # The fold's own attribute reached the scorer: recompute split 0 by hand.
    train, test = next(cv.split(X, y))
    fitted = parity_pipeline().set_params(pca__n_components=2).fit(X[train], y[train])
    by_hand = leak(fitted, X[test], y[test], sensitive_features=s[test])
    assert by_hand == pytest.approx(results["split0_test_leak"][0])


def test_scorer_request_can_be_renamed(routing, half_digits):
    X, y, s = half_digits
    default = attribute_leakage_scorer(attack_model=fast_attack())
    renamed = attribute_leakage_scorer(attack_model=fast_attack()).set_score_request(
        sensitive_features="digit")
    pipe = parity_pipeline().set_params(pca__n_components=10)
    a = cross_validate(pipe, X, y, cv=3, scoring={"leak": default},
                       params={"sensitive_features": s})["test_leak"]
    b = cross_validate(pipe, X, y, cv=3, scoring={"leak": renamed},
                       params={"digit": s})["test_leak"]
    np.testing.assert_allclose(a, b)
    assert np.all(a < -0.5)


def test_scorer_bad_input(half_digits):
    X, y, s = half_digits
    fitted = parity_pipeline().fit(X, y)
    leak = attribute_leakage_scorer(attack_model=ExplodingClassifier())
    with pytest.raises(ValueError, match=r"sensitive_features.*enable_metadata_routing"):
        leak(fitted, X, y)
    with pytest.raises(ValueError, match=rf"`sensitive_features` has 5 values.*{len(X)}"):
        leak(fitted, X, y, sensitive_features=s[:5])
    with pytest.raises(TypeError, match=r"`estimator`"):
        leak(LogisticRegression().fit(flatten(X), y), flatten(X), y, sensitive_features=s)

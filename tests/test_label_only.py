"""Label-only membership inference (batched HopSkipJump boundary distance)."""

import weakref

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

import privlearn as pl

SMALL = dict(max_iter=2, init_eval=10, random_state=0)     # small, fast budget


class QueryLog(ClassifierMixin, BaseEstimator):
    """A fitted classifier's ``predict`` that logs every call (for tests).

    Accepts ``uint8`` images (scaled by 1/255) and float inputs in the model's units,
    like privlearn's image estimators; flattens images for a tabular model.
    """

    # The log lives outside the object: queries do not change the model's
    # state, so the attack's cache (keyed on that state) stays valid.
    _logs = weakref.WeakKeyDictionary()

    def __init__(self, model):
        self.model = model

    @property
    def log_(self):
        return self._logs.setdefault(self, [])

    def fit(self, X, y):
        raise AssertionError("the target under attack must not be refitted")

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return self.model.classes_

    def predict(self, X):
        X = np.asarray(X)
        self.log_.append((X.shape, X.dtype, float(X.min()), float(X.max())))
        flat = X.reshape(len(X), -1)
        if X.dtype == np.uint8:
            flat = flat / 255.0
        return self.model.predict(flat)


@pytest.fixture(scope="module")
def digits10():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="module")
def small_halves(digits10):
    X, y = digits10
    X_in, X_out, y_in, y_out = train_test_split(X, y, train_size=100, test_size=100,
                                                stratify=y, random_state=0)
    records, membership = pl.membership_set((X_in, y_in), (X_out, y_out))
    return Bunch(X_in=X_in, y_in=y_in, X_out=X_out, y_out=y_out, records=records,
                 membership=membership)


def forest():
    return RandomForestClassifier(n_estimators=10, max_features=1, random_state=0)


@pytest.fixture(scope="module")
def overfitted(small_halves):
    return forest().fit(small_halves.X_in, small_halves.y_in)


# --- the leak is found where there is one, and only there ----------------------------
def test_audit_mode_detects_overfitted_target(overfitted, small_halves):
    attack = pl.LabelOnlyMembershipInference(overfitted, **SMALL)
    auc = cross_val_score(attack, small_halves.records, small_halves.membership, cv=3,
                          scoring="roc_auc")
    acc = cross_val_score(attack, small_halves.records, small_halves.membership, cv=3)
    assert auc.mean() > 0.65 and acc.mean() > 0.6, (auc, acc)


def test_distance_separates_members_beyond_correctness(small_halves):
    # A 1-nearest-neighbour target classifies almost every unseen digit correctly,
    # so correctness barely leaks; but each member sits exactly on a training point,
    # far from the boundary, and the distance exposes it.
    # (kd-tree: brute-force neighbours use OpenMP, slow on a loaded 2-core machine)
    target = KNeighborsClassifier(1, algorithm="kd_tree").fit(small_halves.X_in,
                                                              small_halves.y_in)
    attack = pl.LabelOnlyMembershipInference(target, **SMALL)
    attack.fit(small_halves.records, small_halves.membership)
    distance = attack.boundary_distance(small_halves.records)
    correct = target.predict(small_halves.records.inputs) == small_halves.records.labels
    np.testing.assert_array_equal(distance[~correct], 0.0)      # misclassified: 0
    assert (distance[correct] > 0).all()
    m = small_halves.membership
    assert roc_auc_score(m, correct) < 0.56
    assert roc_auc_score(m[correct], distance[correct]) > 0.7
    assert cross_val_score(attack, small_halves.records, m, cv=3).mean() > 0.65


def test_shadow_protocol(digits10):
    X, y = digits10
    parts = pl.datasets.paper_split(Bunch(images=X, target=y), n_per_part=80, random_state=0)
    target = forest().fit(parts.target_train.images, parts.target_train.target)
    recipe = forest()
    X_shadow, m_shadow = pl.membership_set(parts.shadow_train, parts.shadow_test)
    X_eval, m_eval = pl.membership_set(parts.target_train, parts.target_test)
    attack = pl.LabelOnlyMembershipInference(target, shadow=recipe, **SMALL)
    attack.fit(X_shadow, m_shadow)
    assert attack.shadow_ is not recipe
    with pytest.raises(NotFittedError):
        check_is_fitted(recipe)
    # tau was calibrated on the shadow's distances ...
    shadow_attack = pl.LabelOnlyMembershipInference(attack.shadow_, **SMALL).fit(X_shadow, m_shadow)
    assert attack.threshold_ == shadow_attack.threshold_
    # ... and transfers to the target.
    assert attack.score(X_eval, m_eval) > 0.6
    assert roc_auc_score(m_eval, attack.predict_proba(X_eval)[:, 1]) > 0.65


@pytest.mark.parametrize("kind", ["ignores_input", "regularised"])
def test_no_leak_when_train_and_test_accuracy_agree(digits10, kind):
    X, y = digits10
    X_in, X_out, y_in, y_out = train_test_split(X, y, train_size=150, test_size=150,
                                                stratify=y, random_state=1)
    if kind == "ignores_input":
        target = DummyClassifier(strategy="prior").fit(X_in, y_in)
    else:
        target = LogisticRegression(C=2e-3, max_iter=500).fit(X_in, y_in)
    records, membership = pl.membership_set((X_in, y_in), (X_out, y_out))
    attack = pl.LabelOnlyMembershipInference(target, **SMALL)
    auc = cross_val_score(attack, records, membership, cv=3, scoring="roc_auc")
    assert abs(auc.mean() - 0.5) < 0.1, auc


# --- HopSkipJump itself ------------------------------------------------------------------
def test_distances_match_a_linear_boundary():
    # For a linear classifier the exact distance is |w·x + b| / ||w||; HopSkipJump
    # returns an upper bound that should be close to it.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 20))
    y = (X @ rng.normal(size=20) > 0).astype(int)
    model = LogisticRegression(C=100).fit(X, y)
    exact = np.abs(model.decision_function(X[:40])) / np.linalg.norm(model.coef_)
    records, m = pl.membership_set((X[:20], y[:20]), (X[20:40], y[20:40]))
    attack = pl.LabelOnlyMembershipInference(model, max_iter=8, init_eval=40,
                                             max_queries=5000, clip_values=(-20, 20),
                                             random_state=0).fit(records, m)
    found = attack.boundary_distance(records)
    correct = model.predict(X[:40]) == y[:40]
    assert (found[correct] >= exact[correct] * (1 - 1e-3)).all()
    np.testing.assert_allclose(found[correct], exact[correct], rtol=0.15)


def test_queries_are_batched_and_within_budget(overfitted, small_halves):
    budgets = {}
    for n in (30, 120):
        log = QueryLog(overfitted)
        idx = np.random.default_rng(0).permutation(len(small_halves.records))[:n]
        records = small_halves.records[idx]
        attack = pl.LabelOnlyMembershipInference(log, max_iter=3, init_eval=10,
                                                 max_queries=60, batch_size=128,
                                                 random_state=0)
        attack.fit(records, small_halves.membership[idx])
        rows = sum(shape[0] for shape, *_ in log.log_)
        assert rows == attack.n_queries_ <= 60 * n
        budgets[n] = len(log.log_)
    # One batch costs a bounded number of predict calls, whatever its size: one
    # for all records, then per iteration one for the gradient probes, at most 10
    # step halvings and 10 bisection steps (d = 64), plus the first bisection.
    bound = 1 + 10 + 3 * (1 + 10 + 10)
    assert budgets[30] <= bound and budgets[120] <= bound < 120


def test_more_budget_more_queries_closer_boundary(overfitted, small_halves):
    r, m = small_halves.records, small_halves.membership
    small = pl.LabelOnlyMembershipInference(overfitted, max_iter=1, init_eval=5,
                                            random_state=0).fit(r, m)
    large = pl.LabelOnlyMembershipInference(overfitted, max_iter=4, init_eval=20,
                                            random_state=0).fit(r, m)
    assert large.n_queries_ > 2 * small.n_queries_
    d_small, d_large = small.boundary_distance(r), large.boundary_distance(r)
    assert d_large.mean() < d_small.mean()


def test_uint8_images_are_attacked_as_float_in_unit_range(digits):
    images, labels = digits.images[:120], digits.sensitive[:120]      # N×1×8×8 uint8
    model = forest().fit(images[:60].reshape(60, -1) / 255.0, labels[:60])
    log = QueryLog(model)
    records, m = pl.membership_set((images[:60], labels[:60]), (images[60:], labels[60:]))
    attack = pl.LabelOnlyMembershipInference(log, **SMALL).fit(records, m)
    assert attack.clip_values_ == (0.0, 1.0)
    shapes = {shape[1:] for shape, *_ in log.log_}
    assert shapes == {(1, 8, 8)}                             # the inputs' own shape
    assert all(dtype == np.float32 and lo >= 0 and hi <= 1 for _, dtype, lo, hi in log.log_)
    assert attack.boundary_distance(records).max() <= 8.0     # diameter of [0, 1]^64
    assert attack.score(records, m) > 0.6


def test_float_inputs_are_clipped_to_the_fitted_range(small_halves):
    scaled = StandardScaler().fit_transform(small_halves.records.inputs)
    records = pl.Records(scaled, small_halves.records.labels)
    model = forest().fit(scaled[:100], records.labels[:100])
    log = QueryLog(model)
    attack = pl.LabelOnlyMembershipInference(log, **SMALL).fit(records, small_halves.membership)
    assert attack.clip_values_ == (scaled.min(), scaled.max())
    assert min(lo for *_, lo, _ in log.log_) >= scaled.min()
    assert max(hi for *_, hi in log.log_) <= scaled.max()
    explicit = pl.LabelOnlyMembershipInference(model, clip_values=(-1, 1), **SMALL)
    assert explicit.fit(records, small_halves.membership).clip_values_ == (-1.0, 1.0)


def test_reproducible_and_predictions_reuse_distances(overfitted, small_halves):
    r, m = small_halves.records, small_halves.membership
    log = QueryLog(overfitted)
    attack = pl.LabelOnlyMembershipInference(log, **SMALL).fit(r, m)
    proba = attack.predict_proba(r)
    calls = len(log.log_)
    np.testing.assert_array_equal(attack.predict(r), attack.decision_function(r) >= 0)
    assert len(log.log_) == calls                     # same records: no new queries
    other = pl.LabelOnlyMembershipInference(overfitted, **SMALL).fit(r, m)
    np.testing.assert_array_equal(other.predict_proba(r), proba)
    order = np.random.default_rng(0).permutation(len(r))
    assert roc_auc_score(m[order], attack.predict_proba(r[order])[:, 1]) == pytest.approx(
        roc_auc_score(m, proba[:, 1]), abs=0.05)


def test_clone_keeps_the_fitted_target(overfitted, small_halves):
    attack = pl.LabelOnlyMembershipInference(FrozenEstimator(overfitted), shadow=forest(),
                                             **SMALL)
    copy = clone(attack)
    assert copy.target is attack.target and copy.shadow is not attack.shadow
    check_is_fitted(overfitted)


def test_bad_input(overfitted, small_halves):
    r, m = small_halves.records, small_halves.membership
    with pytest.raises(TypeError, match="membership_set"):
        pl.LabelOnlyMembershipInference(overfitted).fit(r.inputs, m)
    with pytest.raises(TypeError, match="predict"):
        pl.LabelOnlyMembershipInference(StandardScaler().fit(r.inputs)).fit(r, m)
    with pytest.raises(NotFittedError, match="target"):
        pl.LabelOnlyMembershipInference(forest()).fit(r, m)
    for name, value in (("max_iter", -1), ("max_queries", 0), ("init_eval", 0),
                        ("batch_size", 2.5)):
        with pytest.raises(ValueError, match=name):
            pl.LabelOnlyMembershipInference(overfitted, **{name: value}).fit(r, m)
    for bad in ((1, 0), "x", (0, 1, 2)):
        with pytest.raises(ValueError, match="clip_values"):
            pl.LabelOnlyMembershipInference(overfitted, clip_values=bad).fit(r, m)
    with pytest.raises(ValueError, match="only non-members"):
        pl.LabelOnlyMembershipInference(overfitted).fit(r, np.zeros_like(m))
    with pytest.raises(ValueError, match="X.labels"):
        pl.LabelOnlyMembershipInference(overfitted).fit(pl.Records(r.inputs, r.labels + 10), m)


def test_random_noise_start_when_no_record_is_labelled_differently():
    # Every record lies on the class-0 side of x = 0.5: the search must start from
    # noise, and finds the exact distances 0.5 - x.
    x = np.array([[0.1], [0.2], [0.3], [0.35]])
    model = LogisticRegression(C=1e4).fit(np.array([[0.0], [0.45], [0.55], [1.0]]), [0, 0, 1, 1])
    records, m = pl.membership_set((x[:2], [0, 0]), (x[2:], [0, 0]))
    attack = pl.LabelOnlyMembershipInference(model, max_iter=1, init_eval=20,
                                             clip_values=(0, 1), random_state=0)
    np.testing.assert_allclose(attack.fit(records, m).boundary_distance(records),
                               0.5 - x[:, 0], atol=2e-3)
    # A model with a single answer has no boundary: distance = the box diameter.
    constant = DummyClassifier().fit(x, [0, 0, 0, 0])
    far = pl.LabelOnlyMembershipInference(constant, max_iter=1, init_eval=5,
                                          clip_values=(0, 1), random_state=0)
    np.testing.assert_array_equal(far.fit(records, m).boundary_distance(records), 1.0)

"""What the LiRA and RMIA tests share: the overfitting tabular set-up, the best metric
attack to beat, and sklearn-check adapters.

sklearn's checks hand plain arrays to ``fit``/``predict``; the reference attacks take
:class:`privlearn.Records`. The adapters turn check data into records whose labels are a
fixed function of each row, and a stand-in target answers for data of any width.
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.utils.validation import check_array, check_is_fitted

import privlearn as pl
from privlearn.attacks import RMIA, LiRA, ReferenceModels
from privlearn.attacks._features import METRIC_SCORES, label_columns
from privlearn.metrics import tpr_at_fpr

N_POOL = 1000
RECIPE = MLPClassifier((64,), max_iter=200, random_state=0)


def overfit_setup(n_models, random_state):
    """An MLP target on a random half of a 1,000-record digits pool, and ``n_models``
    reference models on the pool: (pool, membership, target, reference)."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))[:N_POOL]
    X, y = X[idx] / 16.0, y[idx]
    member = np.zeros(N_POOL, dtype=int)
    member[rng.permutation(N_POOL)[:N_POOL // 2]] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        target = clone(RECIPE).fit(X[member == 1], y[member == 1])
        pool = pl.Records(X, y)
        reference = ReferenceModels(RECIPE, n_models=n_models, random_state=random_state,
                                    n_jobs=1).fit(pool)
    return pool, member, target, reference


def best_metric_tpr(target, pool, member, fpr):
    """Best global-threshold metric attack (confidence, entropy, modified entropy)."""
    proba = target.predict_proba(pool.inputs)
    columns, known = label_columns(target.classes_, pool.labels)
    return max(tpr_at_fpr(member, METRIC_SCORES[m](proba, columns, known), fpr)
               for m in ("confidence", "entropy", "modified_entropy"))


class AnyWidthTarget(ClassifierMixin, BaseEstimator):
    """A fitted stand-in target for check data of any width (softmax of fixed linear
    functions of the row)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        X = check_array(X)
        weights = np.cos(np.arange(len(self.classes_))[:, None]
                         * (1.0 + np.arange(X.shape[1]))[None, :])
        logits = X @ weights.T
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)


def stand_in_target():
    return AnyWidthTarget().fit(np.zeros((3, 1)), [0, 1, 2])


def records_for_checks(X):
    """Check data as Records whose labels are a fixed function of each row."""
    if isinstance(X, pl.Records):
        return X
    try:
        values = np.nan_to_num(np.asarray(X, dtype=np.float64), posinf=0.0, neginf=0.0)
        labels = (np.floor(values.reshape(len(values), -1).sum(axis=1) * 3.7)
                  .astype(np.int64) % 3)
    except (TypeError, ValueError):
        labels = np.zeros(X.shape[0] if hasattr(X, "shape") else len(X), dtype=np.int64)
    return pl.Records(X, labels)


class _RecordsFromCheckData:
    """Mixin: every method that takes X receives it as Records."""

    def fit(self, X, y=None):
        return super().fit(records_for_checks(X), y)

    def decision_function(self, X):
        return super().decision_function(records_for_checks(X))

    def predict_proba(self, X):
        return super().predict_proba(records_for_checks(X))

    def predict(self, X):
        return super().predict(records_for_checks(X))

    def score(self, X, y, sample_weight=None):
        return super().score(records_for_checks(X), y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        return tags


class LiRAOnChecks(_RecordsFromCheckData, LiRA):
    pass


class RMIAOnChecks(_RecordsFromCheckData, RMIA):
    def score_samples(self, X):
        return super().score_samples(records_for_checks(X))


Y_IGNORED = ("fit(X, y=None) ignores y (the attacker's pool needs no membership), so "
             "checks that expect y to be validated or learned do not apply")
MEMBERSHIP_IS_0_1 = ("predictions are membership (1 member, 0 non-member), not the "
                     "check's class labels")
#: Expected failures of sklearn's checks on both reference attacks, with reasons.
EXPECTED = {
    "check_classifiers_classes": MEMBERSHIP_IS_0_1,
    "check_classifiers_train": MEMBERSHIP_IS_0_1,
    "check_classifiers_regression_target": Y_IGNORED,
    "check_classifiers_one_label": Y_IGNORED,
    "check_supervised_y_2d": Y_IGNORED,
    "check_supervised_y_no_nan": Y_IGNORED,
    "check_fit_score_takes_y": ("score(X, y) is the accuracy against membership, so y "
                                "must be 0/1 there (fit ignores it)"),
}

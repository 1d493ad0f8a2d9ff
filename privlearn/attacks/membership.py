"""Posterior-based membership inference: the NN attack and Song & Mittal's metrics."""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import logit
from sklearn.base import clone
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from .._target import checked_predict_proba
from ._base import MembershipAttack, scale_of
from ._features import METRIC_SCORES, label_columns, top_k_features
from ._thresholds import apply_class_thresholds, fit_class_thresholds

__all__ = ["MembershipInference", "METHODS"]

#: Valid values of ``MembershipInference(method=...)``.
METHODS = ("nn", "correctness", "confidence", "entropy", "modified_entropy")


class MembershipInference(MembershipAttack):
    """Membership inference from a fitted classifier's posteriors.

    A binary classifier of records: ``X`` is :class:`privlearn.Records` (inputs
    with their true class labels, from :func:`privlearn.membership_set`), ``y`` is
    1 for members of the training set and 0 for non-members.  It attacks any
    fitted scikit-learn-compatible classifier with ``predict_proba`` and
    ``classes_`` (images or tabular data alike).

    Parameters
    ----------
    target : fitted classifier
        The model under attack.  It is kept by reference by :func:`~sklearn.base.clone`
        (so ``cross_val_score`` and ``GridSearchCV`` never refit or unfit it);
        :class:`sklearn.frozen.FrozenEstimator` wrappers are accepted.
    method : {"nn", "correctness", "confidence", "entropy", "modified_entropy"}, \
default="nn"
        ``"nn"``: an attack model on the ``top_k`` largest posteriors (sorted) and
        the correctness bit.  The others are Song & Mittal (2021)'s metric attacks:
        ``"correctness"`` calls correctly classified records members; the rest
        threshold the true class's posterior ``p_y``, minus the entropy, or minus
        the modified entropy, with one threshold per class maximising balanced
        accuracy on the fitting records.
    shadow : unfitted classifier or None, default=None
        ``None``: audit mode, ``fit`` queries the target.  An estimator: the
        shadow-model protocol, ``fit`` trains a clone of it on the records whose
        membership is 1 and learns the attack from the clone's posteriors; the
        target is queried only at prediction time.
    top_k : int, default=2
        Number of largest posteriors the ``"nn"`` attack reads.
    attack_model : classifier or None, default=None
        Recipe for the ``"nn"`` attack model (cloned at fit).  ``None``: a
        standardising MLP with one hidden layer of 64 units.
    random_state : int, RandomState instance or None, default=None
        Seeds the default attack model.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]``: non-member, member.
    shadow_ : estimator or None
        The fitted shadow model (None in audit mode).
    attack_model_ : estimator
        The fitted attack model (``"nn"`` only).
    threshold_classes_ : ndarray
        Class labels with their own threshold (metric attacks).
    thresholds_ : ndarray
        Their thresholds on the method's score (higher score: member).
    global_threshold_ : float
        Threshold for every other class (also classes unseen at fit).
    decision_scale_ : float
        Spread of the fitting scores; ``predict_proba`` is the logistic function
        of ``decision_function / decision_scale_``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> import privlearn as pl
    >>> X, y = load_digits(return_X_y=True)
    >>> target = RandomForestClassifier(10, random_state=0).fit(X[:300], y[:300])
    >>> records, membership = pl.membership_set((X[:300], y[:300]), (X[300:600], y[300:600]))
    >>> attack = pl.MembershipInference(target, method="confidence").fit(records, membership)
    >>> bool(attack.score(records, membership) > 0.6)
    True
    """

    def __init__(self, target, method="nn", shadow=None, top_k=2, attack_model=None,
                 random_state=None):
        self.target = target
        self.method = method
        self.shadow = shadow
        self.top_k = top_k
        self.attack_model = attack_model
        self.random_state = random_state

    # --- checks ---------------------------------------------------------------
    def _check_params(self, target):
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {', '.join(map(repr, METHODS))}; "
                             f"got {self.method!r}")
        if getattr(target, "classes_", None) is None:
            raise TypeError("`target` must expose classes_ (the column order of "
                            f"predict_proba); {type(target).__name__} does not")
        if self.method == "nn":
            self._check_top_k(len(target.classes_), "target")
            model = self.attack_model
            if model is not None and not (callable(getattr(model, "fit", None))
                                          and callable(getattr(model, "predict_proba", None))):
                raise TypeError("`attack_model` must be a classifier with fit() and "
                                f"predict_proba(), got {type(model).__name__}")

    def _check_top_k(self, n_classes, whose):
        k = self.top_k
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= k <= n_classes:
            raise ValueError(f"`top_k` must be an integer between 1 and the {whose}'s "
                             f"number of classes ({n_classes}), got {k!r}")

    # --- posteriors ------------------------------------------------------------
    @staticmethod
    def _posteriors(model, X, whose):
        proba = checked_predict_proba(model, X.inputs, len(X), whose=whose)
        columns, known = label_columns(model.classes_, X.labels)
        return proba, columns, known

    def _scores(self, proba, columns, known):
        if self.method == "nn":
            return top_k_features(proba, columns, known, self.top_k)
        return METRIC_SCORES[self.method](proba, columns, known)

    # --- fitting ----------------------------------------------------------------
    def _fit_attack(self, model, X, y):
        whose = "target" if self.shadow_ is None else "shadow"
        if self.method == "nn" and self.shadow_ is not None:
            self._check_top_k(len(model.classes_), "shadow")
        scores = self._scores(*self._posteriors(model, X, whose))
        if self.method == "nn":
            recipe = self.attack_model
            if recipe is None:
                seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
                recipe = make_pipeline(StandardScaler(), MLPClassifier(
                    hidden_layer_sizes=(64,), max_iter=500, random_state=seed))
            self.attack_model_ = clone(recipe).fit(scores, y)
            self.decision_scale_ = 1.0
            return
        if self.method == "correctness":
            # Song & Mittal's correctness attack has no threshold to learn: a
            # record is a member iff the model classifies it correctly.  Its
            # balanced accuracy is (train accuracy + 1 - test accuracy) / 2.
            self.threshold_classes_ = np.array([], dtype=np.asarray(X.labels).dtype)
            self.thresholds_ = np.array([], dtype=np.float64)
            self.global_threshold_ = 0.5
        else:
            (self.threshold_classes_, self.thresholds_,
             self.global_threshold_) = fit_class_thresholds(scores, y, X.labels)
        self.decision_scale_ = scale_of(scores)

    # --- prediction -------------------------------------------------------------
    def _decision(self, X):
        scores = self._scores(*self._posteriors(self.target, X, "target"))
        if self.method == "nn":
            model = self.attack_model_
            if callable(getattr(model, "decision_function", None)):
                return np.asarray(model.decision_function(scores), dtype=np.float64)
            p = self._attack_proba(scores)
            return logit(np.clip(p, 1e-15, 1 - 1e-15))
        return scores - apply_class_thresholds(X.labels, self.threshold_classes_,
                                               self.thresholds_, self.global_threshold_)

    def _attack_proba(self, features):
        model = self.attack_model_
        column = int(np.flatnonzero(np.asarray(model.classes_) == 1)[0])
        return np.asarray(model.predict_proba(features), dtype=np.float64)[:, column]

    def predict_proba(self, X):
        """Membership probability of each record on the target.

        For ``"nn"`` these are the attack model's probabilities; for the metric
        attacks a logistic map of :meth:`decision_function`.

        Parameters
        ----------
        X : Records
            Records to attack.

        Returns
        -------
        proba : ndarray of shape (n_records, 2)
            Columns: non-member, member.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> import privlearn as pl
        >>> X, y = load_digits(return_X_y=True)
        >>> target = DecisionTreeClassifier(random_state=0).fit(X[:200], y[:200])
        >>> records, m = pl.membership_set((X[:200], y[:200]), (X[200:400], y[200:400]))
        >>> attack = pl.MembershipInference(target, method="entropy").fit(records, m)
        >>> attack.predict_proba(records).shape
        (400, 2)
        """
        if self.method != "nn":
            return super().predict_proba(X)
        X = self._checked_records(X)
        p = self._attack_proba(self._scores(*self._posteriors(self.target, X, "target")))
        return np.column_stack([1.0 - p, p])

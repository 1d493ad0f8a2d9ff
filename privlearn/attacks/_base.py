"""What every membership attack shares: input checks, the two threat models, and
the mapping from a continuous membership score to sklearn's classifier methods.

An attack is a binary classifier of *records* (:class:`privlearn.Records`):
``y`` is 1 for members of the target's training set and 0 for non-members.

* ``shadow=None`` (audit mode): ``fit`` queries the target itself on records whose
  membership the model owner knows; cross-validating the attack gives an honest,
  held-out estimate of the leak.
* ``shadow=<unfitted estimator>`` (the shadow-model protocol): ``fit`` trains a
  clone of ``shadow`` on the records whose membership is 1, learns the attack from
  the shadow's answers on all records, and only then are the target's answers used,
  by ``predict``, ``predict_proba``, ``decision_function`` and ``score``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _num_samples, check_is_fitted, column_or_1d

from .._target import (KeepsTargetOnClone, check_target, check_target_unchanged,
                       remember_target)
from ..records import Records, as_array, check_class_labels, missing_mask
from ._features import label_columns

__all__ = ["MembershipAttack", "check_records", "check_finite_inputs", "check_membership"]


def check_records(X, *, argument="X"):
    """Return ``X`` if it is :class:`~privlearn.Records`, else raise a TypeError.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn import Records
    >>> from privlearn.attacks._base import check_records
    >>> len(check_records(Records(np.zeros((2, 3)), [0, 1])))
    2
    """
    if not isinstance(X, Records):
        raise TypeError(
            f"`{argument}` must be privlearn.Records (inputs together with their true "
            f"class labels), got {type(X).__name__}. Build them with "
            "privlearn.membership_set(members, non_members) or "
            "privlearn.Records(inputs, labels).")
    if len(X) == 0:
        raise ValueError(f"`{argument}` holds no records")
    check_class_labels(X.labels, argument=f"{argument}.labels", owner="the attack")
    shape = tuple(np.shape(X.inputs))
    if len(shape) >= 2 and np.prod(shape[1:]) == 0:
        raise ValueError(f"`{argument}.inputs` have 0 feature(s) (shape={shape}) while a "
                         "minimum of 1 is required.")
    return X


def check_finite_inputs(X, *, argument="X"):
    """Raise a ValueError naming ``argument.inputs`` where numeric inputs hold NaN or ±inf.

    Non-numeric inputs (objects, strings) pass: the models that read them decide.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn import Records
    >>> from privlearn.attacks._base import check_finite_inputs
    >>> check_finite_inputs(Records(np.array([[0.0], [np.nan]]), [0, 1]))
    Traceback (most recent call last):
    ...
    ValueError: `X.inputs` hold NaN or infinite values (record(s) [1]); drop or impute them first
    """
    inputs = np.asarray(X.inputs)
    if inputs.dtype.kind in "fc" and inputs.ndim >= 1:
        bad = np.flatnonzero(~np.isfinite(inputs.reshape(len(inputs), -1)).all(axis=1))
        if len(bad):
            raise ValueError(f"`{argument}.inputs` hold NaN or infinite values (record(s) "
                             f"{bad[:5].tolist()}{' ...' if len(bad) > 5 else ''}); drop or "
                             "impute them first")
    return X


def check_membership(y, n_records, *, argument="y", require_both=True):
    """Membership labels as an int array of 0/1, holding both values.

    The one membership check of every attack, used by ``fit`` and by ``score``
    alike (``score`` passes ``require_both=False``: a test set of members only
    is valid there).  Missing values (NaN, None, pandas NA) and values other
    than 0/1 (or booleans) are refused.

    Examples
    --------
    >>> from privlearn.attacks._base import check_membership
    >>> check_membership([True, False, True], 3).tolist()
    [1, 0, 1]
    """
    if y is None:
        raise ValueError(f"the attack requires y to be passed, but the target y is None: "
                         f"`{argument}` (membership: 1 member, 0 non-member) is required")
    y = as_array(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)   # sklearn's DataConversionWarning
    if y.ndim != 1:
        raise ValueError(f"`{argument}` (membership) must be 1-D, got shape {y.shape}")
    if len(y) != n_records:
        raise ValueError(
            f"`X` holds {n_records} records but `{argument}` (membership) holds "
            f"{len(y)} labels; they must have the same length")
    if y.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: `{argument}` (membership) must hold "
                         "1 for members and 0 for non-members")
    missing = missing_mask(y)
    if missing.any():
        raise ValueError(
            f"`{argument}` (membership) contains {int(missing.sum())} missing value(s) "
            "(NaN, None or pandas NA); it must hold 1 for members and 0 for non-members")
    try:
        values = np.unique(y)
        valid = y.dtype.kind in "biufO" and np.isin(values, [0, 1]).all()
    except TypeError:                    # a mix of types that cannot be compared
        values, valid = np.unique(y.astype(str)), False
    if not valid:
        try:
            kind = type_of_target(y)
        except (ValueError, TypeError):
            kind = "mixed"
        binary_only = ("Only binary classification is supported. "
                       if kind.startswith("multiclass") else "")
        raise ValueError(
            f"{binary_only}`{argument}` (membership) must hold 1 for members and 0 for "
            f"non-members, got {kind} values {values[:10].tolist()}")
    if require_both and len(values) < 2:
        which = "members" if values[0] == 1 else "non-members"
        raise ValueError(
            f"`{argument}` (membership) holds only {which} (one class); the attack "
            "needs both members (1) and non-members (0) to fit")
    return y.astype(np.int64)


def check_labels_in_classes(model, labels, *, argument="X.labels", model_name="target"):
    """Raise a ValueError if a label is not one of ``model.classes_`` (when known).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from privlearn.attacks._base import check_labels_in_classes
    >>> clf = DummyClassifier().fit(np.zeros((2, 1)), [0, 1])
    >>> check_labels_in_classes(clf, [1, 0, 1])
    """
    classes = getattr(model, "classes_", None)
    if classes is None:
        return
    _, known = label_columns(classes, labels)
    if not known.all():
        unknown = np.unique(np.asarray(labels)[~known])
        raise ValueError(
            f"`{argument}` holds labels {unknown[:10].tolist()} that are not among the "
            f"{model_name}'s classes {np.asarray(classes)[:20].tolist()}")


class MembershipAttack(KeepsTargetOnClone, ClassifierMixin, BaseEstimator):
    """Base class: a membership classifier over records, ``classes_ = [0, 1]``.

    Subclasses implement ``_check_params(target)``, ``_fit_attack(model, X, y)``
    (``model`` is the target in audit mode, the fitted shadow otherwise) and
    ``_decision(X)`` (a continuous score on the target, member when ``> 0``); they
    set ``decision_scale_`` in ``_fit_attack``.

    In audit mode the attack's fitted state is learned from the target's answers,
    so ``fit`` records a digest of the target (:func:`privlearn._target.model_state`)
    and every prediction method raises :class:`privlearn._target.StaleTargetError`
    (a ``ValueError``) once the target has been refitted or replaced: its scores
    would be silently calibrated on another model.  Refit the attack.
    """

    #: Methods the target (and the shadow) must offer.
    _target_methods = ("predict_proba",)

    def fit(self, X, y):
        """Fit the attack on records and their membership.

        Parameters
        ----------
        X : Records
            Inputs with their true class labels (see
            :func:`privlearn.membership_set`).
        y : array-like of shape (n_records,)
            1 for members, 0 for non-members (of the target in audit mode, of
            the shadow model in the shadow protocol).

        Returns
        -------
        self : object
            The fitted attack.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> import privlearn as pl
        >>> X, y = load_digits(return_X_y=True)
        >>> target = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
        >>> records, m = pl.membership_set((X[:100], y[:100]), (X[100:200], y[100:200]))
        >>> attack = pl.MembershipInference(target, method="confidence").fit(records, m)
        >>> attack.classes_.tolist()
        [0, 1]
        """
        X = check_records(X)
        y = check_membership(y, len(X))
        target = check_target(self.target, needs=self._target_methods)
        if hasattr(self, "random_state"):
            try:
                check_random_state(self.random_state)
            except ValueError:
                raise ValueError("`random_state` must be None, an integer or a "
                                 f"numpy RandomState, got {self.random_state!r}") from None
        self._check_params(target)
        check_labels_in_classes(target, X.labels)
        if self.shadow is None:
            self.shadow_ = None
            model = target
        else:
            for method in ("fit",) + self._target_methods:
                if not callable(getattr(self.shadow, method, None)):
                    raise TypeError(
                        f"`shadow` must be an estimator with {method}(), got "
                        f"{type(self.shadow).__name__}")
            members = y == 1
            self.shadow_ = clone(self.shadow).fit(X.inputs[members], X.labels[members])
            model = self.shadow_
        self._fit_attack(model, X, y)
        # Audit mode learns from the target's answers: refuse a later refit of it.
        remember_target(self, target if self.shadow is None else None)
        self.classes_ = np.array([0, 1])
        if np.ndim(X.inputs) == 2:            # tabular records: sklearn's n_features_in_
            self.n_features_in_ = X.inputs.shape[1]
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        return self

    def _checked_records(self, X, *, check_stale=True):
        check_is_fitted(self, "classes_")
        X = check_records(X)
        self._check_n_features(X.inputs)
        check_labels_in_classes(self.target, X.labels)
        # The one stale-target check of every membership attack (decision_function,
        # predict, predict_proba, score and the subclasses' own scoring methods
        # come through here): see privlearn._target.StaleTargetError.
        if check_stale:
            check_target_unchanged(self, self.target)
        return X

    def _check_n_features(self, inputs):
        n_features = getattr(self, "n_features_in_", None)
        if n_features is not None and (np.ndim(inputs) != 2
                                       or inputs.shape[1] != n_features):
            got = (f"X has {inputs.shape[1]} features" if np.ndim(inputs) == 2
                   else f"X.inputs have shape {tuple(np.shape(inputs))} (Reshape your "
                   "data to one row of features per record)")
            raise ValueError(f"{got}, but {type(self).__name__} is expecting "
                             f"{n_features} features as input (the records it was fitted on).")

    def decision_function(self, X):
        """Continuous membership score of each record on the target.

        Positive means "member"; higher means more likely a member, so it can be
        used directly for ROC AUC.

        Parameters
        ----------
        X : Records
            Records to attack.

        Returns
        -------
        scores : ndarray of shape (n_records,)
            In the order of ``X``.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> import privlearn as pl
        >>> X, y = load_digits(return_X_y=True)
        >>> target = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
        >>> records, m = pl.membership_set((X[:100], y[:100]), (X[100:200], y[100:200]))
        >>> attack = pl.MembershipInference(target, method="entropy").fit(records, m)
        >>> attack.decision_function(records[:3]).shape
        (3,)
        """
        return self._decision(self._checked_records(X))

    def predict_proba(self, X):
        """Membership probability of each record on the target.

        A monotone (logistic) map of :meth:`decision_function`, so both rank the
        records the same way.

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
        >>> target = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
        >>> records, m = pl.membership_set((X[:100], y[:100]), (X[100:200], y[100:200]))
        >>> attack = pl.MembershipInference(target, method="entropy").fit(records, m)
        >>> attack.predict_proba(records[:2]).sum(axis=1).tolist()
        [1.0, 1.0]
        """
        decision = self.decision_function(X)
        p = expit(decision / self.decision_scale_)
        # Rounding can put a tiny positive decision at exactly 0.5; keep the
        # probabilities on the side of predict (member iff decision > 0).
        p = np.where(decision > 0, np.maximum(p, np.nextafter(0.5, 1.0)), np.minimum(p, 0.5))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """Predicted membership of each record on the target (1 member, 0 not).

        Parameters
        ----------
        X : Records
            Records to attack.

        Returns
        -------
        membership : ndarray of shape (n_records,)

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> import privlearn as pl
        >>> X, y = load_digits(return_X_y=True)
        >>> target = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
        >>> records, m = pl.membership_set((X[:100], y[:100]), (X[100:200], y[100:200]))
        >>> attack = pl.MembershipInference(target, method="correctness").fit(records, m)
        >>> bool(set(attack.predict(records)) <= {0, 1})
        True
        """
        # sklearn's convention for binary classifiers: the positive class iff > 0.
        return (self.decision_function(X) > 0).astype(np.int64)

    def score(self, X, y, sample_weight=None):
        """Accuracy of the predicted membership on records ``X``.

        ``y`` is checked as in :meth:`fit` (1 member, 0 non-member, no missing
        values), except that it may hold one class only.

        Parameters
        ----------
        X : Records
            Records to attack.
        y : array-like of shape (n_records,)
            Their true membership.
        sample_weight : array-like of shape (n_records,), default=None

        Returns
        -------
        score : float

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> import privlearn as pl
        >>> X, y = load_digits(return_X_y=True)
        >>> target = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
        >>> records, m = pl.membership_set((X[:100], y[:100]), (X[100:200], y[100:200]))
        >>> attack = pl.MembershipInference(target, method="correctness").fit(records, m)
        >>> 0.5 < attack.score(records, m) <= 1
        True
        """
        # The cheap checks of X first (as predict would), then y, then the queries.
        check_is_fitted(self, "classes_")
        self._check_n_features(X.inputs if isinstance(X, Records) else X)
        y = check_membership(y, _num_samples(X), require_both=False)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Records, not a 2-D array of features.
        tags.input_tags.two_d_array = False
        # The inputs go to the target as they are: missing values are fine where
        # the target accepts them.
        try:
            tags.input_tags.allow_nan = get_tags(self.target).input_tags.allow_nan
        except (AttributeError, TypeError, ValueError):
            tags.input_tags.allow_nan = False
        # Membership is binary, and a weak attack (accuracy near 0.5) is a valid,
        # common outcome rather than a broken classifier.
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        return tags


def scale_of(values):
    """A positive spread of ``values`` (standard deviation, 1 when it is 0).

    Examples
    --------
    >>> from privlearn.attacks._base import scale_of
    >>> scale_of([1.0, 3.0]), scale_of([2.0, 2.0])
    (1.0, 1.0)
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    spread = float(values.std()) if len(values) else 0.0
    return spread if spread > 0 else 1.0

"""Metrics for membership-inference attacks, built on :mod:`sklearn.metrics`.

Besides accuracy and ROC AUC, attacks are compared at low false-positive rates
(Carlini et al., 2022): the true-positive rate when at most 1% or 0.1% of the
non-members are wrongly called members.  The scorers below plug into
``cross_val_score(..., scoring=...)`` and ``GridSearchCV``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.metrics import (RocCurveDisplay, accuracy_score, balanced_accuracy_score,
                             f1_score, make_scorer, precision_score, recall_score,
                             roc_auc_score, roc_curve)

from .records import as_array, missing_mask

__all__ = ["attack_report", "tpr_at_fpr", "attack_advantage", "make_tpr_at_fpr_scorer",
           "tpr_at_1pct_fpr_scorer", "tpr_at_01pct_fpr_scorer", "advantage_scorer",
           "plot_roc"]


def _check_binary(membership, scores, *, argument="membership", name="scores"):
    """Membership (0/1, both present) and finite scores, as int64 and float64."""
    membership = as_array(membership)
    scores = as_array(scores)
    if membership.ndim != 1:
        raise ValueError(f"`{argument}` must be 1-D, got shape {membership.shape}")
    if scores.ndim == 2 and scores.shape[1] == 2:
        raise ValueError(f"`{name}` must be one score per record (for example "
                         "predict_proba(X)[:, 1]), got an (n, 2) array")
    if scores.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {scores.shape}")
    if len(membership) != len(scores):
        raise ValueError(f"`{argument}` has {len(membership)} entries but `{name}` has "
                         f"{len(scores)}; they must have the same length")
    missing = missing_mask(membership)
    if missing.any():
        raise ValueError(f"`{argument}` contains {int(missing.sum())} missing value(s) "
                         "(NaN, None or pandas NA); it must hold 1 for members and 0 "
                         "for non-members")
    try:
        values = np.unique(membership)
        valid = membership.dtype.kind in "biufO" and np.isin(values, [0, 1]).all()
    except TypeError:                      # a mix of types that cannot be compared
        values, valid = np.unique(membership.astype(str)), False
    if not valid:
        raise ValueError(f"`{argument}` must hold 1 for members and 0 for non-members, "
                         f"got values {values[:10].tolist()}")
    if len(values) < 2:
        raise ValueError(f"`{argument}` must hold both members (1) and non-members (0)")
    if missing_mask(scores).any():
        raise ValueError(f"`{name}` must be finite, got missing values (NaN, None or "
                         "pandas NA)")
    try:
        scores = scores.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must hold numbers (membership scores), got dtype "
                        f"{scores.dtype}") from None
    if scores.dtype.kind != "f" or not np.isfinite(scores).all():
        raise ValueError(f"`{name}` must be finite")
    return membership.astype(np.int64), scores


def _check_rate(value, argument):
    """A false-positive rate: a real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{argument}` must be a number in [0, 1], got {value!r}")
    return float(value)


def tpr_at_fpr(y_true, y_score, fpr=0.01):
    """Highest true-positive rate at a false-positive rate of at most ``fpr``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Membership, 1 for members and 0 for non-members.
    y_score : array-like of shape (n,)
        Membership scores (higher: more likely a member).
    fpr : float, default=0.01
        Largest tolerated false-positive rate, in [0, 1].

    Returns
    -------
    tpr : float

    Examples
    --------
    >>> from privlearn.metrics import tpr_at_fpr
    >>> tpr_at_fpr([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.4], fpr=0.0)
    0.5
    """
    fpr = _check_rate(fpr, "fpr")
    y_true, y_score = _check_binary(y_true, y_score, argument="y_true", name="y_score")
    fprs, tprs, _ = roc_curve(y_true, y_score, drop_intermediate=False)
    return float(tprs[fprs <= fpr].max())


def attack_advantage(y_true, y_score):
    """Membership advantage: the largest TPR − FPR over all thresholds (Yeom et al.).

    Examples
    --------
    >>> from privlearn.metrics import attack_advantage
    >>> attack_advantage([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.4])
    0.5
    """
    y_true, y_score = _check_binary(y_true, y_score, argument="y_true", name="y_score")
    fprs, tprs, _ = roc_curve(y_true, y_score)
    return float(np.max(tprs - fprs))


def attack_report(membership, scores, *, threshold=0.5, predictions=None):
    """Every attack metric in one dictionary.

    Parameters
    ----------
    membership : array-like of shape (n,)
        1 for members, 0 for non-members.
    scores : array-like of shape (n,)
        Continuous membership scores, for example ``attack.predict_proba(X)[:, 1]``
        (higher: more likely a member).  Used for ROC AUC, the low-FPR rates and
        the advantage.
    threshold : float, default=0.5
        Records with ``scores >= threshold`` are called members, unless
        ``predictions`` are given.
    predictions : array-like of shape (n,) or None, default=None
        Hard 0/1 membership predictions (``attack.predict(X)``) for accuracy,
        precision, recall and F1.

    Returns
    -------
    report : dict
        ``accuracy``, ``balanced_accuracy``, ``precision``, ``recall``, ``f1``,
        ``roc_auc``, ``tpr_at_1%_fpr``, ``tpr_at_0.1%_fpr``, ``advantage``
        (max TPR − FPR), as floats.

    Examples
    --------
    >>> from privlearn.metrics import attack_report
    >>> r = attack_report([1, 1, 0, 0], [0.9, 0.4, 0.3, 0.2])
    >>> r["accuracy"], r["roc_auc"], r["advantage"]
    (0.75, 1.0, 1.0)
    """
    membership, scores = _check_binary(membership, scores)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
            or not np.isfinite(threshold):
        raise ValueError(f"`threshold` must be a finite number, got {threshold!r}")
    if predictions is None:
        predictions = (scores >= threshold).astype(np.int64)
    else:
        predictions = as_array(predictions)
        if predictions.shape != membership.shape:
            raise ValueError(f"`predictions` must have shape {membership.shape} like "
                             f"`membership`, got {predictions.shape}")
        if predictions.dtype.kind not in "biuf" or missing_mask(predictions).any() \
                or not np.isin(np.unique(predictions), [0, 1]).all():
            raise ValueError("`predictions` must hold 0/1 membership predictions; pass "
                             "continuous scores as `scores`")
    return {
        "accuracy": float(accuracy_score(membership, predictions)),
        "balanced_accuracy": float(balanced_accuracy_score(membership, predictions)),
        "precision": float(precision_score(membership, predictions, zero_division=0)),
        "recall": float(recall_score(membership, predictions, zero_division=0)),
        "f1": float(f1_score(membership, predictions, zero_division=0)),
        "roc_auc": float(roc_auc_score(membership, scores)),
        "tpr_at_1%_fpr": tpr_at_fpr(membership, scores, fpr=0.01),
        "tpr_at_0.1%_fpr": tpr_at_fpr(membership, scores, fpr=0.001),
        "advantage": attack_advantage(membership, scores),
    }


def make_tpr_at_fpr_scorer(fpr):
    """A scorer for ``scoring=``: TPR at a false-positive rate of at most ``fpr``.

    Reads the attack's ``decision_function`` (or ``predict_proba``).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from privlearn.metrics import make_tpr_at_fpr_scorer
    >>> X, y = make_classification(random_state=0)
    >>> scores = cross_val_score(LogisticRegression(), X, y, cv=3,
    ...                          scoring=make_tpr_at_fpr_scorer(0.05))
    >>> scores.shape
    (3,)
    """
    fpr = _check_rate(fpr, "fpr")
    return make_scorer(tpr_at_fpr, response_method=("decision_function", "predict_proba"),
                       fpr=fpr)


#: Scorer: TPR at 1% FPR.
tpr_at_1pct_fpr_scorer = make_tpr_at_fpr_scorer(0.01)
#: Scorer: TPR at 0.1% FPR.
tpr_at_01pct_fpr_scorer = make_tpr_at_fpr_scorer(0.001)
#: Scorer: membership advantage (max TPR − FPR).
advantage_scorer = make_scorer(attack_advantage,
                               response_method=("decision_function", "predict_proba"))


def plot_roc(curves, ax=None, log=False):
    """ROC curves of several attacks in one plot, via sklearn's ``RocCurveDisplay``.

    Parameters
    ----------
    curves : dict
        Name → ``(membership, scores)``.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure when None.
    log : bool, default=False
        Log–log axes, which show the low-FPR regime (Carlini et al., 2022).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from privlearn.metrics import plot_roc
    >>> ax = plot_roc({"attack": ([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.4])}, log=True)
    >>> ax.get_xscale()
    'log'
    """
    if not isinstance(curves, dict) or not curves:
        raise TypeError("`curves` must be a non-empty dict: name -> (membership, scores)")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    smallest = 1.0
    for i, (name, pair) in enumerate(curves.items()):
        try:
            membership, scores = pair
        except (TypeError, ValueError):
            raise TypeError(f"`curves[{name!r}]` must be a pair (membership, scores)") from None
        membership, scores = _check_binary(membership, scores, argument=f"curves[{name!r}][0]",
                                           name=f"curves[{name!r}][1]")
        RocCurveDisplay.from_predictions(membership, scores, name=str(name), ax=ax,
                                         plot_chance_level=i == len(curves) - 1)
        smallest = min(smallest, 1.0 / max(1, int((membership == 0).sum())))
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(smallest / 2, 1.0)
        ax.set_ylim(smallest / 2, 1.05)
    return ax

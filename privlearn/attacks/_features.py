"""What a membership attack reads off a model's posteriors.

All functions take the posterior matrix ``proba`` (one row per record, columns in
the order of the model's ``classes_``) and the column of each record's true label,
and return one value per record, vectorised over the whole matrix.  Scores are
oriented so that *higher means more likely a member*: members get higher
confidence and lower (modified) entropy.
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr

__all__ = ["label_columns", "correctness", "confidence", "neg_entropy",
           "neg_modified_entropy", "top_k_features", "METRIC_SCORES"]

# Floor for logarithms, as in Song & Mittal's reference implementation.
_TINY = 1e-30


def label_columns(classes, labels):
    """Column of each label in ``classes`` and whether the label is among them.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        A fitted classifier's ``classes_`` (any order).
    labels : array-like of shape (n,)
        True class labels.

    Returns
    -------
    columns : ndarray of int, shape (n,)
        Column index of every label (0 where ``known`` is False).
    known : ndarray of bool, shape (n,)
        Whether the label is one of ``classes``.

    Examples
    --------
    >>> from privlearn.attacks._features import label_columns
    >>> cols, known = label_columns([3, 1, 2], [1, 2, 9])
    >>> cols.tolist(), known.tolist()
    ([1, 2, 0], [True, True, False])
    """
    classes = np.asarray(classes)
    labels = np.asarray(labels)
    sorter = np.argsort(classes, kind="stable")
    try:
        where = np.searchsorted(classes, labels, sorter=sorter)
    except TypeError:                      # e.g. string labels against int classes
        return np.zeros(len(labels), dtype=np.intp), np.zeros(len(labels), dtype=bool)
    where = np.clip(where, 0, len(classes) - 1)
    columns = sorter[where]
    known = classes[columns] == labels
    return np.where(known, columns, 0), np.asarray(known, dtype=bool)


def _true_class_proba(proba, columns, known):
    return np.where(known, proba[np.arange(len(proba)), columns], 0.0)


def correctness(proba, columns, known):
    """1.0 where the model's top class is the true label, else 0.0.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._features import correctness
    >>> p = np.array([[0.8, 0.2], [0.3, 0.7]])
    >>> correctness(p, np.array([0, 0]), np.array([True, True])).tolist()
    [1.0, 0.0]
    """
    return (known & (np.argmax(proba, axis=1) == columns)).astype(np.float64)


def confidence(proba, columns, known):
    """The posterior of the true class, ``p_y`` (0 for labels the model lacks).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._features import confidence
    >>> confidence(np.array([[0.8, 0.2]]), np.array([1]), np.array([True])).tolist()
    [0.2]
    """
    return _true_class_proba(proba, columns, known)


def neg_entropy(proba, columns, known):
    """Minus the Shannon entropy ``-Σ p_i log p_i`` of the posterior (nats).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._features import neg_entropy
    >>> float(neg_entropy(np.array([[0.5, 0.5]]), None, None)[0].round(4))
    -0.6931
    """
    return -entr(proba).sum(axis=1)


def neg_modified_entropy(proba, columns, known):
    """Minus Song & Mittal's modified entropy of the posterior given the true label.

    ``Mentr(p, y) = -(1 - p_y) log p_y - Σ_{i≠y} p_i log(1 - p_i)``: low for
    confident, correct predictions and high for confident, wrong ones (unlike the
    entropy, which cannot tell the two apart).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._features import neg_modified_entropy
    >>> p = np.array([[0.9, 0.1], [0.1, 0.9]])
    >>> s = neg_modified_entropy(p, np.array([0, 0]), np.array([True, True]))
    >>> bool(s[0] > s[1])
    True
    """
    p_y = _true_class_proba(proba, columns, known)
    log_rest = np.log(np.maximum(1.0 - proba, _TINY))
    others = (proba * log_rest).sum(axis=1) - np.where(
        known, p_y * np.log(np.maximum(1.0 - p_y, _TINY)), 0.0)
    mentr = -(1.0 - p_y) * np.log(np.maximum(p_y, _TINY)) - others
    return -mentr


def top_k_features(proba, columns, known, k):
    """The ``k`` largest posteriors (descending) and the correctness bit.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._features import top_k_features
    >>> p = np.array([[0.1, 0.7, 0.2]])
    >>> top_k_features(p, np.array([1]), np.array([True]), 2).tolist()
    [[0.7, 0.2, 1.0]]
    """
    top = -np.sort(-proba, axis=1)[:, :k]
    return np.column_stack([top, correctness(proba, columns, known)])


#: Metric attacks: name -> score function (higher = more likely a member).
METRIC_SCORES = {
    "correctness": correctness,
    "confidence": confidence,
    "entropy": neg_entropy,
    "modified_entropy": neg_modified_entropy,
}

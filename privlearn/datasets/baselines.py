"""What an attacker guesses about the sensitive attribute without querying any model.

The attribute-inference finding compares an attack's accuracy with a baseline.
The *majority baseline* (always guess the most frequent attribute value) is the
right floor when the attacker knows nothing about a victim.  An attacker who
knows the victim's task label (the class the model predicts, often public)
does better wherever the attribute depends on the task: the *conditional
baseline* guesses, for each task value, the attribute value most frequent
within it.  Leakage "in excess" of what the task label already tells is
measured against it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conditional_guess", "conditional_baseline", "majority_baseline"]


def _labels(values, argument, owner):
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{owner}: `{argument}` must be a 1-D array of labels, got shape "
                         f"{array.shape}")
    if array.size and array.dtype.kind not in "iub":
        raise TypeError(f"{owner}: `{argument}` must hold integer labels, got dtype "
                        f"{array.dtype}")
    return array.astype(np.int64)


def _pairs(task, attribute, argument, owner):
    task = _labels(task, f"task{argument}", owner)
    attribute = _labels(attribute, f"attribute{argument}", owner)
    if len(task) != len(attribute):
        raise ValueError(f"{owner}: `task{argument}` and `attribute{argument}` differ in "
                         f"length ({len(task)} vs {len(attribute)})")
    if len(task) == 0:
        raise ValueError(f"{owner}: `task{argument}` is empty")
    return task, attribute


def conditional_guess(task, attribute, task_query):
    """For each ``task_query`` value, the attribute most frequent with it in the data.

    Ties go to the smallest attribute value; a task value absent from ``task``
    gets the overall majority attribute.

    Parameters
    ----------
    task, attribute : array-like of int, shape (n,)
        The attacker's data: task labels and attribute values.
    task_query : array-like of int, shape (m,)
        Task labels of the victims.

    Returns
    -------
    guess : ndarray of int64, shape (m,)

    Examples
    --------
    >>> from privlearn.datasets import conditional_guess
    >>> conditional_guess([0, 0, 0, 1, 1, 1], [2, 2, 1, 0, 0, 2], [1, 0, 5]).tolist()
    [0, 2, 2]
    """
    task, attribute = _pairs(task, attribute, "", "conditional_guess")
    task_query = _labels(task_query, "task_query", "conditional_guess")
    # A contingency table (one bincount), then argmax per row: vectorised.
    tasks, task_index = np.unique(task, return_inverse=True)
    values, value_index = np.unique(attribute, return_inverse=True)
    table = np.bincount(task_index * len(values) + value_index,
                        minlength=len(tasks) * len(values)).reshape(len(tasks), len(values))
    best = values[table.argmax(axis=1)]
    overall = values[table.sum(axis=0).argmax()]
    where = np.searchsorted(tasks, task_query).clip(max=len(tasks) - 1)
    known = tasks[where] == task_query
    return np.where(known, best[where], overall)


def conditional_baseline(task, attribute, task_eval=None, attribute_eval=None):
    """Accuracy of guessing the attribute from the task label alone.

    The guess for each task value is the attribute most frequent with it in
    ``(task, attribute)`` (see :func:`conditional_guess`); it is scored on
    ``(task_eval, attribute_eval)``, or on the same data when these are omitted
    (the best any rule using only the task label can do there).

    Parameters
    ----------
    task, attribute : array-like of int, shape (n,)
        Data the guess is learnt from (e.g. the attacker's auxiliary records).
    task_eval, attribute_eval : array-like of int, shape (m,), optional
        Data it is scored on (e.g. the victims); both or neither.

    Returns
    -------
    accuracy : float

    See Also
    --------
    majority_baseline : the same without the task label.

    Examples
    --------
    >>> from privlearn.datasets import conditional_baseline, majority_baseline
    >>> task, attribute = [0, 0, 0, 1, 1, 1], [0, 0, 1, 2, 2, 0]
    >>> round(conditional_baseline(task, attribute), 3), round(majority_baseline(attribute), 3)
    (0.667, 0.5)
    """
    task, attribute = _pairs(task, attribute, "", "conditional_baseline")
    if (task_eval is None) != (attribute_eval is None):
        raise TypeError("conditional_baseline: pass both `task_eval` and `attribute_eval`, "
                        "or neither")
    if task_eval is None:
        task_eval, attribute_eval = task, attribute
    else:
        task_eval, attribute_eval = _pairs(task_eval, attribute_eval, "_eval",
                                           "conditional_baseline")
    return float(np.mean(conditional_guess(task, attribute, task_eval) == attribute_eval))


def majority_baseline(attribute, attribute_eval=None):
    """Accuracy of always guessing the most frequent attribute value.

    Learnt on ``attribute``, scored on ``attribute_eval`` (default: the same).

    Examples
    --------
    >>> from privlearn.datasets import majority_baseline
    >>> majority_baseline([1, 1, 0, 2])
    0.5
    """
    attribute = _labels(attribute, "attribute", "majority_baseline")
    if len(attribute) == 0:
        raise ValueError("majority_baseline: `attribute` is empty")
    values, counts = np.unique(attribute, return_counts=True)
    guess = values[counts.argmax()]
    scored = attribute if attribute_eval is None else _labels(
        attribute_eval, "attribute_eval", "majority_baseline")
    if len(scored) == 0:
        raise ValueError("majority_baseline: `attribute_eval` is empty")
    return float(np.mean(scored == guess))

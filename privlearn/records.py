"""Records: model inputs together with their true class labels.

Membership-inference attacks consume *records* (an input and its true label) and
predict *membership*.  :class:`Records` keeps the two side by side and indexes like
a NumPy array along the first axis, so scikit-learn's splitters,
``cross_val_score`` and ``GridSearchCV`` slice it without copying it whole.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.multiclass import type_of_target

__all__ = ["Records", "check_class_labels", "as_array", "missing_mask"]


def as_array(values):
    """``values`` as a NumPy array; pandas objects by position, missing values kept.

    A pandas ``DataFrame`` or ``Series`` is converted with ``to_numpy()`` (so
    that indexing is by position, not by column or index label); nullable pandas
    dtypes keep their missing values as ``pd.NA`` in an object array.

    Examples
    --------
    >>> from privlearn.records import as_array
    >>> as_array([1, 2]).tolist()
    [1, 2]
    """
    if hasattr(values, "iloc") and hasattr(values, "to_numpy"):
        return values.to_numpy()
    return np.asarray(values)


def missing_mask(values):
    """True where ``values`` (an array) holds NaN, None or pandas' NA.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.records import missing_mask
    >>> missing_mask(np.array([1, None, float("nan"), "a"], dtype=object)).tolist()
    [False, True, True, False]
    """
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind != "O":
        return np.zeros(values.shape, dtype=bool)
    flat = [v is None or type(v).__name__ in ("NAType", "NaTType")
            or (isinstance(v, float) and v != v) for v in values.ravel()]
    return np.asarray(flat, dtype=bool).reshape(values.shape)


def check_class_labels(labels, *, argument="labels", owner="Records"):
    """Class labels as a 1-D array, or a clear error.

    Refuses what a classifier cannot take as classes: missing values (NaN,
    None, pandas' NA), a mix of types (numbers and strings), continuous values
    (which would count as hundreds of classes) and non-label dtypes.

    Examples
    --------
    >>> from privlearn.records import check_class_labels
    >>> check_class_labels([0, 1, 1]).tolist()
    [0, 1, 1]
    >>> check_class_labels([0.5, 1.7])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Records: `labels` must hold class labels (integers or strings). Unknown label type: continuous values such as 0.5; ...
    """
    labels = as_array(labels)
    if labels.ndim != 1:
        raise ValueError(f"{owner}: `{argument}` must be 1-D, got shape {labels.shape}.")
    if labels.dtype.kind == "c":
        raise ValueError(f"{owner}: `{argument}` holds complex numbers. Complex data not "
                         "supported: class labels must be integers or strings.")
    if labels.dtype.kind in "mMV":
        raise TypeError(f"{owner}: `{argument}` must hold class labels (integers or "
                        f"strings), got dtype {labels.dtype}.")
    missing = missing_mask(labels)
    if missing.any():
        raise ValueError(f"{owner}: `{argument}` contains {int(missing.sum())} missing "
                         "value(s) (NaN, None or pandas NA), the first at position "
                         f"{int(np.flatnonzero(missing)[0])}; every sample needs its "
                         "class label.")
    if labels.dtype.kind == "f" and np.isinf(labels).any():
        raise ValueError(f"{owner}: `{argument}` contains infinite values; class labels "
                         "must be integers or strings.")
    if labels.dtype.kind == "O":
        kinds = {"string" if isinstance(v, str) else "number"
                 if isinstance(v, (numbers.Number, np.bool_)) else type(v).__name__
                 for v in labels}
        if len(kinds) > 1 or not kinds <= {"string", "number"}:
            raise ValueError(f"{owner}: `{argument}` must hold class labels of one type, "
                             f"all numbers or all strings; got a mix of {sorted(kinds)}.")
    if len(labels) and type_of_target(labels) == "continuous":
        sample = labels[labels != np.round(labels.astype(np.float64))][:1]
        raise ValueError(f"{owner}: `{argument}` must hold class labels (integers or "
                         "strings). Unknown label type: continuous values such as "
                         f"{float(sample[0]):.6g}; each distinct value would count as a "
                         "class. Bin or encode them first.")
    return labels


class Records:
    """Inputs and their true class labels, indexable along the first axis.

    Parameters
    ----------
    inputs : array-like of shape (n_samples, ...)
        Images (``N×C×H×W`` / ``N×H×W``) or tabular features (``N×d``).  Anything
        that supports NumPy-style fancy indexing on its first axis works
        (NumPy arrays, torch tensors).
    labels : array-like of shape (n_samples,)
        The true class label of each input: integers or strings, no missing
        values (see :func:`check_class_labels`).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn import Records
    >>> r = Records(np.zeros((4, 1, 8, 8)), np.array([0, 1, 0, 1]))
    >>> len(r), r[[0, 2]].labels.tolist()
    (4, [0, 0])
    """

    def __init__(self, inputs, labels):
        if inputs is None:
            raise TypeError("Records: `inputs` must be an array-like, got None.")
        if labels is None:
            raise TypeError(
                "Records: `labels` must be an array-like of true class labels, got None."
            )
        if hasattr(inputs, "tocsr") or hasattr(inputs, "todense"):
            raise TypeError("Records: sparse `inputs` are not supported; pass a dense "
                            "array (e.g. inputs.toarray()).")
        if hasattr(inputs, "iloc") or not hasattr(inputs, "shape") \
                or not hasattr(inputs, "__getitem__"):
            inputs = as_array(inputs)           # a DataFrame indexes by position
        if np.ndim(inputs) == 0:
            raise TypeError("Records: `inputs` must be an array-like with one entry per "
                            f"record, got {type(inputs).__name__} {inputs!r:.40}.")
        labels = check_class_labels(labels)
        if len(inputs) != len(labels):
            raise ValueError(
                "Records: `inputs` and `labels` must have the same length, got "
                f"inputs with shape {tuple(inputs.shape)} and labels with shape "
                f"{labels.shape}."
            )
        self.inputs = inputs
        self.labels = labels

    # --- array-like protocol used by sklearn's indexing utilities ------------
    @property
    def shape(self):
        """``(n_samples,)``: records are one-dimensional collections."""
        return (len(self.labels),)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, key):
        # sklearn's _safe_indexing calls ``array[key, ...]``.
        if isinstance(key, tuple):
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError("Records only index along their first axis.")
        if isinstance(key, numbers.Integral):
            key = [int(key)]
        if isinstance(key, list):
            key = np.asarray(key, dtype=bool if key and isinstance(key[0], (bool, np.bool_)) else np.intp)
        if isinstance(key, np.ndarray) and key.dtype == bool:
            key = np.flatnonzero(key)
        # Slices of checked records need no second check.
        part = object.__new__(Records)
        part.inputs, part.labels = self.inputs[key], self.labels[key]
        return part

    def __repr__(self):
        return (
            f"Records(n={len(self)}, inputs shape={tuple(self.inputs.shape)}, "
            f"n_classes={len(np.unique(self.labels))})"
        )

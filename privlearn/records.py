"""Records: model inputs together with their true class labels.

Membership-inference attacks consume *records* (an input and its true label) and
predict *membership*.  :class:`Records` keeps the two side by side and indexes like
a NumPy array along the first axis, so scikit-learn's splitters,
``cross_val_score`` and ``GridSearchCV`` slice it without copying it whole.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Records"]


class Records:
    """Inputs and their true class labels, indexable along the first axis.

    Parameters
    ----------
    inputs : array-like of shape (n_samples, ...)
        Images (``N×C×H×W`` / ``N×H×W``) or tabular features (``N×d``).  Anything
        that supports NumPy-style fancy indexing on its first axis works
        (NumPy arrays, torch tensors).
    labels : array-like of shape (n_samples,)
        The true class label of each input.

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
        if not hasattr(inputs, "shape") or not hasattr(inputs, "__getitem__"):
            inputs = np.asarray(inputs)
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(
                f"Records: `labels` must be 1-D, got shape {labels.shape}."
            )
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
        return Records(self.inputs[key], self.labels[key])

    def __repr__(self):
        return (
            f"Records(n={len(self)}, inputs shape={tuple(self.inputs.shape)}, "
            f"n_classes={len(np.unique(self.labels))})"
        )

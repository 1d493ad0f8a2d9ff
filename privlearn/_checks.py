"""The parameter and input checks scikit-learn's constraint machinery cannot express.

Parameters are checked with ``_parameter_constraints`` (``sklearn.utils.
_param_validation``) where the estimator allows it; this module holds the few
checks every estimator shares beyond that, each written once:

- :func:`is_int`: an integer that is not a bool.
- :func:`is_real`: a finite real number that is not a bool.
- :func:`check_sensitive_attribute`: the one check of a sensitive attribute
  (Talos, :class:`~privlearn.LinearConceptEraser`,
  :class:`~privlearn.AttributeInference`, the defense evaluation).

Imports nothing heavy (no torch).
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _num_samples, column_or_1d

from .records import as_array, check_class_labels, missing_mask

__all__ = ["is_int", "is_real", "check_sensitive_attribute", "validate_params"]

_SKLEARN_MESSAGE = re.compile(r"^The '(?P<name>[^']+)' parameter of (?P<owner>\w+) "
                              r"(?P<rest>.*)$", re.S)


def validate_params(estimator):
    """Check ``estimator``'s parameters against its ``_parameter_constraints``.

    scikit-learn's machinery (``BaseEstimator._validate_params``), with the
    message in privlearn's form, ``Owner: `name` must be ...``; the error is
    sklearn's ``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``).

    Examples
    --------
    >>> from privlearn import LinearConceptEraser
    >>> from privlearn._checks import validate_params
    >>> validate_params(LinearConceptEraser(tol=2))
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: LinearConceptEraser: `tol` must be a float in the range [0.0, 1.0). Got 2 instead.
    """
    try:
        estimator._validate_params()
    except InvalidParameterError as exc:
        match = _SKLEARN_MESSAGE.match(str(exc))
        if match is None:
            raise
        raise InvalidParameterError(
            f"{match['owner']}: `{match['name']}` {match['rest']}") from None


def is_int(value):
    """True for an integer (Python or NumPy) that is not a bool.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn._checks import is_int
    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """True for a finite real number (int or float, Python or NumPy), not a bool.

    Examples
    --------
    >>> from privlearn._checks import is_real
    >>> is_real(0.5), is_real(float("nan")), is_real(False)
    (True, False, False)
    """
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def check_flag(name, value):
    """A boolean parameter is a bool (``"yes"`` or None would pass a truth test).

    Examples
    --------
    >>> from privlearn._checks import check_flag
    >>> check_flag("online", True)
    >>> try:
    ...     check_flag("online", "yes")
    ... except TypeError as exc:
    ...     print(exc)
    `online` must be True or False, got 'yes'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}")


def check_sensitive_attribute(X, attribute, *, owner, argument="sensitive_features",
                              require_both=True, hint=""):
    """The sensitive attribute as a 1-D array of class labels, or a clear error.

    The one rule set, checked before any work: present; one value per sample of
    ``X`` (a column vector is raveled with a ``DataConversionWarning``); no
    missing values (NaN, None, pandas NA); class labels of one type, not
    continuous (:func:`privlearn.records.check_class_labels`); at least two
    distinct values unless ``require_both=False`` (an attack's scoring data may
    hold one).

    Parameters
    ----------
    X : array-like, torch Dataset or int
        The samples the attribute describes, or their number.
    attribute : array-like of shape (n_samples,) or None
    owner : str
        Who checks (starts every message).
    argument : str, default="sensitive_features"
        The argument's name in the messages.
    require_both : bool, default=True
        Refuse an attribute with a single value.
    hint : str, default=""
        Appended to the "is required" message (e.g. how to pass it in a Pipeline).

    Returns
    -------
    attribute : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from privlearn._checks import check_sensitive_attribute
    >>> check_sensitive_attribute(3, ["a", "b", "a"], owner="demo").tolist()
    ['a', 'b', 'a']
    >>> check_sensitive_attribute(3, [1, 1, 1], owner="demo")
    Traceback (most recent call last):
    ...
    ValueError: demo: `sensitive_features` must hold at least two distinct attribute values; got only one class, [1].
    """
    if attribute is None:
        # sklearn's estimator checks expect "requires y to be passed" for y=None.
        requires = ("the attack requires y to be passed, but the target y is None: "
                    if argument == "y" else "")
        raise ValueError(f"{owner}: {requires}`{argument}` is required: the sensitive "
                         f"attribute of each sample, one value per sample{hint}.")
    n_samples = X if is_int(X) else _num_samples(X)
    values = as_array(attribute)
    if values.ndim == 0:
        raise ValueError(f"{owner}: `{argument}` must hold one attribute value per sample, "
                         f"got a scalar {attribute!r}.")
    if len(values) != n_samples:
        raise ValueError(f"{owner}: `{argument}` has {len(values)} values but X has "
                         f"{n_samples} samples; give one value per sample (its attribute).")
    if values.ndim == 2 and values.shape[1] == 1:
        values = column_or_1d(values, warn=True)
    if values.ndim != 1:
        raise ValueError(f"{owner}: `{argument}` must be 1-D (one attribute value per "
                         f"sample), got shape {values.shape}.")
    missing = missing_mask(values)
    if missing.any():
        count = int(missing.sum())
        raise ValueError(f"{owner}: `{argument}` contains {count} missing "
                         f"value{'s' * (count != 1)} (NaN, None or pandas NA), the first "
                         f"at position {int(np.flatnonzero(missing)[0])}; no missing "
                         "values allowed: every sample needs its attribute value.")
    values = check_class_labels(values, argument=argument, owner=owner)
    if require_both:
        distinct = np.unique(values)
        if len(distinct) < 2:
            raise ValueError(f"{owner}: `{argument}` must hold at least two distinct "
                             f"attribute values; got only one class, {distinct.tolist()}.")
    return values

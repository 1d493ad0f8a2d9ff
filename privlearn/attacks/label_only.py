"""Label-only membership inference: distance to the decision boundary."""

from __future__ import annotations

import hashlib
import numbers

import numpy as np
from sklearn.utils import check_random_state

from .._target import checked_predict, model_state
from ._base import MembershipAttack, scale_of
from ._hopskipjump import boundary_distances
from ._thresholds import sweep_thresholds

__all__ = ["LabelOnlyMembershipInference"]


class LabelOnlyMembershipInference(MembershipAttack):
    """Membership inference from predicted labels only (decision-boundary distance).

    For each record, HopSkipJump (Chen et al., 2020; untargeted, L2) searches for
    the closest input the model labels differently, querying only ``predict``.
    Members of the training set tend to lie farther from the decision boundary, so
    a record is called a member when its distance is at least a threshold τ,
    calibrated on the fitting records to maximise balanced accuracy (Choquette-Choo
    et al., 2021; Li & Zhang, 2021).  Misclassified records have distance 0.

    The search runs for ``batch_size`` records at once: all their binary searches,
    gradient probes and step-size trials go to the model in stacked ``predict``
    calls.

    Parameters
    ----------
    target : fitted classifier
        The model under attack; only its ``predict`` is used.  Kept by reference
        by :func:`~sklearn.base.clone` (``FrozenEstimator`` wrappers accepted).
    shadow : unfitted classifier or None, default=None
        ``None``: audit mode, τ is calibrated on the target's distances.  An
        estimator: a clone of it is trained on the records whose membership is 1
        and τ is calibrated on the clone's distances.
    max_iter : int, default=10
        HopSkipJump iterations per record.
    max_queries : int, default=2000
        Hard budget of ``predict`` queries (input rows) per record.
    init_eval : int, default=50
        Gradient-estimation probes in the first iteration (``init_eval·√t`` in
        iteration ``t``).
    batch_size : int, default=128
        Records attacked together.
    clip_values : tuple (min, max) or None, default=None
        Valid range of the inputs, in the units the model is queried with.
        ``None``: ``(0, 1)`` for ``uint8`` inputs, else the smallest and largest
        input value seen at fit.
    random_state : int, RandomState instance or None, default=None
        Seeds the random probes.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]``.
    shadow_ : estimator or None
        The fitted shadow model (None in audit mode).
    threshold_ : float
        τ: records at least this far from the boundary are called members.
    clip_values_ : tuple of float
        The valid input range used.
    decision_scale_ : float
        Spread of the fitting distances (scale of ``predict_proba``'s logistic map).
    n_queries_ : int
        ``predict`` rows spent by the most recent distance computation (by ``fit``
        or by a prediction method); divide by the number of records for the
        queries per record.

    Notes
    -----
    ``uint8`` inputs (images in 0–255) are attacked in ``float32`` units of
    ``[0, 1]`` (divided by 255), and the model is queried with such float images,
    which privlearn's image estimators accept like ``uint8`` ones.  Other models
    should be trained on float inputs, so that their queries are in the same units.
    Distances are in those units.  ``predict``, ``predict_proba`` and
    ``decision_function`` on the same records reuse the last computed distances
    while the model's fitted state is unchanged (a refit of the target
    invalidates them; a model that cannot be pickled is queried every time).
    In audit mode, ``predict``, ``predict_proba``, ``decision_function`` and
    ``score`` raise :class:`~privlearn._target.StaleTargetError` once the
    target has been refitted (τ was calibrated on the old target); refit the
    attack.  :meth:`boundary_distance` measures the current target and does not.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> import privlearn as pl
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> target = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
    >>> records, m = pl.membership_set((X[:100], y[:100]), (X[100:200], y[100:200]))
    >>> attack = pl.LabelOnlyMembershipInference(target, max_iter=2, init_eval=10,
    ...                                          random_state=0).fit(records, m)
    >>> bool(attack.score(records, m) > 0.6), attack.n_queries_ <= 200 * 2000
    (True, True)
    """

    _target_methods = ("predict",)

    def __init__(self, target, shadow=None, max_iter=10, max_queries=2000, init_eval=50,
                 batch_size=128, clip_values=None, random_state=None):
        self.target = target
        self.shadow = shadow
        self.max_iter = max_iter
        self.max_queries = max_queries
        self.init_eval = init_eval
        self.batch_size = batch_size
        self.clip_values = clip_values
        self.random_state = random_state

    def _check_params(self, target):
        for name, low in (("max_iter", 0), ("max_queries", 1), ("init_eval", 1),
                          ("batch_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}")
        if self.clip_values is not None:
            try:
                low, high = (float(v) for v in self.clip_values)
            except (TypeError, ValueError):
                raise ValueError("`clip_values` must be a pair (min, max) of numbers or "
                                 f"None, got {self.clip_values!r}") from None
            if not (np.isfinite(low) and np.isfinite(high)):
                raise ValueError("`clip_values` must be finite numbers (min, max), got "
                                 f"{self.clip_values!r}")
            if not low < high:
                raise ValueError(f"`clip_values` must satisfy min < max, got {self.clip_values!r}")

    # --- inputs in the units the model is queried with --------------------------
    @staticmethod
    def _as_float(inputs):
        inputs = np.asarray(inputs)
        if inputs.dtype == np.uint8:
            return inputs.astype(np.float32) / np.float32(255.0)
        if inputs.dtype.kind == "f":
            return inputs
        if inputs.dtype.kind in "biu":
            return inputs.astype(np.float64)
        if inputs.dtype.kind == "O":
            try:
                return inputs.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"`X.inputs` must be numeric; dtype object with {exc}") from None
        raise TypeError(f"`X.inputs` must be numeric, got dtype {inputs.dtype}")

    def _fit_attack(self, model, X, y):
        self._cache = None
        if self.clip_values is not None:
            self.clip_values_ = tuple(float(v) for v in self.clip_values)
        elif np.asarray(X.inputs).dtype == np.uint8:
            self.clip_values_ = (0.0, 1.0)
        else:
            inputs = self._as_float(X.inputs)
            if not np.isfinite(inputs).all():
                raise ValueError("`X.inputs` contain NaN or infinity; the boundary search "
                                 "needs finite inputs")
            self.clip_values_ = (float(np.min(inputs)), float(np.max(inputs)))
            if not self.clip_values_[0] < self.clip_values_[1]:
                raise ValueError("`X.inputs` are constant; pass `clip_values` to give "
                                 "the valid input range")
        distances = self._distances(model, X)
        thresholds, _ = sweep_thresholds(distances, y == 1, np.zeros(len(y), dtype=np.intp))
        self.threshold_ = float(thresholds[0])
        self.decision_scale_ = scale_of(distances)

    def _distances(self, model, X):
        inputs = self._as_float(X.inputs)
        if not np.isfinite(inputs).all():
            raise ValueError("`X.inputs` contain NaN or infinity; the boundary search "
                             "needs finite inputs")
        # Keyed on the model's fitted state, not its id: a refit of the same
        # object must not reuse distances measured on the old model.
        state = model_state(model)
        key = None if state is None else (state, self._fingerprint(inputs, X.labels))
        cache = getattr(self, "_cache", None)
        if key is not None and cache is not None and cache[0] == key:
            return cache[1]
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        whose = "target" if model is self.target else "shadow"

        def predict(points):
            return checked_predict(model, points, len(points), whose=whose)

        distances, queries = boundary_distances(
            predict, inputs, np.asarray(X.labels),
            clip_min=self.clip_values_[0], clip_max=self.clip_values_[1],
            max_iter=self.max_iter, max_queries=self.max_queries,
            init_eval=self.init_eval, batch_size=self.batch_size,
            rng=np.random.default_rng(seed))
        self.n_queries_ = int(queries.sum())
        self._cache = (key, distances)
        return distances

    def _fingerprint(self, inputs, labels):
        digest = hashlib.blake2b(digest_size=16)
        for array in (np.ascontiguousarray(inputs), np.ascontiguousarray(labels)):
            digest.update(str((array.dtype, array.shape)).encode())
            digest.update(array.data if array.dtype.kind != "O" else repr(array).encode())
        params = (self.max_iter, self.max_queries, self.init_eval, self.batch_size,
                  self.clip_values_, self.random_state if isinstance(
                      self.random_state, (numbers.Integral, type(None))) else id(self))
        digest.update(repr(params).encode())
        return digest.hexdigest()

    def boundary_distance(self, X):
        """Estimated L2 distance from each record to the target's decision boundary.

        Parameters
        ----------
        X : Records
            Records to attack.

        Returns
        -------
        distances : ndarray of shape (n_records,)
            0 for records the target misclassifies; in the units the target is
            queried with (``[0, 1]`` for ``uint8`` inputs).

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> import privlearn as pl
        >>> x = np.array([[0.0], [0.2], [0.8], [1.0]])
        >>> target = LogisticRegression().fit(x, [0, 0, 1, 1])
        >>> records, m = pl.membership_set((x[:2], [0, 0]), (x[2:], [1, 1]))
        >>> attack = pl.LabelOnlyMembershipInference(target, max_iter=1, init_eval=5,
        ...                                          random_state=0).fit(records, m)
        >>> attack.boundary_distance(records).round(2).tolist()
        [0.5, 0.3, 0.3, 0.5]
        """
        # A measurement of the target as it is now (it uses no threshold), so a
        # refitted target is measured afresh rather than refused.
        return self._distances(self.target, self._checked_records(X, check_stale=False))

    def _decision(self, X):
        return self._distances(self.target, X) - self.threshold_

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_cache", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False   # the boundary search needs finite inputs
        return tags

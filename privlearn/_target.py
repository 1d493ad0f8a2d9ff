"""The fitted model under attack: keep it fitted through ``clone``.

``cross_val_score``, ``GridSearchCV`` and :func:`sklearn.base.clone` clone every
estimator parameter, which would hand an attack an *unfitted* copy of the model it
attacks.  Attacks therefore keep their ``target`` by reference when cloned (the
same rule as :class:`sklearn.frozen.FrozenEstimator`), while recipes such as
``shadow`` or ``attack_model`` are cloned as usual.

Everything an attack reads from a model goes through this module, checked at the
boundary: :func:`checked_predict_proba` (shape, finite, a probability
distribution per row), :func:`checked_predict` (one label per input) and
:func:`model_state` (what identifies a model's fitted state, so that work cached
for one state is never reused after a refit of the same object).

:func:`remember_target` and :func:`check_target_unchanged` use that same digest
to refuse a *stale* attack: one whose fitted state (a threshold, an attack
model, population statistics) was learned from the answers of a target that has
since been refitted or replaced.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
import types
import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

#: Rows of a posterior matrix may stray this far from summing to 1 (float32
#: softmax, float16 networks).
PROBA_SUM_TOLERANCE = 1e-3


class KeepsTargetOnClone:
    """Mixin: ``clone(attack)`` shares the fitted ``target`` and clones the rest."""

    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        cloned = {key: (value if key == "target" else clone(value, safe=False))
                  for key, value in params.items()}
        return type(self)(**cloned)


def check_target(target, *, needs=("predict_proba",), argument="target"):
    """Check that ``target`` is a fitted estimator offering the methods ``needs``.

    Raises ``TypeError`` naming the missing method, or sklearn's
    ``NotFittedError``.  ``FrozenEstimator`` wrappers are accepted.
    """
    if target is None:
        raise TypeError(f"`{argument}` must be a fitted estimator, got None")
    for method in needs:
        if not callable(getattr(target, method, None)):
            raise TypeError(
                f"`{argument}` must offer {method}(); {type(target).__name__} does not")
    inner = getattr(target, "estimator", target) if type(target).__name__ == "FrozenEstimator" else target
    try:
        check_is_fitted(inner)
    except NotFittedError as exc:
        raise NotFittedError(
            f"`{argument}` ({type(inner).__name__}) is not fitted: fit the model "
            "under attack before attacking it") from exc
    except (AttributeError, TypeError):
        # A duck-typed model outside scikit-learn's estimator API (no
        # __sklearn_tags__, no get_params): sklearn cannot tell whether it is
        # fitted, so trust it to answer.
        pass
    return target


def _name(model, whose):
    return f"the {whose} ({type(model).__name__})"


def checked_predict_proba(model, inputs, n_rows, *, whose="target"):
    """``model.predict_proba(inputs)`` as float64, checked to be posteriors.

    Raises ``ValueError`` naming ``whose`` unless the answer has shape
    ``(n_rows, len(model.classes_))``, holds only finite values in [0, 1], and
    every row sums to 1 (within :data:`PROBA_SUM_TOLERANCE`): anything else
    (NaN from a diverged model, logits, unnormalised scores) would otherwise
    flow through an attack as NaN or meaningless scores.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn._target import checked_predict_proba
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> checked_predict_proba(model, [[0.2], [0.8]], 2).shape
    (2, 2)
    """
    who = _name(model, whose)
    raw = np.asarray(model.predict_proba(inputs))
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"{who}'s predict_proba returned dtype {raw.dtype}; expected "
                         "numeric probabilities")
    proba = raw.astype(np.float64)
    classes = getattr(model, "classes_", None)
    n_classes = len(classes) if classes is not None else (
        proba.shape[1] if proba.ndim == 2 else 0)
    if proba.shape != (n_rows, n_classes):
        raise ValueError(f"{who}'s predict_proba returned shape {proba.shape}; expected "
                         f"({n_rows}, {n_classes}): one row per record, one column per "
                         "class in classes_")
    bad = ~np.isfinite(proba).all(axis=1)
    if bad.any():
        raise ValueError(f"{who}'s predict_proba returned non-finite posteriors (NaN or "
                         f"infinite) for {int(bad.sum())} of {n_rows} records (first: record "
                         f"{int(np.flatnonzero(bad)[0])}); the model is broken (diverged "
                         "training?) and cannot be attacked")
    if proba.min() < -PROBA_SUM_TOLERANCE or proba.max() > 1 + PROBA_SUM_TOLERANCE:
        raise ValueError(f"{who}'s predict_proba returned values from {proba.min():.4g} "
                         f"to {proba.max():.4g}; posteriors must lie in [0, 1] (are these "
                         "logits or scores? pass a model whose predict_proba returns "
                         "probabilities)")
    sums = proba.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBA_SUM_TOLERANCE
    if off.any():
        first = int(np.flatnonzero(off)[0])
        raise ValueError(f"{who}'s predict_proba returned rows that do not sum to 1 "
                         f"({int(off.sum())} of {n_rows}; record {first} sums to "
                         f"{sums[first]:.4g}); posteriors must be a probability "
                         "distribution over classes_")
    return np.clip(proba, 0.0, 1.0)


def checked_predict(model, inputs, n_rows, *, whose="target"):
    """``model.predict(inputs)`` checked to hold one label per input.

    Raises ``ValueError`` naming ``whose`` unless the answer is 1-D of length
    ``n_rows``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn._target import checked_predict
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> checked_predict(model, [[0.2], [0.8]], 2).tolist()
    [0, 1]
    """
    labels = np.asarray(model.predict(inputs))
    if labels.shape != (n_rows,):
        raise ValueError(f"{_name(model, whose)}'s predict returned shape {labels.shape} "
                         f"for {n_rows} inputs; expected ({n_rows},): one label per input")
    return labels


class _StateWriter:
    """A file-like sink that only hashes what is written to it."""

    def __init__(self):
        self.digest = hashlib.blake2b(digest_size=16)

    def write(self, data):
        self.digest.update(data)


def _module_state(name, tensors):               # never called: the digest only
    return name, tensors


class _StatePickler(pickle.Pickler):
    """Pickles a model for hashing; torch modules as their parameters and buffers.

    A torch module's pickle also holds its train/eval flag, which every
    ``predict`` of a skorch model flips; the ``state_dict`` is the fitted state.
    Estimators are taken by their attributes, bypassing their own
    ``__getstate__``.
    """

    def reducer_override(self, obj):
        torch = sys.modules.get("torch")             # keep torch lazy
        if torch is not None:
            if isinstance(obj, torch.nn.Module):
                return _module_state, (type(obj).__qualname__, [
                    (key, value.detach().cpu().numpy())
                    for key, value in obj.state_dict().items()])
            if isinstance(obj, torch.Tensor):
                return _module_state, ("tensor", obj.detach().cpu().numpy())
        if isinstance(obj, np.ndarray) and (type(obj) is not np.ndarray
                                            or not obj.flags.writeable):
            # A memory-mapped (joblib.load(mmap_mode=...)), read-only or other
            # subclass array: digest it as the plain writable array it holds
            # (protocol 5 pickles read-only and writable buffers differently).
            return np.array(obj).__reduce_ex__(pickle.HIGHEST_PROTOCOL)
        if isinstance(obj, types.FunctionType) and "<" in obj.__qualname__:
            # A lambda or local function (a FunctionTransformer's, say) cannot be
            # pickled by name; digest what it computes: its code, constants,
            # defaults and closure (without this such a target had no digest, and a
            # refit went unnoticed).
            code = obj.__code__
            consts = tuple(c.co_code if isinstance(c, types.CodeType) else c
                           for c in code.co_consts)
            cells = tuple(cell.cell_contents for cell in obj.__closure__ or ())
            return _module_state, ("function", obj.__module__, obj.__qualname__,
                                   code.co_code, consts, obj.__defaults__, cells)
        if isinstance(obj, BaseEstimator):
            # Its attributes as they are: an estimator's own __getstate__ (skorch
            # serialises its modules with torch.save, train/eval flag included)
            # would hide them from reducer_override.
            # Sorted by name: unpickling (skorch's __setstate__) can reorder them.
            return _module_state, (type(obj).__qualname__, sorted(vars(obj).items()))
        return NotImplemented


def model_state(model):
    """A digest of ``model``'s fitted state, or None where it cannot be taken.

    Two calls give the same digest while the model is unchanged and a different
    one after it is refitted (``id(model)`` would not: a refit keeps the
    object).  Attacks key their cached work on it.  The digest hashes the
    pickled model (torch modules by their parameters and buffers), one pass over
    its state: negligible beside the queries it saves.  Models that cannot be
    pickled give None (nothing is cached for them).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn._target import model_state
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> before = model_state(model)
    >>> before == model_state(model), before == model_state(model.fit([[0.0], [1.0]], [1, 0]))
    (True, False)
    """
    # ``fast`` (no memo) first: the memo's back-references depend on which
    # objects happen to be shared (a forest's trees share objects that a pickle
    # round trip un-shares), so only a memo-free stream gives the same digest for
    # a model and its unpickled copy.  Cyclic models need the memo.
    for fast in (True, False):
        sink = _StateWriter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pickler = _StatePickler(sink, protocol=pickle.HIGHEST_PROTOCOL)
                pickler.fast = fast
                pickler.dump(model)
        except ValueError as exc:
            if fast and "cyclic" in str(exc):
                continue                               # cyclic: again with the memo
            return None
        except Exception:                              # unpicklable: no digest
            return None
        return sink.digest.hexdigest()
    return None


class StaleTargetError(ValueError):
    """An attack is used on a target whose fitted state changed since ``fit``.

    A ``ValueError`` (like sklearn's ``NotFittedError``, the closest existing
    error: the attack is not fitted *for this target*).  Raised rather than
    warned: the attack's thresholds or attack model were learned from the old
    target's answers, so its scores on the new target are silently wrong, and a
    warning is easily lost in a loop of audits.  Refit the attack.

    Examples
    --------
    >>> from privlearn._target import StaleTargetError
    >>> issubclass(StaleTargetError, ValueError)
    True
    """


def remember_target(owner, target):
    """Record ``target``'s digest on ``owner`` (an attack), at the end of its ``fit``.

    Call it only where the attack's fitted state was learned from the target's
    answers; pass ``target=None`` where it was not (the shadow protocol), which
    forgets any earlier digest.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn._target import remember_target
    >>> attack = SimpleNamespace()
    >>> remember_target(attack, LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    >>> len(attack._target_state)
    32
    """
    owner._target_state = None if target is None else model_state(target)


def check_target_unchanged(owner, target):
    """Raise :class:`StaleTargetError` if ``target`` changed since ``owner.fit``.

    Compares :func:`model_state` now with the digest :func:`remember_target`
    took: one hash of the model per prediction call (not per record).  Models
    that cannot be pickled (no digest) are not checked.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn._target import (StaleTargetError, check_target_unchanged,
    ...                                remember_target)
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> attack = SimpleNamespace()
    >>> remember_target(attack, model)
    >>> check_target_unchanged(attack, model)
    >>> _ = model.fit([[0.0], [1.0]], [1, 0])
    >>> try:
    ...     check_target_unchanged(attack, model)
    ... except StaleTargetError:
    ...     print("stale")
    stale
    """
    fitted = getattr(owner, "_target_state", None)
    if fitted is None:
        return
    now = model_state(target)
    if now is not None and now != fitted:
        name = type(owner).__name__
        raise StaleTargetError(
            f"{name} was fitted against a different state of its target "
            f"({type(target).__name__}): the target was refitted or replaced since "
            f"{name}.fit, so what the attack learned from the target's answers no "
            f"longer applies.  Refit the attack ({name}.fit) on the current target.")

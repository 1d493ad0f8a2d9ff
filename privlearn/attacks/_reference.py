"""Reference (shadow) models trained on random halves of an attacker's pool.

LiRA (Carlini et al., S&P 2022) and RMIA (Zarifzadeh et al., ICML 2024) compare
the target's answer on a record with the answers of models that did and did not
train on it.  :class:`ReferenceModels` trains those models once -- in parallel
through joblib, so ``joblib.parallel_config(backend="dask")`` spreads them over a
dask cluster unchanged -- remembers which pool records each one saw, and can be
pickled and handed to any number of attacks (``LiRA(target, reference=ref)``,
``RMIA(target, reference=ref)``).

The membership design is the one of the LiRA paper's released experiments: for
every record a random half of the models train on it, so each record is IN for
exactly ``n_models // 2`` models and OUT for the rest (``n_models`` odd: the
extra model is OUT), and each model trains on about half of the pool.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._checks import validate_params
from .._target import check_target, checked_predict_proba
from ..records import Records
from ._base import (MembershipAttack, check_finite_inputs, check_labels_in_classes,
                    check_records)
from ._features import label_columns

__all__ = ["ReferenceModels", "ReferenceAttack", "reference_attack_scores",
           "label_probabilities", "record_keys", "query_views"]

# Smallest probability kept before taking logarithms (float64 keeps 1 - 1e-12 apart
# from 1, so the logit-scaled confidence stays finite and ordered).
PROBA_FLOOR = 1e-12
# Draws of the random halves before a pool counts as too small.
_MAX_DRAWS = 100
# Records the target is first queried on, to check its answers before training.
_PROBE = 256


def label_probabilities(model, X, *, whose="target"):
    """The model's probability of each record's true label and of all other labels.

    ``p_rest`` is the sum of the other columns rather than ``1 - p_y``, so a
    confidence of ``1 - 1e-9`` keeps its precision (Carlini et al. compute the
    logit-scaled confidence the same way, from the other classes' mass).

    Parameters
    ----------
    model : fitted classifier with ``predict_proba`` and ``classes_``
    X : Records
    whose : str
        Names the model in error messages.

    Returns
    -------
    p_y, p_rest : ndarray of shape (n_records,)
        Labels the model never saw get ``p_y = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn import Records
    >>> from privlearn.attacks._reference import label_probabilities
    >>> clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> p_y, p_rest = label_probabilities(clf, Records(np.array([[0.0]]), [0]))
    >>> bool(np.isclose(p_y + p_rest, 1.0).all())
    True
    """
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise TypeError(f"the {whose} ({type(model).__name__}) must expose classes_ (the "
                        "column order of predict_proba)")
    # The posterior check every attack shares: shape, finite, in [0, 1], rows sum to 1.
    proba = checked_predict_proba(model, X.inputs, len(X), whose=whose)
    columns, known = label_columns(classes, X.labels)
    rows = np.arange(len(X))
    p_y = np.where(known, proba[rows, columns], 0.0)
    p_rest = proba.sum(axis=1) - p_y
    return np.clip(p_y, 0.0, 1.0), np.clip(p_rest, 0.0, 1.0)


def record_keys(X, *, dtype=None, label_values=None):
    """One fixed-size byte key per record (its input bytes and its label's code).

    Records with equal inputs and labels get equal keys, so a record is found in
    a pool without comparing arrays one by one.  ``dtype`` is the pool's input
    dtype, which the keys use; ``label_values`` the pool's sorted labels
    (a label outside them gets code -1).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn import Records
    >>> from privlearn.attacks._reference import record_keys
    >>> k = record_keys(Records(np.array([[1, 2], [1, 2], [3, 4]]), [0, 0, 0]))
    >>> bool(k[0] == k[1]), bool(k[0] == k[2])
    (True, False)
    """
    inputs = np.asarray(X.inputs)
    if inputs.dtype.kind == "O":     # object arrays of numbers: compare their values
        inputs = inputs.astype(np.float64)
    if dtype is not None and inputs.dtype != dtype:
        inputs = inputs.astype(dtype)
    rows = np.ascontiguousarray(inputs).reshape(len(inputs), -1).view(np.uint8)
    labels = np.asarray(X.labels)
    if label_values is None:
        label_values = np.unique(labels)
    columns, known = label_columns(label_values, labels)
    codes = np.where(known, columns, -1).astype("<i8").reshape(-1, 1).view(np.uint8)
    key = np.ascontiguousarray(np.concatenate([rows.reshape(len(rows), -1), codes], axis=1))
    return key.view(np.dtype((np.void, key.shape[1]))).ravel()


def _seeded(estimator, seed):
    """A clone of ``estimator`` with every ``random_state`` parameter set to ``seed``."""
    model = clone(estimator)
    if seed is not None and hasattr(model, "get_params"):
        names = [k for k in model.get_params(deep=True)
                 if k == "random_state" or k.endswith("__random_state")]
        if names:
            model.set_params(**dict.fromkeys(names, seed))
    return model


def _as_records(X, argument="X"):
    """Records as they are; a bare array of images becomes Records of label 0
    (encoders and their reference encoders read no labels)."""
    if isinstance(X, Records) or X is None or isinstance(X, (str, bytes, dict)):
        return check_records(X, argument=argument)
    inputs = np.asarray(X)
    if inputs.ndim < 2 or inputs.dtype.kind not in "biuf":
        return check_records(X, argument=argument)
    return check_records(Records(inputs, np.zeros(len(inputs), dtype=np.int64)),
                         argument=argument)


def _fit_one(estimator, inputs, labels):
    # Runs in a joblib worker (a process or a dask worker): one reference model.
    return estimator.fit(inputs, labels)


class ReferenceModels(BaseEstimator):
    """Reference models on random halves of a pool: train once, attack many times.

    Parameters
    ----------
    estimator : unfitted classifier with ``predict_proba``, or unfitted transformer
        The training recipe (cloned for every model), e.g. the target's own
        recipe, or ``make_pipeline(pl.SimCLR(...), LogisticRegression())``.  A
        transformer (``fit`` and ``transform``, no ``predict_proba``, e.g.
        ``pl.SimCLR(...)``) gives reference *encoders*, trained on the images of
        their halves without labels (for :class:`privlearn.attacks.EncoderLiRA`).
    n_models : int, default=16
        Number of models.  Each pool record trains ``n_models // 2`` of them.
    random_state : int, RandomState instance or None, default=None
        Draws the halves and, when not None, one seed per model that is set on
        every ``random_state`` parameter of its clone (so the models differ and a
        rerun repeats them).
    n_jobs : int or None, default=None
        Models trained in parallel by joblib (``-1``: all cores).  Under
        ``joblib.parallel_config(backend="dask")`` they train on a dask cluster.
    verbose : bool, default=False
        Show a tqdm progress bar over the trained models.
    batched : {"auto", True, False}, default="auto"
        Train all models in one vectorised pass
        (:func:`privlearn.ensemble.fit_ensemble`).  ``"auto"`` batches when the
        recipe supports it (:func:`~privlearn.ensemble.ensemble_support`) *and*
        trains on a CUDA device, where a small network's step is launch overhead;
        on a CPU the step is compute-bound and batching was measured slower
        (``benchmarks/bench_ensemble.py``), so ``"auto"`` uses joblib there.
        ``True`` batches (a recipe that cannot be batched raises ``ValueError``);
        ``False`` never does.

    Attributes
    ----------
    batched_ : bool
        Whether the models were trained batched.
    models_ : list of fitted estimators
    in_ : ndarray of bool, shape (n_models, n_pool)
        ``in_[k, i]``: model ``k`` trained on pool record ``i``.
    n_pool_ : int
        Number of pool records.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> import privlearn as pl
    >>> X, y = load_digits(return_X_y=True)
    >>> pool = pl.Records(X[:200], y[:200])
    >>> ref = pl.attacks.ReferenceModels(LogisticRegression(max_iter=200), n_models=4,
    ...                                  random_state=0).fit(pool)
    >>> ref.in_.sum(axis=0).tolist()[:5]
    [2, 2, 2, 2, 2]
    >>> ref.seen(pool[:3])[0].shape
    (4, 3)
    """

    _parameter_constraints = {
        "estimator": "no_validation",               # checked by _check_recipe
        "n_models": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [None, Interval(numbers.Integral, None, -1, closed="right"),
                   Interval(numbers.Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "batched": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(self, estimator, n_models=16, random_state=None, n_jobs=None,
                 verbose=False, batched="auto"):
        self.estimator = estimator
        self.n_models = n_models
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.batched = batched

    # --- checks -----------------------------------------------------------------
    def _is_transformer(self):
        """The recipe is an encoder (``fit`` + ``transform``, no ``predict_proba``)."""
        est = self.estimator
        return (not callable(getattr(est, "predict_proba", None))
                and callable(getattr(est, "transform", None)))

    def _check_recipe(self):
        est = self.estimator
        if not callable(getattr(est, "fit", None)) or not (
                callable(getattr(est, "predict_proba", None))
                or callable(getattr(est, "transform", None))):
            raise TypeError("`shadow` (the reference models' recipe) must be an estimator "
                            "with fit() and predict_proba() (a classifier) or transform() "
                            f"(an encoder), got {type(est).__name__}")

    def _check_params(self, X):
        self._check_recipe()
        n = self.n_models
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"`n_shadows` (number of reference models) must be a "
                             f"positive integer, got {n!r}")
        # The rest through scikit-learn's constraints (n_jobs, batched, verbose,
        # random_state); n_models above keeps the name LiRA's users know.  A bool is
        # an Integral to the constraints, not a number of jobs.
        if isinstance(self.n_jobs, bool):
            raise ValueError(f"`n_jobs` must be None or a non-zero integer, got "
                             f"{self.n_jobs!r}")
        validate_params(self)
        # Each model trains on about half of the pool: a pool of fewer than
        # 2 records per model's half leaves some model with nothing to train on.
        if len(X) < 2:
            raise ValueError(f"the pool holds {len(X)} record(s) (n_samples = {len(X)}); "
                             "reference models need at least 2 (each trains on a random "
                             "half)")
        if not self._is_transformer() and len(np.unique(np.asarray(X.labels))) < 2:
            raise ValueError("the pool's labels hold only one class; reference models "
                             "are classifiers and need at least 2 classes")

    def _use_batched(self):
        """Resolve ``batched`` (checked before any training)."""
        from ..ensemble import _pipeline_head, ensemble_support

        batched = self.batched
        if batched not in ("auto", True, False):      # checked in fit; kept for direct calls
            raise ValueError(f"`batched` must be 'auto', True or False, got {batched!r}")
        if batched is False:
            return False
        ok, why = ensemble_support(self.estimator)
        if batched is True:
            if not ok:
                raise ValueError(f"batched=True but the recipe cannot be batched: {why}; "
                                 "use batched='auto' or False")
            return True
        device = str(getattr(_pipeline_head(self.estimator)[0], "device", "cpu"))
        return ok and device.startswith("cuda")

    def _draw_halves(self, n_pool, rng):
        n = self.n_models
        if n == 1:              # one model: a random half of the pool
            return (rng.random_sample((1, n_pool)) < 0.5)
        # For every record, a random permutation of the models; the first half are IN.
        ranks = rng.random_sample((n, n_pool)).argsort(axis=0).argsort(axis=0)
        return ranks < n // 2

    def _warn_if_halves_lack_classes(self, in_, labels):
        """Warn when some model's half misses half the pool's classes or more: its
        answers on those classes are constant, the OUT spread collapses and
        LiRA-style scores blow up without a word."""
        if self._is_transformer():
            return
        classes = np.unique(labels)
        if len(classes) < 2:
            return
        seen = np.array([len(np.unique(labels[mask])) for mask in in_])
        if seen.min() * 2 <= len(classes):
            warnings.warn(
                f"the pool of {len(labels)} records is small for n_shadows={self.n_models} "
                f"(`n_models`): reference model {int(np.argmin(seen))} trained on "
                f"{int(in_[np.argmin(seen)].sum())} records covering {int(seen.min())} of "
                f"the pool's {len(classes)} classes, so its answers on the others are "
                "uninformative and the attack's scores unreliable; use a larger pool",
                UserWarning, stacklevel=3)

    # --- fitting --------------------------------------------------------------
    def fit(self, X, y=None):
        """Train the reference models on random halves of the pool ``X``.

        Parameters
        ----------
        X : Records, or array of images for an encoder recipe
            The attacker's pool (it may hold the candidates to attack).
        y : ignored
            Present for the estimator API (membership is not needed).

        Returns
        -------
        self : ReferenceModels
        """
        self._check_recipe()
        X = _as_records(X) if self._is_transformer() else check_records(X)
        self._check_params(X)
        check_finite_inputs(X)
        rng = check_random_state(self.random_state)
        labels = np.asarray(X.labels)
        # Every model must see at least two classes: redraw the halves (a few
        # times at most, on tiny pools) until it does.
        # Encoders need no labels: only that every model trains on 2 records or more.
        need = 2
        for _ in range(_MAX_DRAWS):
            in_ = self._draw_halves(len(X), rng)
            n_seen = (in_.sum(axis=1) if self._is_transformer()
                      else np.array([len(np.unique(labels[mask])) for mask in in_]))
            if (n_seen >= need).all():
                break
        else:
            k = int(np.argmin(n_seen))
            raise ValueError(
                f"the pool of {len(X)} records is too small for n_shadows="
                f"{self.n_models}: in {_MAX_DRAWS} draws of the halves, reference model "
                f"{k} always trained on " + ("fewer than 2 records" if self._is_transformer()
                                             else "records of fewer than 2 classes")
                + "; use a larger pool")
        self._warn_if_halves_lack_classes(in_, labels)
        seeds = (rng.randint(np.iinfo(np.int32).max, size=self.n_models)
                 if self.random_state is not None else [None] * self.n_models)
        inputs = np.asarray(X.inputs)
        self.batched_ = self._use_batched()
        if self.batched_:
            from ..ensemble import fit_ensemble

            # An encoder recipe trains on images alone (self-supervised): no labels.
            self.models_ = fit_ensemble(
                [_seeded(self.estimator, None if s is None else int(s)) for s in seeds],
                [(inputs[np.flatnonzero(mask)],
                  None if self._is_transformer() else labels[mask]) for mask in in_])
        else:
            jobs = (delayed(_fit_one)(_seeded(self.estimator, None if s is None else int(s)),
                                      inputs[np.flatnonzero(mask)],
                                      None if self._is_transformer() else labels[mask])
                    for mask, s in zip(in_, seeds))
            parallel = Parallel(n_jobs=self.n_jobs, return_as="generator")
            models = parallel(jobs)
            if self.verbose:
                from tqdm.auto import tqdm
                models = tqdm(models, total=self.n_models, desc="reference models")
            self.models_ = list(models)
        self.in_ = in_
        self.n_pool_ = len(X)
        self.input_shape_ = tuple(inputs.shape[1:])
        # Pool records are found again by their bytes; duplicates in the pool
        # count as IN for a model that trained on any copy.
        self.pool_labels_ = np.unique(labels)
        keys = record_keys(X, label_values=self.pool_labels_)
        self.pool_dtype_ = keys_dtype = np.asarray(X.inputs[:1]).dtype
        if keys_dtype.kind == "O":
            self.pool_dtype_ = np.dtype(np.float64)
        self.keys_, inverse = np.unique(keys, return_inverse=True)
        key_in = np.zeros((self.n_models, len(self.keys_)), dtype=bool)
        np.logical_or.at(key_in, (slice(None), inverse.ravel()), in_)
        self.key_in_ = key_in
        return self

    # --- queries ----------------------------------------------------------------
    def seen(self, X):
        """Which models trained on each record of ``X``.

        Returns
        -------
        in_ : ndarray of bool, shape (n_models, n_records)
            All False for records that are not in the pool.
        in_pool : ndarray of bool, shape (n_records,)
            Whether each record is in the pool.
        """
        check_is_fitted(self, "models_")
        X = _as_records(X)
        if (getattr(self, "input_shape_", None) is not None
                and tuple(np.shape(X.inputs)[1:]) != self.input_shape_):
            # Other image size or channels: no record can be in the pool.
            return (np.zeros((self.n_models, len(X)), dtype=bool),
                    np.zeros(len(X), dtype=bool))
        keys = record_keys(X, dtype=self.pool_dtype_, label_values=self.pool_labels_)
        if keys.dtype != self.keys_.dtype:   # other input shape: no record matches
            return (np.zeros((self.n_models, len(X)), dtype=bool),
                    np.zeros(len(X), dtype=bool))
        where = np.clip(np.searchsorted(self.keys_, keys), 0, len(self.keys_) - 1)
        in_pool = self.keys_[where] == keys
        in_ = self.key_in_[:, where] & in_pool[None, :]
        return in_, in_pool

    def label_probabilities(self, X):
        """Every model's probability of each record's true label (and of the rest).

        Returns
        -------
        p_y, p_rest : ndarray of shape (n_models, n_records)
        """
        check_is_fitted(self, "models_")
        X = check_records(X)
        pairs = [label_probabilities(m, X, whose=f"reference model {k}")
                 for k, m in enumerate(self.models_)]
        return (np.stack([p for p, _ in pairs]), np.stack([r for _, r in pairs]))


# --------------------------------------------------------------------------- attacks
AUGMENTS = (None, "flip")


def query_views(X, augment):
    """The records an attack queries: ``X`` itself, then its augmented copies.

    ``augment``: None (``X`` only), ``"flip"`` (``X`` and its horizontal mirror,
    for images), or a callable mapping the inputs array to one augmented inputs
    array or a list of them (each of the same length).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn import Records
    >>> from privlearn.attacks._reference import query_views
    >>> views = query_views(Records(np.arange(8).reshape(2, 1, 2, 2), [0, 1]), "flip")
    >>> len(views), views[1].inputs[0, 0, 0].tolist()
    (2, [1, 0])
    """
    if augment is None:
        return [X]
    if isinstance(augment, str):
        if augment != "flip":
            raise ValueError(f"`augment` must be None, 'flip' or a callable, got {augment!r}")
        if np.ndim(X.inputs) < 3:
            raise ValueError("`augment='flip'` mirrors images (N×H×W or N×C×H×W); the "
                             f"records have inputs of shape {tuple(np.shape(X.inputs))}")
        return [X, Records(np.ascontiguousarray(np.asarray(X.inputs)[..., ::-1]), X.labels)]
    if not callable(augment):
        raise TypeError(f"`augment` must be None, 'flip' or a callable, got "
                        f"{type(augment).__name__}")
    extra = augment(X.inputs)
    extra = list(extra) if isinstance(extra, (list, tuple)) else [extra]
    shape = np.shape(X.inputs)
    for view in extra:
        if np.shape(view) != shape:
            raise ValueError(f"`augment` returned inputs of shape {np.shape(view)} for "
                             f"inputs of shape {shape}; it must return one augmented input "
                             "of the same shape per record")
    views = [Records(view, X.labels) for view in extra]
    for view in views:
        check_finite_inputs(view, argument="augment(X)")
    return [X] + views


class ReferenceAttack(MembershipAttack):
    """Base of the attacks that compare the target with reference models.

    ``fit(X)`` trains (or takes) :class:`ReferenceModels` on the pool ``X``;
    subclasses implement ``_fit_reference_attack(X)`` and ``_decision(X)``.
    """

    _min_models = 2

    def __sklearn_clone__(self):
        # The target and a fitted ``reference`` stay shared (both are fitted models
        # an attack reads); every other parameter is cloned as usual.
        params = self.get_params(deep=False)
        cloned = {key: (value if key in ("target", "reference") else clone(value, safe=False))
                  for key, value in params.items()}
        return type(self)(**cloned)

    def _check_common(self):
        if not isinstance(self.verbose, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"`verbose` must be a bool, got {type(self.verbose).__name__}")
        if self.augment is not None and not (callable(self.augment) or self.augment in AUGMENTS):
            raise ValueError(f"`augment` must be None, 'flip' or a callable, got "
                             f"{self.augment!r}")

    def _reference_models(self, X):
        reference = self.reference
        if reference is not None:
            if not isinstance(reference, ReferenceModels):
                raise TypeError("`reference` must be a fitted privlearn.attacks.ReferenceModels "
                                f"(or None), got {type(reference).__name__}")
            check_is_fitted(reference, "models_")
            n = len(reference.models_)
        else:
            if self.shadow is None:
                raise ValueError("give `shadow` (an unfitted classifier to train the "
                                 "reference models) or `reference` (fitted ReferenceModels)")
            n = self.n_shadows
            reference = ReferenceModels(self.shadow, n_models=self.n_shadows,
                                        random_state=self.random_state, n_jobs=self.n_jobs,
                                        verbose=self.verbose)
            reference._check_params(X)
        if not isinstance(n, numbers.Integral) or n < self._min_models:
            raise ValueError(f"{type(self).__name__} needs at least {self._min_models} "
                             f"reference models (every record must be OUT of at least "
                             f"one), got n_shadows={n!r}")
        return reference

    def fit(self, X, y=None):
        """Train the reference models on the pool ``X`` (or take ``reference``).

        Parameters
        ----------
        X : Records
            The attacker's pool: inputs with their true labels.  It may hold
            the candidates to attack.
        y : ignored
            Membership is not needed (accepted so that ``cross_val_score`` and
            pipelines can pass it).

        Returns
        -------
        self : object
        """
        X = check_records(X)
        target = check_target(self.target, needs=self._target_methods)
        if getattr(target, "classes_", None) is None:
            raise TypeError("`target` must expose classes_ (the column order of "
                            f"predict_proba); {type(target).__name__} does not")
        self._check_common()
        check_finite_inputs(X)
        self._check_params(target, X)
        check_labels_in_classes(target, X.labels)
        # The target must answer on the pool and on its augmented views (finite
        # posteriors) before any training.
        for view in query_views(X[:_PROBE], self.augment):
            label_probabilities(target, view, whose="target")
        reference = self._reference_models(X)
        if not hasattr(reference, "models_"):
            reference.fit(X)
        self.reference_ = reference
        self.classes_ = np.array([0, 1])
        if np.ndim(X.inputs) == 2:
            self.n_features_in_ = X.inputs.shape[1]
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        self._fit_reference_attack(X)
        return self

    def _check_params(self, target, X):
        """Subclasses check their own parameters against the target and the pool ``X``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # fit ignores y: any y (binary or not) is accepted.
        tags.classifier_tags.multi_class = True
        return tags

    # --- what the models answer -----------------------------------------------
    def _probabilities(self, X):
        """Target and reference probabilities of the true label, per query view.

        Returns ``(t_y, t_rest)`` of shape (n_views, n) and ``(r_y, r_rest)`` of
        shape (n_views, n_models, n).
        """
        t_y, t_rest, r_y, r_rest = [], [], [], []
        for view in query_views(X, self.augment):
            p, rest = label_probabilities(self.target, view, whose="target")
            t_y.append(p)
            t_rest.append(rest)
            p, rest = self.reference_.label_probabilities(view)
            r_y.append(p)
            r_rest.append(rest)
        return (np.stack(t_y), np.stack(t_rest)), (np.stack(r_y), np.stack(r_rest))


def __getattr__(name):
    # reference_attack_scores moved to ._reference_scores, a floor above LiRA and
    # RMIA (it uses both), so that this module imports neither; the old name
    # resolves lazily until privlearn.attacks imports it from its new home.
    if name == "reference_attack_scores":
        from ._reference_scores import reference_attack_scores
        return reference_attack_scores
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

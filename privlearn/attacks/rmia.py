"""RMIA: the relative membership inference attack (Zarifzadeh et al., ICML 2024).

A record ``x`` is a member when the target makes it more likely, *relative to
the reference models*, than it makes typical population records ``z``:

``LR(x) = Pr(x | θ) / Pr(x)``, and the score is the fraction of population
records with ``LR(x) / LR(z) > γ``.  ``Pr(x | θ)`` is the target's probability
of the true label; ``Pr(x)`` averages the reference models.  In the offline form
only reference models that did not train on ``x`` are used, and their mean
``Pr_OUT(x)`` is corrected towards what IN models would add:
``Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2``.  The comparison with many
population records makes the attack strong with few reference models.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import check_flag
from .._target import remember_target
from ._base import check_finite_inputs, check_labels_in_classes, check_records
from ._reference import PROBA_FLOOR, ReferenceAttack

__all__ = ["RMIA"]

# Relative margin below which two log likelihood ratios count as equal.
_TIE = 1e-9


class RMIA(ReferenceAttack):
    """Relative membership inference (RMIA) with reference models.

    ``fit(X)`` trains ``n_shadows`` clones of ``shadow`` on random halves of the
    pool ``X`` (or takes a fitted ``reference``, e.g. the one of a
    :class:`~privlearn.LiRA`) and computes the likelihood ratios of the
    population records.

    Parameters
    ----------
    target : fitted classifier with ``predict_proba``
        The model under attack (kept by reference by ``clone``).
    shadow : unfitted classifier or None, default=None
        The reference models' training recipe.  Not needed with ``reference``.
    n_shadows : int, default=4
        Number of reference models to train (at least 2).
    online : bool, default=False
        False (the paper's offline RMIA): ``Pr(x)`` from the models that left
        ``x`` out, corrected with ``offline_a``; scores any record.  True: the
        mean over all reference models (IN and OUT).
    offline_a : float, default=0.3
        The offline correction ``a`` in [0, 1] (1: no correction).
    gamma : float, default=1.0
        The pairwise threshold γ >= 1 on ``LR(x) / LR(z)``.  For a fixed
        population the ranking of records does not depend on it (up to ties).
    population : Records or None, default=None
        The population records ``z``.  None: the fitting pool.
    augment : None, "flip" or callable, default=None
        Extra queries; the probabilities are averaged over them.
    reference : ReferenceModels or None, default=None
        Fitted reference models to reuse (shared, not cloned).
    random_state : int, RandomState instance or None, default=None
    n_jobs : int or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    reference_ : ReferenceModels
    population_log_ratios_ : ndarray
        Sorted ``log LR(z)`` of the population records.
    classes_ : ndarray ``[0, 1]``

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> import privlearn as pl
    >>> X, y = load_digits(return_X_y=True)
    >>> target = DecisionTreeClassifier(random_state=0).fit(X[:150], y[:150])
    >>> pool = pl.Records(X[:300], y[:300])
    >>> rmia = pl.RMIA(target, DecisionTreeClassifier(), n_shadows=4, random_state=0)
    >>> scores = rmia.fit(pool).decision_function(pool)
    >>> bool(scores[:150].mean() > scores[150:].mean())
    True
    """

    def __init__(self, target, shadow=None, n_shadows=4, online=False, offline_a=0.3,
                 gamma=1.0, population=None, augment=None, reference=None,
                 random_state=None, n_jobs=None, verbose=False):
        self.target = target
        self.shadow = shadow
        self.n_shadows = n_shadows
        self.online = online
        self.offline_a = offline_a
        self.gamma = gamma
        self.population = population
        self.augment = augment
        self.reference = reference
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self, target, X):
        check_flag("online", self.online)
        a = self.offline_a
        if not isinstance(a, numbers.Real) or isinstance(a, bool) or not 0 <= a <= 1:
            raise ValueError(f"`offline_a` must be a number in [0, 1], got {a!r}")
        g = self.gamma
        if (not isinstance(g, numbers.Real) or isinstance(g, bool) or not g >= 1
                or not np.isfinite(g)):
            raise ValueError(f"`gamma` must be a finite number >= 1, got {g!r}")
        if self.population is not None:
            population = check_records(self.population, argument="population")
            shape, pool_shape = np.shape(population.inputs)[1:], np.shape(X.inputs)[1:]
            if shape != pool_shape:
                raise ValueError(f"`population` inputs have shape (n, {', '.join(map(str, shape))})"
                                 f" but the pool's are (n, {', '.join(map(str, pool_shape))}); "
                                 "both are records the target answers on")
            check_finite_inputs(population, argument="population")
            check_labels_in_classes(target, population.labels,
                                    argument="population.labels")

    def _log_ratios(self, X):
        (t_y, _), (r_y, _) = self._probabilities(X)
        p_target = t_y.mean(axis=0)                        # averaged over the queries
        r_y = r_y.mean(axis=0)                             # (n_models, n)
        if self.online:
            p_x = r_y.mean(axis=0)
        else:
            seen, _ = self.reference_.seen(X)
            out = ~seen
            p_out = (r_y * out).sum(axis=0) / np.maximum(out.sum(axis=0), 1)
            a = float(self.offline_a)
            p_x = 0.5 * ((1.0 + a) * p_out + (1.0 - a))
        return np.log(np.maximum(p_target, PROBA_FLOOR)) - np.log(np.maximum(p_x, PROBA_FLOOR))

    def _fit_reference_attack(self, X):
        population = X if self.population is None else self.population
        self.population_log_ratios_ = np.sort(self._log_ratios(population))
        self.decision_scale_ = 1.0
        # The population's ratios hold the target's answers: a refit of the
        # target makes them stale (StaleTargetError at prediction).
        remember_target(self, self.target)

    def score_samples(self, X):
        """RMIA's score: the fraction of population records ``z`` with
        ``LR(x) / LR(z) > gamma``, in [0, 1] (higher: more likely a member).

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.linear_model import LogisticRegression
        >>> import privlearn as pl
        >>> X, y = load_digits(return_X_y=True)
        >>> target = LogisticRegression(max_iter=300).fit(X[:100], y[:100])
        >>> pool = pl.Records(X[:200], y[:200])
        >>> rmia = pl.RMIA(target, LogisticRegression(max_iter=300), random_state=0)
        >>> s = rmia.fit(pool).score_samples(pool)
        >>> bool(s.min() >= 0 and s.max() <= 1)
        True
        """
        return self._score(self._checked_records(X))

    def _score(self, X):
        bound = self._log_ratios(X) - np.log(float(self.gamma))
        # LR(x) / LR(z) > gamma strictly; a margin of 1e-9 keeps ties (x itself,
        # when x is a population record) ties whatever the batch's rounding.
        bound = bound - _TIE * (1.0 + np.abs(bound))
        below = np.searchsorted(self.population_log_ratios_, bound, side="left")
        return below / len(self.population_log_ratios_)

    def _decision(self, X):
        # Member when more than half of the population lies below the record.
        return self._score(X) - 0.5

    def predict_proba(self, X):
        """``[1 - score, score]`` with the score of :meth:`score_samples`.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.linear_model import LogisticRegression
        >>> import privlearn as pl
        >>> X, y = load_digits(return_X_y=True)
        >>> target = LogisticRegression(max_iter=300).fit(X[:100], y[:100])
        >>> pool = pl.Records(X[:200], y[:200])
        >>> rmia = pl.RMIA(target, LogisticRegression(max_iter=300), random_state=0)
        >>> rmia.fit(pool).predict_proba(pool[:2]).shape
        (2, 2)
        """
        score = self.score_samples(X)
        return np.column_stack([1.0 - score, score])

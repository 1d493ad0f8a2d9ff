"""LiRA: the likelihood-ratio membership attack (Carlini et al., S&P 2022).

The target's *logit-scaled confidence* on a record's true label,
``φ = log(p_y / (1 - p_y))``, is close to Gaussian over the randomness of
training.  Reference models that trained on the record (IN) and that did not
(OUT) give two Gaussians per record; the attack's score is the log likelihood
ratio of the target's φ under them (online), or how far φ lies above the OUT
Gaussian (offline, a one-sided test needing no IN models).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from .._checks import check_flag
from ._reference import ReferenceAttack, PROBA_FLOOR

__all__ = ["LiRA", "logit_confidence"]

VARIANCES = ("auto", "per_record", "global")
#: Below this many reference models ``variance="auto"`` uses one global variance
#: (the LiRA paper's fixed-variance variant is the stronger one with few models).
AUTO_GLOBAL_BELOW = 64
# Floor on a standard deviation of φ (its units: nats of odds).
_MIN_STD = 1e-3


def logit_confidence(p_y, p_rest):
    """``log(p_y) - log(p_rest)``, with both probabilities floored at 1e-12.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks.lira import logit_confidence
    >>> logit_confidence(np.array([0.5, 0.9]), np.array([0.5, 0.1])).round(3).tolist()
    [0.0, 2.197]
    """
    return np.log(np.maximum(p_y, PROBA_FLOOR)) - np.log(np.maximum(p_rest, PROBA_FLOOR))


def _masked_mean_std(values, mask):
    """Mean and standard deviation over axis -2 of ``values`` where ``mask``."""
    count = mask.sum(axis=-2)
    safe = np.maximum(count, 1)
    mean = (values * mask).sum(axis=-2) / safe
    var = (((values - mean[..., None, :]) ** 2) * mask).sum(axis=-2) / safe
    return mean, np.sqrt(var), count


class LiRA(ReferenceAttack):
    """Likelihood-ratio membership attack with reference (shadow) models.

    ``fit(X)`` trains ``n_shadows`` clones of ``shadow`` on random halves of the
    pool ``X`` (each record IN for half of them; see
    :class:`~privlearn.attacks.ReferenceModels`), or takes a fitted ``reference``.
    ``decision_function`` scores records on the target.

    Parameters
    ----------
    target : fitted classifier with ``predict_proba``
        The model under attack (kept by reference by ``clone``).
    shadow : unfitted classifier or None, default=None
        The reference models' training recipe (ideally the target's).  Not
        needed when ``reference`` is given.
    n_shadows : int, default=16
        Number of reference models to train (at least 2).
    online : bool, default=True
        True: Gaussian fits of φ for IN and OUT models and their log likelihood
        ratio; only records of the pool can be scored.  False: the one-sided test
        against the OUT Gaussian (OUT models only), which also scores records
        never seen in the pool.
    variance : {"auto", "per_record", "global"}, default="auto"
        Standard deviation of each Gaussian: per record, or one value per IN/OUT
        pooled over the pool's records (the paper's fixed variance).  ``"auto"``:
        global below 64 reference models.
    augment : None, "flip" or callable, default=None
        Extra queries: ``"flip"`` adds the horizontally mirrored image; a
        callable maps the inputs array to one augmented array (or a list).  The
        score is averaged over the queries, each with its own Gaussians.
    reference : ReferenceModels or None, default=None
        Fitted reference models to reuse (shared, not cloned); ``fit`` then
        trains nothing.
    random_state : int, RandomState instance or None, default=None
        Draws the halves and seeds the reference models.
    n_jobs : int or None, default=None
        Reference models trained in parallel by joblib.
    verbose : bool, default=False
        tqdm progress bar over the reference models.

    Attributes
    ----------
    reference_ : ReferenceModels
    variance_ : str
        The variance used ("per_record" or "global").
    global_std_ : ndarray of shape (n_queries, 2)
        Pooled standard deviation of φ around each record's IN and OUT means.
    classes_ : ndarray ``[0, 1]``
    decision_scale_ : float
        1: the log likelihood ratio is already a log odds.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> import privlearn as pl
    >>> X, y = load_digits(return_X_y=True)
    >>> target = DecisionTreeClassifier(random_state=0).fit(X[:150], y[:150])
    >>> pool = pl.Records(X[:300], y[:300])
    >>> lira = pl.LiRA(target, DecisionTreeClassifier(), n_shadows=4, random_state=0)
    >>> scores = lira.fit(pool).decision_function(pool)
    >>> bool(scores[:150].mean() > scores[150:].mean())
    True
    """

    def __init__(self, target, shadow=None, n_shadows=16, online=True, variance="auto",
                 augment=None, reference=None, random_state=None, n_jobs=None,
                 verbose=False):
        self.target = target
        self.shadow = shadow
        self.n_shadows = n_shadows
        self.online = online
        self.variance = variance
        self.augment = augment
        self.reference = reference
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _check_params(self, target, X):
        if self.variance not in VARIANCES:
            raise ValueError(f"`variance` must be one of {', '.join(map(repr, VARIANCES))}; "
                             f"got {self.variance!r}")
        check_flag("online", self.online)

    # --- the Gaussians ---------------------------------------------------------
    def _reference_phi(self, X):
        (t_y, t_rest), (r_y, r_rest) = self._probabilities(X)
        return logit_confidence(t_y, t_rest), logit_confidence(r_y, r_rest)

    def _fit_reference_attack(self, X):
        n_models = len(self.reference_.models_)
        self.variance_ = self.variance if self.variance != "auto" else (
            "global" if n_models < AUTO_GLOBAL_BELOW else "per_record")
        # Pooled spread of φ around each pool record's own IN / OUT mean.
        _, phi = self._reference_phi(X)
        seen, _ = self.reference_.seen(X)
        stds = []
        for mask in (seen, ~seen):
            mask = np.broadcast_to(mask, phi.shape)
            mean, _, count = _masked_mean_std(phi, mask)
            squared = (((phi - mean[:, None, :]) ** 2) * mask).sum(axis=(1, 2))
            dof = np.maximum(mask.sum(axis=(1, 2)) - (count > 0).sum(axis=1), 1)
            stds.append(np.sqrt(squared / dof))
        self.global_std_ = np.maximum(np.column_stack(stds), _MIN_STD)
        self.decision_scale_ = 1.0

    def _decision(self, X):
        phi_target, phi = self._reference_phi(X)
        seen, in_pool = self.reference_.seen(X)
        if self.online and not in_pool.all():
            missing = np.flatnonzero(~in_pool)
            raise ValueError(
                f"online LiRA scores only records of the pool it was fitted on; "
                f"{len(missing)} of {len(X)} records (e.g. index {missing[0]}) are not in "
                "it.  Fit on a pool that holds the candidates, or use online=False")
        in_mask = np.broadcast_to(seen, phi.shape)
        mean_out, std_out, n_out = _masked_mean_std(phi, ~in_mask)
        if (n_out == 0).any():
            raise ValueError("a record has no reference model that left it out; use more "
                             "reference models")
        if self.variance_ == "global":
            std_out = np.broadcast_to(self.global_std_[:, 1:2], mean_out.shape)
        std_out = np.maximum(std_out, _MIN_STD)
        if not self.online:
            # One-sided test: -log P(φ' >= φ) under the OUT Gaussian, averaged over
            # the queries, minus log 2 so that φ above the OUT mean counts as member.
            score = -norm.logsf(phi_target, mean_out, std_out)
            return score.mean(axis=0) - np.log(2.0)
        mean_in, std_in, _ = _masked_mean_std(phi, in_mask)
        if self.variance_ == "global":
            std_in = np.broadcast_to(self.global_std_[:, 0:1], mean_in.shape)
        std_in = np.maximum(std_in, _MIN_STD)
        ratio = (norm.logpdf(phi_target, mean_in, std_in)
                 - norm.logpdf(phi_target, mean_out, std_out))
        return ratio.mean(axis=0)


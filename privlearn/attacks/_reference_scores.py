"""Every reference-model attack's scores from one set of reference models.

Kept apart from :mod:`privlearn.attacks._reference` (which LiRA and RMIA build
on) so that the machinery never imports the attacks built on it.
"""

from __future__ import annotations

from ._base import check_records
from .lira import LiRA
from .rmia import RMIA

__all__ = ["reference_attack_scores"]


def reference_attack_scores(target, reference, pool, X=None):
    """LiRA (online and offline) and RMIA scores of ``X`` from one set of reference models.

    The one call an audit needs: the reference models are trained once
    (:class:`ReferenceModels`, possibly loaded from a checkpoint) and every
    attack reads them.

    Parameters
    ----------
    target : fitted classifier with ``predict_proba``
    reference : fitted ReferenceModels
        Trained on ``pool``.
    pool : Records
        The attacker's pool the reference models were trained on.
    X : Records or None, default=None
        The candidates to score; None: the pool.  Online LiRA needs them in the
        pool (``"lira_online"`` is left out otherwise).

    Returns
    -------
    scores : dict of str to ndarray of shape (n_candidates,)
        ``"lira_online"``, ``"lira_offline"``, ``"rmia"`` (offline, a = 0.3):
        higher means more likely a member.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> import privlearn as pl
    >>> from privlearn.attacks import ReferenceModels, reference_attack_scores
    >>> X, y = load_digits(return_X_y=True)
    >>> target = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
    >>> pool = pl.Records(X[:200], y[:200])
    >>> ref = ReferenceModels(DecisionTreeClassifier(), n_models=4, random_state=0).fit(pool)
    >>> sorted(reference_attack_scores(target, ref, pool))
    ['lira_offline', 'lira_online', 'rmia']
    """
    X = pool if X is None else check_records(X)
    scores = {}
    _, in_pool = reference.seen(X)
    if in_pool.all():
        scores["lira_online"] = LiRA(target, reference=reference).fit(pool).decision_function(X)
    scores["lira_offline"] = (LiRA(target, reference=reference, online=False).fit(pool)
                              .decision_function(X))
    scores["rmia"] = RMIA(target, reference=reference).fit(pool).decision_function(X)
    return scores

"""The privacy-utility trade-off of Talos, measured with a fresh attacker.

- :func:`privacy_utility_curve`: for each adversary weight λ, the utility of a
  Talos model and the accuracy of a fresh attribute-inference attacker on its
  frozen embeddings.
- :func:`plot_privacy_utility`: the curve as a plot.

Kept apart from :mod:`privlearn.talos` so that the estimators never import the
attacks.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn import config_context
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, check_cv, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import Bunch
from sklearn.utils._indexing import _safe_indexing

from ..attacks.attribute import AttributeInference
from .._checks import check_sensitive_attribute, is_int
from ..talos import Talos

__all__ = ["privacy_utility_curve", "plot_privacy_utility"]


def _talos_step(estimator):
    """``(pipeline, name of the Talos step or None)`` for a Talos or a Pipeline."""
    if isinstance(estimator, Talos):
        return make_pipeline(clone(estimator), LogisticRegression(max_iter=1000)), "talos"
    if isinstance(estimator, Pipeline):
        for name, step in estimator.steps[:-1]:
            if isinstance(step, Talos):
                return clone(estimator), name
    raise TypeError("privacy_utility_curve: `estimator` must be a privlearn.Talos or a "
                    "Pipeline with a Talos step before its final classifier, got "
                    f"{type(estimator).__name__}.")


def _check_weights(adversary_weights):
    weights = np.atleast_1d(np.asarray(adversary_weights, dtype=object))
    ok = len(weights) > 0 and all(
        isinstance(w, numbers.Real) and not isinstance(w, bool) and math.isfinite(w)
        and w >= 0 for w in weights)
    if not ok:
        raise ValueError("privacy_utility_curve: `adversary_weights` must be a non-empty "
                         f"list of finite numbers >= 0, got {adversary_weights!r}.")
    return np.asarray(weights, dtype=float)


def privacy_utility_curve(estimator, X, y, sensitive_features, adversary_weights, *,
                          cv=None, test_size=0.5, attack_model=None, random_state=None):
    """Utility and attribute leakage of Talos for each adversary weight λ.

    For every λ and every split of ``X`` into a training part (the model's
    records, the *victims*) and a held-out part, Talos (and its probe) is fitted
    on the training part, then

    - **utility**: the pipeline's task accuracy on the held-out part (for a bare
      Talos, a linear probe ``LogisticRegression`` on its embeddings);
    - **attack accuracy**: a *fresh* :class:`~privlearn.AttributeInference`
      attacker (default: the strong standardised MLP) is trained on the frozen
      embeddings of the held-out part (the attacker's auxiliary data) and scored
      on the victims, as in the paper;
    - **adversary accuracy**: Talos's own adversary's accuracy in its last
      training epoch.

    Parameters
    ----------
    estimator : Talos or Pipeline
        A Talos (a linear probe is appended) or a Pipeline with a Talos step
        before its final classifier; cloned for every fit, with its
        ``adversary_weight`` set to each λ.
    X : array-like of images
    y : array-like of shape (N,)
        Task labels.
    sensitive_features : array-like of shape (N,)
        The attribute to hide (and to attack).
    adversary_weights : sequence of float
        The λ values, each ≥ 0 (include 0 for the SimCLR reference).
    cv : None, int or cross-validation splitter, default=None
        ``None``: one stratified split with ``test_size`` held out.  An int:
        stratified, shuffled folds (seeded by ``random_state``); the training
        folds are the victims, the test fold the held-out part.
    test_size : float, default=0.5
        Held-out share when ``cv=None``.
    attack_model : classifier or None, default=None
        The attacker's recipe (see :class:`~privlearn.AttributeInference`);
        ``None`` is the default MLP.  Keep it strong.
    random_state : int or None, default=None
        Seeds the split and the attacker (Talos keeps its own ``random_state``).

    Returns
    -------
    curve : Bunch
        ``adversary_weight`` (n_λ,), ``utility``, ``attack_accuracy`` and
        ``adversary_accuracy`` (means over splits, (n_λ,)), the same per split
        with suffix ``_splits`` (n_λ, n_splits), ``attack_baseline`` (the
        victims' majority attribute rate) and ``utility_baseline`` (the held-out
        majority class rate), both averaged over splits.

    Examples
    --------
    >>> import privlearn as pl
    >>> from privlearn.defenses import privacy_utility_curve
    >>> data = pl.datasets.load("digits")
    >>> talos = pl.Talos(max_epochs=1, batch_size=128, random_state=0)
    >>> curve = privacy_utility_curve(talos, data.images[:300], data.target[:300],
    ...                               data.sensitive[:300], [0.0, 1.0], random_state=0)
    >>> curve.attack_accuracy.shape
    (2,)
    """
    weights = _check_weights(adversary_weights)
    s = check_sensitive_attribute(X, sensitive_features, owner="privacy_utility_curve")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(s):
        raise ValueError(f"privacy_utility_curve: `y` must be 1-D with {len(s)} labels "
                         f"(one per sample), got shape {y.shape}.")
    pipeline, name = _talos_step(estimator)
    indices = np.arange(len(y))
    if cv is None:
        splits = [train_test_split(indices, test_size=test_size, stratify=y,
                                   random_state=random_state)]
    else:
        if is_int(cv):
            cv = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
        splits = list(check_cv(cv, y, classifier=True).split(indices, y))

    shape = (len(weights), len(splits))
    utility, attack, adversary = np.empty(shape), np.empty(shape), np.empty(shape)
    attack_baseline, utility_baseline = [], []
    for j, (train, test) in enumerate(splits):
        X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
        attack_baseline.append(np.unique(s[train], return_counts=True)[1].max() / len(train))
        utility_baseline.append(np.unique(y[test], return_counts=True)[1].max() / len(test))
        for i, weight in enumerate(weights):
            model = clone(pipeline).set_params(**{f"{name}__adversary_weight": weight})
            # Plain fit parameters, whatever the global routing setting.
            with config_context(enable_metadata_routing=False):
                model.fit(X_train, y[train], **{f"{name}__sensitive_features": s[train]})
            utility[i, j] = model.score(X_test, y[test])
            attacker = AttributeInference(model, attack_model=attack_model,
                                          random_state=random_state)
            attack[i, j] = attacker.fit(X_test, s[test]).score(X_train, s[train])
            adversary[i, j] = model.named_steps[name].history_[-1, "adversary_acc"]
    return Bunch(adversary_weight=weights,
                 utility=utility.mean(axis=1), attack_accuracy=attack.mean(axis=1),
                 adversary_accuracy=adversary.mean(axis=1),
                 utility_splits=utility, attack_accuracy_splits=attack,
                 adversary_accuracy_splits=adversary,
                 attack_baseline=float(np.mean(attack_baseline)),
                 utility_baseline=float(np.mean(utility_baseline)))


def plot_privacy_utility(curve, ax=None):
    """Plot a :func:`privacy_utility_curve`: utility against attack accuracy.

    Each point is one λ (annotated at the fresh attacker's points); hollow
    squares show Talos's own adversary's training accuracy at the same λ; the
    dashed line is the attribute's majority-class rate, the accuracy of an
    attacker that learned nothing.

    Parameters
    ----------
    curve : Bunch
        The result of :func:`privacy_utility_curve`.
    ax : matplotlib Axes or None, default=None
        Where to draw (a new figure if None).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from privlearn.defenses import plot_privacy_utility
    >>> curve = Bunch(adversary_weight=np.array([0.0, 1.0]), utility=np.array([.9, .8]),
    ...               attack_accuracy=np.array([.7, .4]), attack_baseline=.3)
    >>> plot_privacy_utility(curve).get_xlabel()
    'attribute-inference accuracy (fresh attacker)'
    """
    import matplotlib.pyplot as plt

    for key in ("adversary_weight", "utility", "attack_accuracy", "attack_baseline"):
        if key not in curve:
            raise TypeError("plot_privacy_utility: `curve` must be the result of "
                            f"privacy_utility_curve; it has no {key!r}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    ax.plot(curve["attack_accuracy"], curve["utility"], "o-",
            label="fresh attacker on frozen embeddings")
    if "adversary_accuracy" in curve:
        ax.plot(curve["adversary_accuracy"], curve["utility"], "s--", fillstyle="none",
                label="Talos's own adversary (training)")
    for weight, x, y in zip(curve["adversary_weight"], curve["attack_accuracy"],
                            curve["utility"]):
        ax.annotate(f"λ={weight:g}", (x, y), textcoords="offset points", xytext=(4, 4))
    ax.axvline(curve["attack_baseline"], linestyle="--", color="grey",
               label="majority attribute rate")
    ax.set_xlabel("attribute-inference accuracy (fresh attacker)")
    ax.set_ylabel("task accuracy (held out)")
    ax.legend(loc="best")
    return ax

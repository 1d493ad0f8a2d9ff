"""The privacy-utility trade-off of Talos, measured with a fresh attacker.

- :func:`privacy_utility_curve`: for each adversary weight λ, the utility of a
  Talos model and the accuracy of a fresh attribute-inference attacker on its
  frozen embeddings.
- :func:`plot_privacy_utility`: the curve as a plot.
- :func:`compare_defenses`: several defenses (Talos, distribution matching,
  concept erasure, DP-SGD, ...) on the same data and budget against the same
  attacks: utility, the strongest membership attack, and the fresh attribute
  attacker against the majority baseline; :func:`defense_table` and
  :func:`plot_defenses` show the result.

Kept apart from :mod:`privlearn.talos` so that the estimators never import the
attacks.
"""

from __future__ import annotations

import inspect
import math
import numbers
import time

import numpy as np
from sklearn import config_context
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (StratifiedKFold, check_cv, cross_val_predict,
                                     train_test_split)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import Bunch
from sklearn.utils._indexing import _safe_indexing

from .attacks.attribute import AttributeInference, _check_attribute
from .attacks.membership import METHODS as MEMBERSHIP_METHODS
from .attacks.membership import MembershipInference
from .datasets import membership_set
from .encoders import _is_int
from .stats import fraction_of_excess_removed
from .talos import Talos, _check_sensitive_features

__all__ = ["privacy_utility_curve", "plot_privacy_utility", "compare_defenses",
           "defense_table", "plot_defenses"]


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
    >>> from privlearn.tradeoff import privacy_utility_curve
    >>> data = pl.datasets.load("digits")
    >>> talos = pl.Talos(max_epochs=1, batch_size=128, random_state=0)
    >>> curve = privacy_utility_curve(talos, data.images[:300], data.target[:300],
    ...                               data.sensitive[:300], [0.0, 1.0], random_state=0)
    >>> curve.attack_accuracy.shape
    (2,)
    """
    weights = _check_weights(adversary_weights)
    s = _check_sensitive_features(X, sensitive_features, owner="privacy_utility_curve")
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
        if _is_int(cv):
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
    >>> from privlearn.tradeoff import plot_privacy_utility
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


# --------------------------------------------------------------------------- defenses compared
def _defended_model(name, estimator):
    """The model to fit: a classifier (or Pipeline) as is; an encoder + linear probe."""
    if not callable(getattr(estimator, "fit", None)):
        raise TypeError(f"compare_defenses: defense {name!r} must be an encoder "
                        "(transform), a classifier or a Pipeline, got "
                        f"{type(estimator).__name__}.")
    if isinstance(estimator, Pipeline) or is_classifier(estimator):
        if not callable(getattr(estimator, "predict_proba", None)):
            raise TypeError(f"compare_defenses: defense {name!r} must end in a classifier "
                            "with predict_proba, or be an encoder with transform().")
        return clone(estimator)
    if callable(getattr(estimator, "transform", None)) and callable(
            getattr(estimator, "fit", None)):
        return make_pipeline(clone(estimator), LogisticRegression(max_iter=1000))
    raise TypeError(f"compare_defenses: defense {name!r} must be an encoder (transform), "
                    f"a classifier or a Pipeline, got {type(estimator).__name__}.")


def _steps(model):
    """``(name, step)`` pairs of a Pipeline; ``[(None, model)]`` for a bare model."""
    return model.steps if isinstance(model, Pipeline) else [(None, model)]


def _sensitive_fit_params(model, s):
    """``<step>__sensitive_features=s`` for every step whose fit takes it."""
    params = {}
    for name, step in _steps(model):
        fit = getattr(step, "fit", None)
        if fit is not None and "sensitive_features" in inspect.signature(fit).parameters:
            params["sensitive_features" if name is None
                   else f"{name}__sensitive_features"] = s
    return params


def _epsilon(model):
    """The DP-SGD ε of the model's network (``epsilon_`` of a step), else inf."""
    for _, step in _steps(model):
        epsilon = getattr(step, "epsilon_", None)
        if epsilon is not None:
            return float(epsilon)
    return math.inf


def compare_defenses(defenses, X, y, sensitive_features, *, reference=None,
                     test_size=0.5, attack_model=None,
                     membership_methods=MEMBERSHIP_METHODS, membership_cv=2,
                     random_state=None):
    """Several defenses on the same data, split and attacks: one row each.

    ``X`` is split once (stratified on ``y``) into the *members* (every model's
    training set, the victims) and a held-out part.  Each defense is fitted on
    the members (a bare encoder gets a linear probe ``LogisticRegression``; the
    attribute reaches every Pipeline step whose ``fit`` takes
    ``sensitive_features``: Talos, :class:`~privlearn.LinearConceptEraser`), then

    - **utility**: task accuracy on the held-out part;
    - **attribute attack**: a *fresh* :class:`~privlearn.AttributeInference`
      attacker (default: the standardised MLP) trained on the frozen embeddings
      of the held-out records (the attacker's auxiliary data) and scored on the
      members, against the members' majority attribute rate;
    - **leakage removed**: ``(attack[reference] - attack) / (attack[reference] -
      majority)``, the fraction of the reference's leakage *above the majority
      baseline* that the defense removes (1: the attacker learns nothing; 0: no
      change; negative: more leakage);
    - **membership**: the strongest :class:`~privlearn.MembershipInference`
      attack in audit mode (the auditor knows who is a member): for each method,
      the ROC AUC of ``membership_cv``-fold cross-validated decision scores on
      the members and as many held-out records; the best method is reported;
    - **ε**: the DP-SGD guarantee (``epsilon_``) where a step has one, else inf.

    Parameters
    ----------
    defenses : dict {name: estimator}
        Encoders (``transform``), classifiers, or Pipelines ending in a
        classifier; each is cloned.  Their ``random_state`` is their own.
    X : array-like of images
    y : array-like of shape (N,)
        Task labels.
    sensitive_features : array-like of shape (N,)
        The attribute to hide and to attack.
    reference : str or None, default=None
        The undefended model's name in ``defenses`` (default: the first).
    test_size : float, default=0.5
        Held-out share.
    attack_model : classifier or None, default=None
        The attribute attacker's recipe; ``None`` is the default MLP.  Keep it
        strong: a defense is only as good as the best attack it was tested with.
    membership_methods : sequence of str, default=all
        :class:`~privlearn.MembershipInference` methods to try.
    membership_cv : int, default=2
        Folds of the membership attack's cross-validation.
    random_state : int or None, default=None
        Seeds the split and the attackers.

    Returns
    -------
    result : Bunch
        ``defense`` (names), ``utility``, ``utility_cost`` (reference's utility
        minus each), ``attack_accuracy``, ``attack_baseline`` (majority rate),
        ``leakage_removed``, ``membership_auc``, ``membership_method``,
        ``epsilon``, ``fit_seconds`` (arrays, one entry per defense),
        ``reference``, ``n_members``, ``n_held_out``.

    See Also
    --------
    defense_table, plot_defenses, privacy_utility_curve

    Examples
    --------
    >>> import privlearn as pl
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from privlearn.tradeoff import compare_defenses
    >>> data = pl.datasets.load("digits", attribute="magnitude")
    >>> simclr = pl.SimCLR(max_epochs=1, batch_size=128, random_state=0)
    >>> result = compare_defenses(
    ...     {"SimCLR": simclr,
    ...      "SimCLR + LEACE": make_pipeline(simclr, pl.LinearConceptEraser(),
    ...                                      LogisticRegression(max_iter=500))},
    ...     data.images[:300], data.target[:300], data.sensitive[:300],
    ...     membership_methods=["confidence"], random_state=0)
    >>> result.leakage_removed.shape
    (2,)
    """
    if not isinstance(defenses, dict) or not defenses:
        raise TypeError("compare_defenses: `defenses` must be a non-empty dict "
                        f"{{name: estimator}}, got {type(defenses).__name__}.")
    names = list(defenses)
    reference = names[0] if reference is None else reference
    if reference not in defenses:
        raise ValueError(f"compare_defenses: `reference` {reference!r} is not one of the "
                         f"defenses {names}.")
    methods = list(membership_methods)
    unknown = sorted(set(methods) - set(MEMBERSHIP_METHODS))
    if not methods or unknown:
        raise ValueError(f"compare_defenses: `membership_methods` must be a non-empty list "
                         f"of {list(MEMBERSHIP_METHODS)}, got {membership_methods!r}.")
    if not _is_int(membership_cv) or membership_cv < 2:
        raise ValueError("compare_defenses: `membership_cv` must be an integer >= 2, got "
                         f"{membership_cv!r}.")
    if not (isinstance(test_size, numbers.Real) and 0 < test_size < 1):
        raise ValueError(f"compare_defenses: `test_size` must be in (0, 1), got "
                         f"{test_size!r}.")
    s = _check_attribute(X, sensitive_features, argument="sensitive_features")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(s):
        raise ValueError(f"compare_defenses: `y` must be 1-D with {len(s)} labels (one "
                         f"per sample), got shape {y.shape}.")
    models = {name: _defended_model(name, estimator) for name, estimator in defenses.items()}

    members, held_out = train_test_split(np.arange(len(y)), test_size=test_size,
                                         stratify=y, random_state=random_state)
    X_in, X_out = _safe_indexing(X, members), _safe_indexing(X, held_out)
    n_out = min(len(members), len(held_out))      # balanced membership records
    records, membership = membership_set((X_in, y[members]),
                                         (_safe_indexing(X_out, np.arange(n_out)),
                                          y[held_out][:n_out]))
    folds = StratifiedKFold(membership_cv, shuffle=True, random_state=random_state)
    majority = np.unique(s[members], return_counts=True)[1].max() / len(members)

    columns = {key: [] for key in ("utility", "attack_accuracy", "membership_auc",
                                   "membership_method", "epsilon", "fit_seconds")}
    for model in models.values():
        start = time.perf_counter()
        with config_context(enable_metadata_routing=False):   # plain fit parameters
            model.fit(X_in, y[members], **_sensitive_fit_params(model, s[members]))
        columns["fit_seconds"].append(time.perf_counter() - start)
        columns["utility"].append(model.score(X_out, y[held_out]))
        attacker = AttributeInference(model, attack_model=attack_model,
                                      random_state=random_state)
        columns["attack_accuracy"].append(
            attacker.fit(X_out, s[held_out]).score(X_in, s[members]))
        auc = {}
        for method in methods:
            attack = MembershipInference(model, method=method, random_state=random_state)
            scores = cross_val_predict(attack, records, membership, cv=folds,
                                       method="decision_function")
            auc[method] = roc_auc_score(membership, scores)
        strongest = max(auc, key=auc.get)
        columns["membership_auc"].append(auc[strongest])
        columns["membership_method"].append(strongest)
        columns["epsilon"].append(_epsilon(model))

    utility = np.asarray(columns["utility"])
    attack = np.asarray(columns["attack_accuracy"])
    at = names.index(reference)
    removed = fraction_of_excess_removed(attack[at], attack, majority)
    return Bunch(defense=np.asarray(names), reference=reference, utility=utility,
                 utility_cost=utility[at] - utility, attack_accuracy=attack,
                 attack_baseline=float(majority), leakage_removed=removed,
                 membership_auc=np.asarray(columns["membership_auc"]),
                 membership_method=np.asarray(columns["membership_method"]),
                 epsilon=np.asarray(columns["epsilon"], dtype=float),
                 fit_seconds=np.asarray(columns["fit_seconds"]),
                 n_members=len(members), n_held_out=len(held_out))


_TABLE_HEADER = ("defense", "utility", "utility cost", "attribute attack",
                 "leakage removed", "membership AUC", "ε")


def defense_table(result):
    """A :func:`compare_defenses` result as a reStructuredText table (a string).

    Columns: defense, utility (held-out task accuracy), utility cost (versus the
    reference), the fresh attribute attacker's accuracy, the fraction of the
    reference's excess leakage removed, the strongest membership attack's AUC
    (and its method), and ε (``-`` without DP-SGD).  The majority baseline is
    stated under the table.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from privlearn.tradeoff import defense_table
    >>> result = Bunch(defense=np.array(["A", "B"]), utility=np.array([.9, .8]),
    ...                utility_cost=np.array([0., .1]), attack_accuracy=np.array([.9, .6]),
    ...                attack_baseline=.5, leakage_removed=np.array([0., .75]),
    ...                membership_auc=np.array([.52, .51]),
    ...                membership_method=np.array(["nn", "entropy"]),
    ...                epsilon=np.array([np.inf, 3.0]))
    >>> print(defense_table(result).splitlines()[3])
    A        0.900    +0.000        0.900             +0.00            0.520 (nn)       -
    """
    for key in ("defense", "utility", "attack_accuracy", "attack_baseline",
                "leakage_removed", "membership_auc"):
        if key not in result:
            raise TypeError("defense_table: `result` must be the result of "
                            f"compare_defenses; it has no {key!r}.")
    rows = []
    for i, name in enumerate(result["defense"]):
        epsilon = result["epsilon"][i]
        rows.append((str(name), f"{result['utility'][i]:.3f}",
                     f"{result['utility_cost'][i]:+.3f}",
                     f"{result['attack_accuracy'][i]:.3f}",
                     f"{result['leakage_removed'][i]:+.2f}",
                     f"{result['membership_auc'][i]:.3f} "
                     f"({result['membership_method'][i]})",
                     "-" if not math.isfinite(epsilon) else f"{epsilon:.1f}"))
    widths = [max(len(row[j]) for row in [_TABLE_HEADER, *rows])
              for j in range(len(_TABLE_HEADER))]
    rule = "  ".join("=" * w for w in widths)

    def line(cells):
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip()

    return "\n".join([rule, line(_TABLE_HEADER), rule, *map(line, rows), rule,
                      "", f"Majority attribute rate (an attacker that learned nothing): "
                          f"{result['attack_baseline']:.3f}."])


def plot_defenses(result, axes=None):
    """Plot a :func:`compare_defenses` result: one point per defense, two panels.

    Left: utility against the fresh attribute attacker's accuracy (the dashed
    line is the majority rate: a defense that hides the attribute sits on it).
    Right: utility against the strongest membership attack's AUC (0.5: chance).

    Parameters
    ----------
    result : Bunch
        The result of :func:`compare_defenses`.
    axes : pair of matplotlib Axes or None
        Where to draw (a new 1×2 figure if None).

    Returns
    -------
    axes : ndarray of two matplotlib Axes

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from privlearn.tradeoff import plot_defenses
    >>> result = Bunch(defense=np.array(["A", "B"]), utility=np.array([.9, .8]),
    ...                attack_accuracy=np.array([.9, .6]), attack_baseline=.5,
    ...                membership_auc=np.array([.52, .51]))
    >>> plot_defenses(result)[0].get_xlabel()
    'attribute-inference accuracy (fresh MLP attacker)'
    """
    import matplotlib.pyplot as plt

    for key in ("defense", "utility", "attack_accuracy", "attack_baseline",
                "membership_auc"):
        if key not in result:
            raise TypeError("plot_defenses: `result` must be the result of "
                            f"compare_defenses; it has no {key!r}.")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharey=True)
    axes = np.asarray(axes).ravel()
    # Defenses often land close together: one marker and colour per defense and one
    # legend, instead of text labels that would overlap.
    markers = "osD^v<>pPX*h"
    colours = plt.get_cmap("tab20").colors
    for ax, x, label, chance in (
            (axes[0], result["attack_accuracy"],
             "attribute-inference accuracy (fresh MLP attacker)", result["attack_baseline"]),
            (axes[1], result["membership_auc"], "membership inference AUC (strongest)", 0.5)):
        for i, (name, xi, yi) in enumerate(zip(result["defense"], x, result["utility"])):
            ax.plot(xi, yi, linestyle="none", marker=markers[i % len(markers)],
                    color=colours[i % len(colours)], markersize=7, alpha=0.85,
                    label=str(name))
        ax.axvline(chance, linestyle="--", color="grey", label="chance / majority rate")
        ax.set_xlabel(label)
    axes[0].set_ylabel("task accuracy (held out)")
    handles, names = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(handles, names, loc="lower center", ncol=3, fontsize=8,
                          frameon=False)
    axes[0].figure.subplots_adjust(bottom=0.12 + 0.035 * ((len(names) + 2) // 3))
    return axes

"""Several defenses on the same data, split and attacks, through one evaluation path.

- :func:`evaluate_defense`: one defense fitted on the members and measured:
  held-out utility, a fresh attribute attacker against the majority baseline,
  the strongest membership attack, ε.
- :func:`summarize_defenses`: the utility cost and the fraction of excess
  attribute leakage removed, each against the undefended reference.
- :func:`compare_defenses`: both, for a dict of defenses; :func:`defense_table`
  and :func:`plot_defenses` show the result.

The audit's defense table (:func:`privlearn.audit.run_audit`) is built by
:func:`summarize_defenses` from its own measurements of the same quantities.
"""

from __future__ import annotations

import inspect
import math
import numbers
import time

import numpy as np
from sklearn import config_context
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import Bunch
from sklearn.utils._indexing import _safe_indexing

from .._checks import check_sensitive_attribute, is_int
from ..attacks.attribute import AttributeInference
from ..attacks.membership import METHODS as MEMBERSHIP_METHODS
from ..attacks.membership import MembershipInference
from ..datasets import membership_set
from ..stats import fraction_of_excess_removed

__all__ = ["evaluate_defense", "summarize_defenses", "compare_defenses",
           "defense_table", "plot_defenses"]


def _defended_model(name, estimator):
    """The model to fit: a classifier (or a Pipeline ending in one) as is; an
    encoder (or a Pipeline ending in one) followed by a linear probe."""
    if callable(getattr(estimator, "fit", None)):
        if callable(getattr(estimator, "predict_proba", None)):
            return clone(estimator)
        if callable(getattr(estimator, "transform", None)):
            return make_pipeline(clone(estimator), LogisticRegression(max_iter=1000))
    raise TypeError(f"compare_defenses: defense {name!r} must be an encoder with fit() and "
                    "transform(), or a classifier with fit() and predict_proba() (either "
                    f"may be a Pipeline ending in one), got {type(estimator).__name__}.")


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
    >>> from privlearn.defenses import compare_defenses
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
    if not is_int(membership_cv) or membership_cv < 2:
        raise ValueError("compare_defenses: `membership_cv` must be an integer >= 2, got "
                         f"{membership_cv!r}.")
    if not (isinstance(test_size, numbers.Real) and 0 < test_size < 1):
        raise ValueError(f"compare_defenses: `test_size` must be in (0, 1), got "
                         f"{test_size!r}.")
    s = check_sensitive_attribute(X, sensitive_features, owner="compare_defenses")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(s):
        raise ValueError(f"compare_defenses: `y` must be 1-D with {len(s)} labels (one "
                         f"per sample), got shape {y.shape}.")
    if len(np.unique(y)) < 2:
        raise ValueError("compare_defenses: `y` (the task labels) must hold at least two "
                         f"classes, got only {np.unique(y).tolist()}: utility and the "
                         "membership attacks need a task.")
    models = {name: _defended_model(name, estimator) for name, estimator in defenses.items()}

    members, held_out = train_test_split(np.arange(len(y)), test_size=test_size,
                                         stratify=y, random_state=random_state)
    members_data = (_safe_indexing(X, members), y[members], s[members])
    held_out_data = (_safe_indexing(X, held_out), y[held_out], s[held_out])
    rows = [evaluate_defense(model, members_data, held_out_data, attack_model=attack_model,
                             membership_methods=methods, membership_cv=membership_cv,
                             random_state=random_state, fitted=False)
            for model in models.values()]

    column = {key: np.asarray([row[key] for row in rows])
              for key in ("utility", "attack_accuracy", "membership_auc",
                          "membership_method", "fit_seconds")}
    majority = rows[0]["attack_baseline"]
    summary = summarize_defenses(column["utility"], column["attack_accuracy"], majority,
                                 reference=names.index(reference))
    return Bunch(defense=np.asarray(names), reference=reference, utility=column["utility"],
                 utility_cost=summary.utility_cost, attack_accuracy=column["attack_accuracy"],
                 attack_baseline=float(majority), leakage_removed=summary.leakage_removed,
                 membership_auc=column["membership_auc"],
                 membership_method=column["membership_method"],
                 epsilon=np.asarray([row["epsilon"] for row in rows], dtype=float),
                 fit_seconds=column["fit_seconds"],
                 n_members=len(members), n_held_out=len(held_out))


def evaluate_defense(model, members, held_out, *, attack_model=None,
                     membership_methods=MEMBERSHIP_METHODS, membership_cv=2,
                     random_state=None, fitted=False):
    """One defense measured on its members and a held-out part.

    The measurement of :func:`compare_defenses`, one model at a time.

    Parameters
    ----------
    model : classifier or Pipeline ending in one
        The defended model (with ``predict_proba``); fitted here on the members
        (the attribute reaches every step whose ``fit`` takes
        ``sensitive_features``) unless ``fitted=True``.
    members, held_out : tuple (X, y, sensitive_features)
        The model's training records (the victims) and records it never saw
        (the attribute attacker's auxiliary data, and the membership attack's
        non-members).
    attack_model : classifier or None, default=None
        The fresh attribute attacker's recipe (None: the default MLP).
    membership_methods : sequence of str or None, default=all
        :class:`~privlearn.MembershipInference` methods; the strongest is
        reported.  None or empty: no membership attack.
    membership_cv : int, default=2
        Folds of the membership attack's cross-validation.
    random_state : int, RandomState or None, default=None
        Seeds the attackers and the folds.
    fitted : bool, default=False
        Whether ``model`` is already fitted on the members.

    Returns
    -------
    row : dict
        ``utility`` (held-out task accuracy), ``attack_accuracy`` (the fresh
        attacker trained on the held-out records, scored on the members),
        ``attack_baseline`` (the members' majority attribute rate),
        ``membership_auc`` and ``membership_method`` (the strongest
        attack's cross-validated ROC AUC on the members and as many held-out
        records; NaN and None without methods), ``epsilon`` (DP-SGD ε, inf
        without) and ``fit_seconds`` (0 when ``fitted``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from privlearn.defenses import evaluate_defense
    >>> rng = np.random.RandomState(0)
    >>> X, s = rng.normal(size=(80, 5)), rng.randint(2, size=80)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> model = make_pipeline(PCA(3), LogisticRegression())
    >>> row = evaluate_defense(model, (X[:40], y[:40], s[:40]),
    ...                        (X[40:], y[40:], s[40:]), membership_methods=["confidence"],
    ...                        random_state=0)
    >>> sorted(row)[:3]
    ['attack_accuracy', 'attack_baseline', 'epsilon']
    """
    X_in, y_in, s_in = members
    X_out, y_out, s_out = held_out
    y_in, s_in, y_out, s_out = map(np.asarray, (y_in, s_in, y_out, s_out))
    seconds = 0.0
    if not fitted:
        start = time.perf_counter()
        with config_context(enable_metadata_routing=False):   # plain fit parameters
            try:
                model.fit(X_in, y_in, **_sensitive_fit_params(model, s_in))
            except (TypeError, ValueError) as exc:
                # The defense's own estimator refused the data: say which defense.
                raise (TypeError if isinstance(exc, TypeError) else ValueError)(
                    f"defense {_name_of(model)} could not be fitted on the members "
                    f"({type(X_in).__name__} of shape {getattr(X_in, 'shape', '?')}): "
                    f"{exc}") from exc
        seconds = time.perf_counter() - start
    row = {"utility": model.score(X_out, y_out), "fit_seconds": seconds}
    attacker = AttributeInference(model, attack_model=attack_model, random_state=random_state)
    row["attack_accuracy"] = attacker.fit(X_out, s_out).score(X_in, s_in)
    row["attack_baseline"] = np.unique(s_in, return_counts=True)[1].max() / len(s_in)
    methods = list(membership_methods or ())
    row["membership_auc"], row["membership_method"] = math.nan, None
    if methods:
        n_out = min(len(y_in), len(y_out))      # balanced membership records
        records, membership = membership_set((X_in, y_in),
                                             (_safe_indexing(X_out, np.arange(n_out)),
                                              y_out[:n_out]))
        folds = StratifiedKFold(membership_cv, shuffle=True, random_state=random_state)
        auc = {}
        for method in methods:
            attack = MembershipInference(model, method=method, random_state=random_state)
            scores = cross_val_predict(attack, records, membership, cv=folds,
                                       method="decision_function")
            auc[method] = roc_auc_score(membership, scores)
        strongest = max(auc, key=auc.get)
        row["membership_auc"], row["membership_method"] = auc[strongest], strongest
    row["epsilon"] = _epsilon(model)
    return row


def summarize_defenses(utility, attack_accuracy, baseline, *, reference=0):
    """Each defense against the undefended reference: utility cost, leakage removed.

    The one place the defense table's relative columns are computed, for
    :func:`compare_defenses` and for the audit's defense table.

    Parameters
    ----------
    utility, attack_accuracy : array-like of shape (n_defenses,)
        Each defense's task accuracy and attribute attacker's accuracy.
    baseline : float
        The accuracy of an attacker that learned nothing (majority rate, or a
        stronger baseline).
    reference : int, default=0
        The position of the undefended model.

    Returns
    -------
    summary : Bunch
        ``utility_cost`` (reference's utility minus each) and
        ``leakage_removed`` (:func:`privlearn.stats.fraction_of_excess_removed`:
        the share of the reference's leakage above ``baseline`` that each
        defense removes; NaN where the reference leaks nothing above it).

    Examples
    --------
    >>> from privlearn.defenses import summarize_defenses
    >>> summary = summarize_defenses([0.9, 0.8], [0.9, 0.6], 0.5)
    >>> summary.utility_cost.round(3).tolist(), summary.leakage_removed.round(3).tolist()
    ([0.0, 0.1], [0.0, 0.75])
    """
    utility = np.asarray(utility, dtype=np.float64)
    attack = np.asarray(attack_accuracy, dtype=np.float64)
    return Bunch(utility_cost=utility[reference] - utility,
                 leakage_removed=fraction_of_excess_removed(attack[reference], attack,
                                                            baseline))


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
    >>> from privlearn.defenses import defense_table
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
    >>> from privlearn.defenses import plot_defenses
    >>> result = Bunch(defense=np.array(["A", "B"]), utility=np.array([.9, .8]),
    ...                attack_accuracy=np.array([.9, .6]), attack_baseline=.5,
    ...                membership_auc=np.array([.52, .51]))
    >>> plot_defenses(result)[0].get_xlabel()
    'attribute-inference accuracy (fresh MLP attacker)'
    """
    import matplotlib.pyplot as plt

    if not hasattr(result, "__contains__") or isinstance(result, (str, bytes)):
        raise TypeError("plot_defenses: `result` must be the result of compare_defenses "
                        f"(a Bunch), got {type(result).__name__}.")
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


def _name_of(model):
    """A short name for an error message: the class, or a Pipeline's steps."""
    steps = getattr(model, "steps", None)
    if steps:
        return "Pipeline(" + " → ".join(type(step).__name__ for _, step in steps) + ")"
    return type(model).__name__

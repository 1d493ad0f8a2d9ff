"""Uncertainty for the audit's findings: bootstrap intervals, paired differences, verdicts.

Every interval here is a 95% (by default) percentile interval.  The bootstrap
resamples *evaluation records*: one ``(n_boot, n)`` matrix of record counts is
drawn once and shared by every model and every metric that is compared, so a
difference between two models is a **paired** difference (the same resampled
records score both models).  Metrics are computed for all resamples at once from
the count matrix (weighted ROC curves, weighted accuracies): no Python loop over
resamples.

A verdict is read off an interval for an effect oriented so that a positive value
supports the claim: ``"holds"`` when the whole interval is above 0, ``"does not
hold"`` when it is below 0, ``"inconclusive"`` otherwise.

Examples
--------
>>> import numpy as np
>>> from privlearn import stats
>>> rng = np.random.default_rng(0)
>>> low, high = stats.bootstrap_ci(rng.normal(1.0, 1.0, 400), random_state=0)
>>> bool(low < 1.0 < high)
True
>>> stats.verdict([0.02, 0.10]), stats.verdict([-0.01, 0.10]), stats.verdict([-0.2, -0.1])
('holds', 'inconclusive', 'does not hold')
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["bootstrap_counts", "bootstrap_ci", "percentile_ci", "t_interval", "verdict",
           "weighted_roc_auc", "weighted_tpr_at_fpr", "weighted_accuracy",
           "paired_bootstrap_diff", "fraction_of_excess_removed", "VERDICTS"]

VERDICTS = ("holds", "does not hold", "inconclusive")


def _check_level(confidence):
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) \
            or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"`confidence` must be a number in (0, 1), got {confidence!r}")
    return float(confidence)


def _check_n_boot(n_boot):
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 10:
        raise ValueError(f"`n_boot` must be an integer of at least 10, got {n_boot!r}")
    return int(n_boot)


def bootstrap_counts(n, n_boot=1000, *, strata=None, random_state=None):
    """How often each of ``n`` records is drawn in each of ``n_boot`` resamples.

    Parameters
    ----------
    n : int
        Number of records.
    n_boot : int, default=1000
    strata : array-like of shape (n,), optional
        Resample within each stratum (e.g. members and non-members), so every
        resample keeps the original stratum sizes.
    random_state : int, RandomState or None

    Returns
    -------
    counts : ndarray of shape (n_boot, n), float64
        Row ``b`` holds the multiplicity of each record in resample ``b``; each row
        sums to ``n``.

    Examples
    --------
    >>> from privlearn.stats import bootstrap_counts
    >>> counts = bootstrap_counts(5, 20, random_state=0)
    >>> counts.shape, set(counts.sum(axis=1).tolist())
    ((20, 5), {5.0})
    """
    n_boot = _check_n_boot(n_boot)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"`n` must be a positive integer, got {n!r}")
    rng = check_random_state(random_state)
    strata = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata)
    if strata.shape != (n,):
        raise ValueError(f"`strata` must have shape ({n},), got {strata.shape}")
    counts = np.zeros((n_boot, n))
    rows = np.arange(n_boot)[:, None]
    for value in np.unique(strata):  # a loop over strata (two), not over resamples
        members = np.flatnonzero(strata == value)
        draws = members[rng.randint(0, len(members), size=(n_boot, len(members)))]
        np.add.at(counts, (np.broadcast_to(rows, draws.shape), draws), 1.0)
    return counts


def percentile_ci(samples, confidence=0.95):
    """The percentile interval of bootstrap samples.

    NaN samples (resamples on which the metric is undefined) are ignored; when
    every sample is NaN the interval is ``[nan, nan]`` (an inconclusive verdict).

    Examples
    --------
    >>> from privlearn.stats import percentile_ci
    >>> percentile_ci([0.0, 1.0, 2.0, 3.0, 4.0], confidence=0.5)
    [1.0, 3.0]
    """
    confidence = _check_level(confidence)
    samples = _numbers(samples, "samples").ravel()
    if len(samples) == 0:
        raise ValueError("`samples` must hold at least one bootstrap sample, got none")
    if np.isnan(samples).all():
        return [float("nan"), float("nan")]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(samples, [alpha, 1.0 - alpha])
    return [float(low), float(high)]


def _mean_without_overflow(values):
    """``np.mean`` over resamples of ``values``; where a sum of ``len(values)`` of them
    could overflow to inf, the mean of the values scaled by a power of two (exact),
    scaled back.  (NumPy's mean has no such option; hand-written for that reason.)"""
    peak = float(np.max(np.abs(values)))
    if peak < np.finfo(np.float64).max / len(values):
        return np.mean
    scale = float(np.ldexp(1.0, int(np.frexp(peak)[1]) - 1))

    def mean(resamples, axis):
        return np.mean(resamples / scale, axis=axis) * scale
    return mean


def bootstrap_ci(values, statistic="mean", *, n_boot=1000, confidence=0.95,
                 random_state=None):
    """Percentile bootstrap interval of a statistic of a 1-D sample.

    Parameters
    ----------
    values : array-like of shape (n,)
    statistic : {"mean", "median"} or callable, default="mean"
        A callable gets a ``(n_boot, n)`` array and ``axis=1``.

    Returns
    -------
    ci : list of two floats

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.stats import bootstrap_ci
    >>> low, high = bootstrap_ci(np.arange(100.0), random_state=0)
    >>> bool(low < 49.5 < high)
    True
    """
    values = _numbers(values, "values")
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"`values` must be 1-D with at least 2 entries, got shape "
                         f"{values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"`values` contains {int((~np.isfinite(values)).sum())} NaN or "
                         "infinite value(s); a bootstrap interval needs finite values")
    functions = {"mean": _mean_without_overflow(values), "median": np.median}
    if isinstance(statistic, str):
        if statistic not in functions:
            raise ValueError(f"`statistic` must be 'mean', 'median' or a callable, "
                             f"got {statistic!r}")
        statistic = functions[statistic]
    rng = check_random_state(random_state)
    n_boot = _check_n_boot(n_boot)
    confidence = _check_level(confidence)
    idx = rng.randint(0, len(values), size=(n_boot, len(values)))
    samples = np.asarray(statistic(values[idx], axis=1), dtype=np.float64)
    if samples.shape != (n_boot,):
        raise ValueError(f"`statistic` must return one value per resample, shape "
                         f"({n_boot},) for the ({n_boot}, {len(values)}) resamples and "
                         f"axis=1, got shape {samples.shape}")
    return percentile_ci(samples, confidence)


def t_interval(values, confidence=0.95):
    """Student-t interval of the mean of a few values (e.g. per-seed effects).

    Examples
    --------
    >>> from privlearn.stats import t_interval
    >>> low, high = t_interval([0.1, 0.12, 0.08, 0.11])
    >>> bool(0.0 < low < 0.1025 < high)
    True
    """
    from scipy import stats as _scipy_stats

    confidence = _check_level(confidence)
    values = _numbers(values, "values")
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"`values` must be 1-D with at least 2 entries (e.g. two "
                         f"seeds), got shape {values.shape}")
    mean = values.mean()
    half = _scipy_stats.t.ppf(0.5 + confidence / 2.0, len(values) - 1) \
        * values.std(ddof=1) / np.sqrt(len(values))
    return [float(mean - half), float(mean + half)]


def fraction_of_excess_removed(undefended, defended, baseline):
    """Share of the undefended model's leakage above ``baseline`` that a defense removes.

    ``(undefended - defended) / (undefended - baseline)``, element-wise (scalars or
    arrays of bootstrap resamples alike): 1 means the attacker learns nothing beyond
    the baseline from the defended model, 0 no change, < 0 more leakage.  NaN where the
    undefended model leaks nothing above the baseline (nothing to remove).

    Examples
    --------
    >>> from privlearn.stats import fraction_of_excess_removed
    >>> round(float(fraction_of_excess_removed(0.9, 0.7, 0.5)), 3)
    0.5
    """
    undefended, defended, baseline = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (undefended, defended, baseline)))
    excess = undefended - baseline
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(excess > 0, (undefended - defended) / excess, np.nan)


def verdict(ci, *, threshold=0.0):
    """``"holds"`` if the interval lies above ``threshold``, ``"does not hold"`` if
    below, else ``"inconclusive"``.  An interval touching the threshold never holds."""
    bounds = _numbers(ci, "ci").ravel()
    if bounds.shape != (2,):
        raise ValueError(f"`ci` must be a pair (low, high), got {ci!r}")
    low, high = (float(v) for v in bounds)
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        return "inconclusive"
    if low > threshold:
        return "holds"
    if high < threshold:
        return "does not hold"
    return "inconclusive"


# --- weighted metrics: one value per row of a count matrix ------------------------

def _numbers(values, name):
    """``values`` as float64, or a ValueError naming ``name``."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must hold numbers, got {values!r:.80}") from None


def _as_counts(counts, n):
    counts = _numbers(counts, "counts")
    if counts.ndim == 1:
        counts = counts[None]
    if counts.ndim != 2 or counts.shape[1] != n:
        raise ValueError(f"`counts` must have shape (n_boot, {n}), got {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("`counts` must hold finite, non-negative record counts (rows of "
                         "bootstrap_counts)")
    return counts


def _membership_and_scores(y_true, scores, name="scores"):
    """Checked 1/0 membership (bool) and finite float scores of one length."""
    y_true, scores = np.asarray(y_true), _numbers(scores, name)
    if y_true.ndim != 1 or scores.ndim != 1 or len(y_true) != len(scores):
        raise ValueError(f"`y_true` and `{name}` must be 1-D of one length, got shapes "
                         f"{y_true.shape} and {scores.shape}")
    if y_true.dtype.kind not in "biuf" or not np.isin(y_true, (0, 1)).all():
        raise ValueError("`y_true` must hold membership as 1 (member) and 0 (non-member), "
                         f"got values {np.unique(y_true)[:5].tolist()}")
    y_true = y_true.astype(bool)
    if y_true.all() or not y_true.any():
        raise ValueError("`y_true` must hold both members (1) and non-members (0); a ROC "
                         "metric is undefined on one class")
    if not np.isfinite(scores).all():
        raise ValueError(f"`{name}` contains {int((~np.isfinite(scores)).sum())} NaN or "
                         "infinite value(s); ROC metrics need finite scores")
    return y_true, scores


def _weighted_roc(y_true, scores, counts):
    """TPR and FPR of every resample at every distinct threshold, ``(B, U + 1)``."""
    y_true, scores = _membership_and_scores(y_true, scores)
    counts = _as_counts(counts, len(scores))
    # Distinct scores, highest first; tied records share one threshold (as roc_curve).
    values, inverse = np.unique(-scores, return_inverse=True)
    n_values = len(values)
    rows = counts.shape[0]

    def per_value(mask):
        w = counts * mask  # (B, n)
        flat = (np.arange(rows)[:, None] * n_values + inverse[None]).ravel()
        return np.bincount(flat, weights=w.ravel(), minlength=rows * n_values
                           ).reshape(rows, n_values)

    pos, neg = per_value(y_true), per_value(~y_true)
    tp = np.concatenate([np.zeros((rows, 1)), np.cumsum(pos, axis=1)], axis=1)
    fp = np.concatenate([np.zeros((rows, 1)), np.cumsum(neg, axis=1)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / tp[:, -1:]
        fpr = fp / fp[:, -1:]
    return fpr, tpr


def weighted_roc_auc(y_true, scores, counts):
    """ROC AUC of each resample (row of ``counts``); equals sklearn's on unit counts.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.stats import weighted_roc_auc
    >>> weighted_roc_auc([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.2], np.ones(4)).tolist()
    [0.75]
    """
    fpr, tpr = _weighted_roc(y_true, scores, counts)
    return np.trapezoid(tpr, fpr, axis=1) if hasattr(np, "trapezoid") \
        else np.trapz(tpr, fpr, axis=1)


def weighted_tpr_at_fpr(y_true, scores, counts, fpr=0.01):
    """Highest TPR at FPR ≤ ``fpr`` of each resample (as :func:`privlearn.metrics.tpr_at_fpr`)."""
    if isinstance(fpr, bool) or not isinstance(fpr, numbers.Real) or not 0.0 <= fpr <= 1.0:
        raise ValueError(f"`fpr` must be a number in [0, 1], got {fpr!r}")
    fprs, tprs = _weighted_roc(y_true, scores, counts)
    return np.where(fprs <= fpr + 1e-12, tprs, 0.0).max(axis=1)


def weighted_accuracy(correct, counts):
    """Share of correct records in each resample (NaN for a resample of no records)."""
    correct = _numbers(correct, "correct")
    if correct.ndim != 1 or not np.isfinite(correct).all():
        raise ValueError(f"`correct` must be 1-D and finite (1/0 or True/False per record), "
                         f"got shape {correct.shape}")
    counts = _as_counts(counts, len(correct))
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts @ correct / np.where(total > 0, total, 1.0), np.nan)


_METRICS = {
    "roc_auc": lambda y, s, c: weighted_roc_auc(y, s, c),
    "tpr_at_1%_fpr": lambda y, s, c: weighted_tpr_at_fpr(y, s, c, 0.01),
    "tpr_at_0.1%_fpr": lambda y, s, c: weighted_tpr_at_fpr(y, s, c, 0.001),
    "accuracy": lambda y, s, c: weighted_accuracy(np.asarray(s) == np.asarray(y), c),
}


def paired_bootstrap_diff(y_true, pred_a, pred_b, metric="roc_auc", *, counts=None,
                          n_boot=1000, confidence=0.95, stratify=True, random_state=None):
    """Metric of ``a`` minus metric of ``b`` on the same resampled records.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Membership (1/0) for the ROC metrics, true labels for ``"accuracy"``.
    pred_a, pred_b : array-like of shape (n,)
        Scores (ROC metrics) or predicted labels (``"accuracy"``) of two models on
        the same records.
    metric : {"roc_auc", "tpr_at_1%_fpr", "tpr_at_0.1%_fpr", "accuracy"}
    counts : ndarray of shape (n_boot, n), optional
        A count matrix from :func:`bootstrap_counts` to share with other
        comparisons; drawn here (stratified by ``y_true`` if ``stratify``) if omitted.

    Returns
    -------
    result : dict
        ``a``, ``b`` (the metric on all records), ``effect`` (``a - b``), ``ci``,
        ``verdict`` (of the effect), ``n`` (records).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.stats import paired_bootstrap_diff
    >>> rng = np.random.default_rng(0)
    >>> m = np.repeat([1, 0], 200)
    >>> strong, weak = m + rng.normal(0, 0.5, 400), m + rng.normal(0, 2.0, 400)
    >>> paired_bootstrap_diff(m, strong, weak, random_state=0)["verdict"]
    'holds'
    """
    if metric not in _METRICS:
        raise ValueError(f"`metric` must be one of {list(_METRICS)}, got {metric!r}")
    y_true = np.asarray(y_true)
    pred_a, pred_b = np.asarray(pred_a), np.asarray(pred_b)
    if not (y_true.ndim == pred_a.ndim == pred_b.ndim == 1) or \
            not len(y_true) == len(pred_a) == len(pred_b):
        raise ValueError(f"`y_true`, `pred_a` and `pred_b` must be 1-D of one length, got "
                         f"shapes {y_true.shape}, {pred_a.shape}, {pred_b.shape}")
    if len(y_true) == 0:
        raise ValueError("`y_true`, `pred_a` and `pred_b` must not be empty")
    if counts is None:
        counts = bootstrap_counts(len(y_true), n_boot,
                                  strata=y_true if stratify else None,
                                  random_state=random_state)
    if metric != "accuracy":
        _membership_and_scores(y_true, pred_a, "pred_a")
        _membership_and_scores(y_true, pred_b, "pred_b")
    function = _METRICS[metric]
    ones = np.ones((1, len(y_true)))
    a, b = float(function(y_true, pred_a, ones)[0]), float(function(y_true, pred_b, ones)[0])
    diffs = function(y_true, pred_a, counts) - function(y_true, pred_b, counts)
    ci = percentile_ci(diffs, confidence)
    return {"a": a, "b": b, "effect": a - b, "ci": ci, "verdict": verdict(ci),
            "n": int(len(y_true))}

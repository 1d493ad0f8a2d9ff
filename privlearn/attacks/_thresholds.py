"""Thresholds on membership scores that maximise balanced accuracy, per group.

A threshold attack predicts "member" when a record's score is at least the
threshold of its group (its class).  The best threshold of every group is found in
one sorted sweep over all records: sort once by (group, score), accumulate member
and non-member counts, and read the balanced accuracy of every candidate threshold
off the cumulative counts.  That is O(n log n) for all groups together, instead of
the O(n²) loop that tries every candidate value against every record.

scikit-learn's ``roc_curve`` does the same sweep for one group; it is not used
here because it cannot sweep many groups in one vectorised pass and does not
return the cut between two neighbouring scores.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sweep_thresholds", "fit_class_thresholds", "apply_class_thresholds"]

# Neighbouring sorted scores this close are rounding noise, swept as ties.
_TIE_RTOL, _TIE_ATOL = 1e-9, 1e-12


def sweep_thresholds(scores, positive, groups):
    """Best threshold of every group, by balanced accuracy, in one sorted sweep.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Finite scores; higher means "more likely a member".
    positive : ndarray of bool, shape (n,)
        True for members.
    groups : ndarray of int, shape (n,)
        Group index of every record, in ``[0, n_groups)``.

    Returns
    -------
    thresholds : ndarray of shape (n_groups,)
        Predict "member" when ``score > threshold`` (or ``>=``: the threshold
        lies strictly between two neighbouring distinct scores, so both agree
        on the records swept).  It is their midpoint (just below the group's
        lowest score when every record is called a member).  Scores within
        rounding noise of each other (relative 1e-9, absolute 1e-12) count as
        ties.
        NaN for groups that lack members or non-members (or records).
    balanced_accuracy : ndarray of shape (n_groups,)
        Balanced accuracy of that threshold on the group's records (NaN as above).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._thresholds import sweep_thresholds
    >>> t, bacc = sweep_thresholds(np.array([0.1, 0.9, 0.8, 0.2]),
    ...                            np.array([False, True, True, False]),
    ...                            np.array([0, 0, 0, 0]))
    >>> float(t[0]), float(bacc[0])
    (0.5, 1.0)
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    groups = np.asarray(groups, dtype=np.intp)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    thresholds = np.full(n_groups, np.nan)
    best_bacc = np.full(n_groups, np.nan)
    if len(scores) == 0:
        return thresholds, best_bacc

    # Sort by (group, score): a score argsort, then a stable (radix) sort of the
    # small integer groups -- about twice as fast as np.lexsort.
    order = np.argsort(scores, kind="stable")
    order = order[np.argsort(groups[order], kind="stable")]
    s, g, pos = scores[order], groups[order], positive[order]
    n = len(s)

    # Group boundaries in the sorted order.
    starts_mask = np.ones(n, dtype=bool)
    starts_mask[1:] = g[1:] != g[:-1]
    starts = np.flatnonzero(starts_mask)
    run = np.cumsum(starts_mask) - 1                  # run index of every record
    present = g[starts]                               # group index of every run

    # Members / non-members strictly before each position, within its group.
    pos_before = np.cumsum(pos) - pos
    neg_before = np.arange(n) - pos_before
    pos_before = pos_before - pos_before[starts][run]
    neg_before = neg_before - neg_before[starts][run]
    n_pos = np.add.reduceat(pos.astype(np.int64), starts)
    n_neg = np.diff(np.append(starts, n)) - n_pos
    usable = (n_pos > 0) & (n_neg > 0)

    # Candidate at position i: "member iff score >= s[i]", valid at the first
    # record of each distinct score (ties move together).  Scores that differ
    # only by rounding (the same posteriors summed in another order) are ties:
    # then every cut lies strictly inside a real gap, and no record sits on it.
    first_of_value = starts_mask.copy()
    first_of_value[1:] |= ~np.isclose(s[1:], s[:-1], rtol=_TIE_RTOL, atol=_TIE_ATOL)
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = (n_pos[run] - pos_before) / n_pos[run]
        tnr = neg_before / n_neg[run]
    bacc = np.where(first_of_value & usable[run], (tpr + tnr) / 2, -np.inf)

    run_best = np.maximum.reduceat(bacc, starts)
    hits = np.flatnonzero(bacc == run_best[run])
    hit_runs, first_hit = np.unique(run[hits], return_index=True)
    best = hits[first_hit]                            # lowest best threshold per run

    below = np.nextafter(s[best], -np.inf)
    previous = s[np.maximum(best - 1, 0)]
    middle = (previous + s[best]) / 2
    # Two neighbouring floats may have no midpoint strictly above the lower one.
    middle = np.where((middle > previous) & (middle < s[best]), middle, previous)
    cut = np.where(starts_mask[best], below, middle)

    ok = usable[hit_runs]
    thresholds[present[hit_runs][ok]] = cut[ok]
    best_bacc[present[hit_runs][ok]] = run_best[hit_runs][ok]
    return thresholds, best_bacc


def fit_class_thresholds(scores, membership, labels):
    """Per-class thresholds and a global fallback maximising balanced accuracy.

    Parameters
    ----------
    scores : ndarray of shape (n,)
        Membership scores (higher: more likely a member).
    membership : ndarray of shape (n,)
        1 for members, 0 for non-members (both present).
    labels : ndarray of shape (n,)
        True class label of every record.

    Returns
    -------
    classes : ndarray
        Labels that received their own threshold (those with both members and
        non-members among the records).
    thresholds : ndarray of shape (len(classes),)
        Their thresholds.
    global_threshold : float
        Threshold over all records, used for every other label.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._thresholds import fit_class_thresholds
    >>> s = np.array([0.9, 0.2, 0.6, 0.5, 0.7])
    >>> m = np.array([1, 0, 1, 0, 1])
    >>> classes, t, g = fit_class_thresholds(s, m, np.array([0, 0, 1, 1, 2]))
    >>> classes.tolist(), t.round(2).tolist(), round(g, 2)
    ([0, 1], [0.55, 0.55], 0.55)
    """
    positive = np.asarray(membership) == 1
    uniques, group = np.unique(labels, return_inverse=True)
    per_class, _ = sweep_thresholds(scores, positive, group.ravel())
    overall, _ = sweep_thresholds(scores, positive, np.zeros(len(scores), dtype=np.intp))
    keep = ~np.isnan(per_class)
    return uniques[keep], per_class[keep], float(overall[0])


def apply_class_thresholds(labels, classes, thresholds, global_threshold):
    """The threshold of every record's class (global one for other classes).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._thresholds import apply_class_thresholds
    >>> apply_class_thresholds(np.array([2, 0, 7]), np.array([0, 2]),
    ...                        np.array([0.3, 0.6]), 0.5).tolist()
    [0.6, 0.3, 0.5]
    """
    labels = np.asarray(labels)
    out = np.full(len(labels), float(global_threshold))
    if len(classes) == 0:
        return out
    pos = np.clip(np.searchsorted(classes, labels), 0, len(classes) - 1)
    known = classes[pos] == labels
    out[known] = thresholds[pos[known]]
    return out

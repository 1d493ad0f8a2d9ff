"""Benchmarks of the membership attacks' hot paths.

1. Per-class threshold calibration on 10⁶ records × 10 classes (target: < 1 s),
   against the naive loop that tries every candidate threshold against every
   record of its class (O(n²)), timed on a smaller set and extrapolated.
2. Label-only attack (batched HopSkipJump) on a 100-tree random forest trained on
   digits: records/s and queries/record, at the defaults and at ``max_iter=7``
   (the setting of DESIGN §5, where ART's per-record loop manages ≈ 2 records/s).

Run:  python benchmarks/bench_attacks.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import privlearn as pl
from privlearn.attacks._thresholds import fit_class_thresholds


def naive_class_thresholds(scores, membership, labels):
    """The O(n²) reference: every candidate value against every record of its class."""
    out = {}
    for label in np.unique(labels):
        s, m = scores[labels == label], membership[labels == label] == 1
        best, best_t = -1.0, None
        for t in np.unique(s):
            bacc = (np.mean(s[m] >= t) + np.mean(s[~m] < t)) / 2
            if bacc > best:
                best, best_t = bacc, t
        out[label] = best_t
    return out


def bench_thresholds(n_large, n_small, rng):
    def make(n):
        labels = rng.integers(0, 10, n)
        membership = rng.integers(0, 2, n)
        scores = rng.normal(size=n) + 0.5 * membership
        return scores, membership, labels

    scores, membership, labels = make(n_large)
    t = time.perf_counter()
    fit_class_thresholds(scores, membership, labels)
    fast = time.perf_counter() - t
    print(f"sorted sweep, {n_large:,} records x 10 classes: {fast:.3f} s")

    scores, membership, labels = make(n_small)
    t = time.perf_counter()
    fit_class_thresholds(scores, membership, labels)
    fast_small = time.perf_counter() - t
    t = time.perf_counter()
    naive_class_thresholds(scores, membership, labels)
    naive = time.perf_counter() - t
    extrapolated = naive * (n_large / n_small) ** 2
    print(f"naive loop, {n_small:,} records: {naive:.2f} s (sweep {fast_small * 1e3:.1f} ms, "
          f"x{naive / fast_small:.0f}); extrapolated to {n_large:,}: {extrapolated:,.0f} s "
          f"(x{extrapolated / fast:,.0f} slower than the sweep)")


def bench_label_only(n_records, settings):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_in, X_out, y_in, y_out = train_test_split(X, y, train_size=0.5, stratify=y,
                                                random_state=0)
    target = RandomForestClassifier(n_estimators=100, random_state=0).fit(X_in, y_in)
    k = n_records // 2
    records, membership = pl.membership_set((X_in[:k], y_in[:k]), (X_out[:k], y_out[:k]))
    for name, params in settings.items():
        attack = pl.LabelOnlyMembershipInference(target, random_state=0, **params)
        t = time.perf_counter()
        attack.fit(records, membership)
        elapsed = time.perf_counter() - t
        distances = attack.boundary_distance(records)
        auc = pl.metrics.attack_report(membership, distances)["roc_auc"]
        print(f"label-only ({name}), 100-tree forest, {len(records)} records: "
              f"{len(records) / elapsed:.1f} records/s, "
              f"{attack.n_queries_ / len(records):.0f} queries/record, "
              f"distance AUC {auc:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    bench_thresholds(10**5 if args.quick else 10**6, 2_000 if args.quick else 10_000, rng)
    settings = {"defaults": {}, "max_iter=7": {"max_iter": 7}}
    bench_label_only(60 if args.quick else 200, settings)


if __name__ == "__main__":
    main()

"""privlearn's label-only attack against ART's LabelOnlyDecisionBoundary, paired.

Same random forest, same records (members: the forest's training rows; non-members:
held-out rows), same query settings (max_iter, init_eval, max_queries/max_eval).
Reports ROC AUC of the boundary distances, the balanced accuracy of the calibrated
threshold (on the fitting records) and the wall time of each, per seed.

ART is optional: ``pip install adversarial-robustness-toolbox`` (``--no-deps`` keeps
the installed torch); without it only privlearn's rows are printed.

    python benchmarks/bench_label_only_art.py --records 120 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

import privlearn as pl


def setup(n_records, seed):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    order = np.random.RandomState(seed).permutation(len(X))
    half = n_records // 2
    members, others = order[:half], order[half:2 * half]
    target = RandomForestClassifier(100, random_state=seed).fit(X[members], y[members])
    records, membership = pl.membership_set((X[members], y[members]), (X[others], y[others]))
    return target, records, membership


def run_privlearn(target, records, membership, args, seed):
    start = time.perf_counter()
    attack = pl.LabelOnlyMembershipInference(
        target, max_iter=args.max_iter, init_eval=args.init_eval,
        max_queries=args.max_queries, clip_values=(0.0, 1.0), random_state=seed)
    attack.fit(records, membership)
    distances = attack.boundary_distance(records)       # cached: no new queries
    elapsed = time.perf_counter() - start
    accuracy = float(np.mean((distances >= attack.threshold_) == membership))
    return roc_auc_score(membership, distances), accuracy, elapsed


def run_art(target, records, membership, args, seed):
    try:
        from art.attacks.evasion import HopSkipJump
        from art.estimators.classification import SklearnClassifier
    except ImportError:
        return None
    np.random.seed(seed)                                 # ART draws from the global RNG
    classifier = SklearnClassifier(target, clip_values=(0.0, 1.0))
    x = np.asarray(records.inputs, dtype=np.float32)
    start = time.perf_counter()
    hsj = HopSkipJump(classifier, targeted=False, norm=2, max_iter=args.max_iter,
                      max_eval=args.max_queries, init_eval=args.init_eval, init_size=100,
                      verbose=False)
    x_adv = hsj.generate(x=x)
    distances = np.linalg.norm((x_adv - x).reshape(len(x), -1), axis=1)
    distances[target.predict(x) != records.labels] = 0.0
    elapsed = time.perf_counter() - start
    # ART's calibrate_distance_threshold: best accuracy over a grid of thresholds.
    grid = np.linspace(0, distances.max(), 101)
    accuracy = max(float(np.mean((distances > t) == membership)) for t in grid)
    return roc_auc_score(membership, distances), accuracy, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=120)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--init-eval", type=int, default=50)
    parser.add_argument("--max-queries", type=int, default=2000)
    parser.add_argument("--no-art", action="store_true")
    args = parser.parse_args()
    print("seed  impl       AUC    acc    seconds")
    for seed in args.seeds:
        target, records, membership = setup(args.records, seed)
        rows = [("privlearn", run_privlearn(target, records, membership, args, seed))]
        if not args.no_art:
            rows.append(("ART", run_art(target, records, membership, args, seed)))
        for name, result in rows:
            if result is None:
                print(f"{seed:<5} {name:<9}  (not installed)")
            else:
                print(f"{seed:<5} {name:<9}  {result[0]:.3f}  {result[1]:.3f}  {result[2]:.1f}",
                      flush=True)


if __name__ == "__main__":
    main()

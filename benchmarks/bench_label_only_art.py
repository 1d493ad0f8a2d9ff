"""privlearn's label-only attack against ART's LabelOnlyDecisionBoundary, paired.

Same random forest, same records (members: the forest's training rows; non-members:
held-out rows), same query settings (max_iter, init_eval, max_queries/max_eval).
Reports ROC AUC of the boundary distances, the balanced accuracy of the calibrated
threshold (on the fitting records) and the wall time of each, per seed.

ART is optional: ``pip install adversarial-robustness-toolbox`` (``--no-deps`` keeps
the installed torch); without it only privlearn's rows are printed.

    python benchmarks/bench_label_only_art.py --records 120 --seeds 0 1 2

With ``--save FILE.npz`` the distances of both libraries are kept, and with ART
installed the summary compares them paired: per seed, a paired bootstrap over the
same records (privlearn.stats.paired_bootstrap_diff), and over seeds a Wilcoxon
signed-rank test of the AUC differences.  ``--from FILE.npz ...`` prints the table
and the summary of saved runs without attacking again.
"""

from __future__ import annotations

import argparse
import os
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
    return roc_auc_score(membership, distances), accuracy, elapsed, distances


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
    return roc_auc_score(membership, distances), accuracy, elapsed, distances


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=120)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--init-eval", type=int, default=50)
    parser.add_argument("--max-queries", type=int, default=2000)
    parser.add_argument("--no-art", action="store_true")
    parser.add_argument("--save", help="keep every seed's distances in this .npz file")
    parser.add_argument("--from", dest="saved", nargs="+",
                        help="summarise saved .npz runs instead of attacking")
    args = parser.parse_args()
    runs = _load(args.saved) if args.saved else _attack(args)
    summarise(runs)


def _attack(args):
    runs = []
    for seed in args.seeds:
        target, records, membership = setup(args.records, seed)
        run = {"seed": seed, "n": len(membership), "membership": membership,
               "load": os.getloadavg()[0]}
        run["privlearn"] = run_privlearn(target, records, membership, args, seed)
        if not args.no_art:
            run["ART"] = run_art(target, records, membership, args, seed)
        run["load"] = max(run["load"], os.getloadavg()[0])
        print(_row(run, "privlearn"))
        if run.get("ART") is not None:
            print(_row(run, "ART"), flush=True)
        runs.append(run)
        if args.save:
            _save(args.save, runs)
    return runs


def _row(run, name):
    auc, acc, seconds = run[name][:3]
    return (f"{run['n']:<8}{run['seed']:<5} {name:<9}  {auc:.3f}  {acc:.3f}  {seconds:8.1f}"
            f"  {run['load']:.1f}")


def _save(path, runs):
    arrays = {}
    for i, run in enumerate(runs):
        arrays[f"{i}_meta"] = np.array([run["seed"], run["n"], run["load"]])
        arrays[f"{i}_membership"] = run["membership"]
        for name in ("privlearn", "ART"):
            if run.get(name) is not None:
                arrays[f"{i}_{name}"] = np.r_[run[name][:3], run[name][3]]
    np.savez(path, **arrays)


def _load(paths):
    runs = []
    for path in paths:
        data = np.load(path)
        for i in range(len([k for k in data.files if k.endswith("_meta")])):
            seed, n, load = data[f"{i}_meta"]
            run = {"seed": int(seed), "n": int(n), "load": float(load),
                   "membership": data[f"{i}_membership"]}
            for name in ("privlearn", "ART"):
                if f"{i}_{name}" in data.files:
                    v = data[f"{i}_{name}"]
                    run[name] = (float(v[0]), float(v[1]), float(v[2]), v[3:])
            runs.append(run)
    return runs


def summarise(runs):
    """The table, then paired comparisons (records within a seed; seeds)."""
    from scipy.stats import wilcoxon

    from privlearn import stats

    print("records seed  impl       AUC    acc    seconds  load")
    for run in runs:
        for name in ("privlearn", "ART"):
            if run.get(name) is not None:
                print(_row(run, name))
    paired = [r for r in runs if r.get("ART") is not None]
    for n in sorted({r["n"] for r in paired}):
        group = [r for r in paired if r["n"] == n]
        diffs = []
        print(f"\n{n} records: AUC(privlearn) - AUC(ART), paired bootstrap over the same "
              f"records (95%)")
        for r in group:
            result = stats.paired_bootstrap_diff(r["membership"], r["privlearn"][3],
                                                 r["ART"][3], n_boot=2000,
                                                 random_state=r["seed"])
            diffs.append(result["effect"])
            print(f"  seed {r['seed']}: {result['effect']:+.3f}  [{result['ci'][0]:+.3f}, "
                  f"{result['ci'][1]:+.3f}]  {result['verdict']}")
        speed = np.mean([r["ART"][2] / r["privlearn"][2] for r in group])
        line = (f"  mean difference {np.mean(diffs):+.3f} over {len(group)} seeds; "
                f"privlearn {speed:.0f}x faster")
        if len(group) >= 2 and np.any(np.asarray(diffs) != 0):
            line += f"; Wilcoxon signed-rank p = {wilcoxon(diffs).pvalue:.3f}"
        print(line)


if __name__ == "__main__":
    main()

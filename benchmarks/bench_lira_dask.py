"""LiRA's 16 reference models: sequential vs on a 2-worker dask ``LocalCluster``.

The target is an MLP trained on a random half of a 1,000-record digits pool
(64 pixel features); ``pl.LiRA(..., n_shadows=16)`` trains 16 clones of the same
recipe on random halves of the pool.  The sequential run trains them one after
the other in this process (``n_jobs=1``); the dask run trains them under
``joblib.parallel_config(backend="dask")`` on a ``LocalCluster`` of 2 worker
processes with one thread each.  The script asserts that both give the same
reference models' halves and bit-identical LiRA scores, and prints the ratio of
the wall times (sequential / dask) with the machine's load average.

The two runs are interleaved ``--repeats`` times and the fastest of each kept.
On a shared 2-core machine other processes' load slows the 2-worker run most
(it needs both cores); read the ratio with the printed load in mind.

Usage::

    python benchmarks/bench_lira_dask.py               # 16 shadows, 1 repeat
    python benchmarks/bench_lira_dask.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier

import privlearn as pl
from privlearn.metrics import tpr_at_fpr

RECIPE = MLPClassifier((64,), max_iter=200, random_state=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-shadows", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))[:1000]
    X, y = X[idx] / 16.0, y[idx]
    member = np.zeros(len(X), dtype=int)
    member[rng.permutation(len(X))[:len(X) // 2]] = 1
    target = clone(RECIPE).fit(X[member == 1], y[member == 1])
    pool = pl.Records(X, y)
    print(f"LiRA, {args.n_shadows} MLP reference models on halves of a {len(X)}-record "
          f"digits pool; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f} at start")

    from dask.distributed import Client, LocalCluster

    def lira(n_jobs):
        return pl.LiRA(target, RECIPE, n_shadows=args.n_shadows, random_state=0,
                       n_jobs=n_jobs)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(warnings.filterwarnings, "ignore")
        times = {"sequential": [], "dask": []}
        fitted = {}
        for _ in range(args.repeats):          # interleaved: load drifts affect both
            start = time.perf_counter()
            fitted["sequential"] = lira(1).fit(pool)
            times["sequential"].append(time.perf_counter() - start)
            start = time.perf_counter()
            with joblib.parallel_config(backend="dask", client=client):
                fitted["dask"] = lira(-1).fit(pool)
            times["dask"].append(time.perf_counter() - start)

    scores = {key: att.decision_function(pool) for key, att in fitted.items()}
    assert np.array_equal(fitted["sequential"].reference_.in_, fitted["dask"].reference_.in_)
    assert np.array_equal(scores["sequential"], scores["dask"]), "dask changed the scores"
    best = {key: min(values) for key, values in times.items()}
    for key in times:
        print(f"{key:>10}: {best[key]:6.1f} s  runs {np.round(times[key], 1).tolist()}")
    s = scores["dask"]
    print(f"same scores: True; LiRA AUC {roc_auc_score(member, s):.3f}, TPR@1%FPR "
          f"{tpr_at_fpr(member, s, 0.01):.3f} (500 non-members)")
    print(f"ratio sequential / dask (2 workers): {best['sequential'] / best['dask']:.2f}; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

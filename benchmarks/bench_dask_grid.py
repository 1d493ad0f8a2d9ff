"""Wall time of a 4-candidate SimCLR grid search on a dask cluster: 2 workers vs 1.

A ``GridSearchCV`` over ``simclr__temperature`` (4 values, ``cv=2``: 8 fits of
a SimCLR + logistic-regression pipeline, no refit) runs under joblib's dask
backend on a ``LocalCluster`` of 2 workers (one process and one torch thread
each); on a cluster of 1 such worker (where joblib would fall back to running
the fits in the calling process, it sees a single slot) the whole sequential
search is sent to the worker; and, for reference, it runs in this process
without dask (``n_jobs=1``, torch's default threads).  The ``ratio`` is the 1-worker time
over the 2-worker time; the results of all runs are checked to be equal.

The three configurations are timed in turn, ``--repeats`` rounds, and the
fastest run of each kept (as ``timeit`` does), after one untimed warm-up fit
per worker; both clusters stay up throughout (the idle one costs nothing).  On a shared
machine, other processes' load slows the 2-worker run most (it needs both
cores); read the ratio with that in mind.

Usage::

    python benchmarks/bench_dask_grid.py                   # 600 digits, 5 epochs
    python benchmarks/bench_dask_grid.py --n-samples 300 --epochs 2 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import time

import joblib
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import privlearn as pl

GRID = {"simclr__temperature": [0.1, 0.2, 0.5, 1.0]}


def make_search(epochs, batch_size, n_jobs):
    model = make_pipeline(pl.SimCLR(max_epochs=epochs, batch_size=batch_size, random_state=0),
                          LogisticRegression(max_iter=1000))
    return GridSearchCV(model, GRID, cv=2, refit=False, n_jobs=n_jobs)


def warm_up(X):
    """One tiny fit, so that each worker's first (slower) fit is not timed."""
    pl.SimCLR(max_epochs=1, batch_size=64, random_state=0).fit(X[:64])
    return os.getpid()


def fit_on(client, X, y, args):
    if sum(client.ncores().values()) == 1:
        # joblib's dask backend counts one slot and then runs the fits here, in
        # this process, not on the worker: send the whole (sequential) search
        # to the worker instead -- the same 8 fits, one after the other.
        search = make_search(args.epochs, args.batch_size, n_jobs=1)
        return client.submit(search.fit, X, y, pure=False).result()
    with joblib.parallel_config(backend="dask", client=client):
        return make_search(args.epochs, args.batch_size, n_jobs=-1).fit(X, y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    data = pl.datasets.load("digits", task="digit")
    X, y = data.images[:args.n_samples], data.target[:args.n_samples]
    print(f"grid: 4 candidates x cv=2 = 8 fits of SimCLR(cnn, {args.epochs} epochs, "
          f"batch {args.batch_size}) + LogisticRegression on {len(X)} digits; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")

    from dask.distributed import Client, LocalCluster

    clusters = {n: LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                dashboard_address=None) for n in (1, 2)}
    clients = {n: Client(cluster) for n, cluster in clusters.items()}
    try:
        warm_up(X)
        threads = {}
        for n, client in clients.items():
            client.run(warm_up, X)
            threads[n] = sorted(set(client.run(torch.get_num_threads).values()))
        runs = {"local": lambda: make_search(args.epochs, args.batch_size, 1).fit(X, y),
                1: lambda: fit_on(clients[1], X, y, args),
                2: lambda: fit_on(clients[2], X, y, args)}
        times = {key: [] for key in runs}
        results = {}
        for _ in range(args.repeats):         # interleaved: load drifts affect all alike
            for key, run in runs.items():
                start = time.perf_counter()
                results[key] = run()
                times[key].append(time.perf_counter() - start)
    finally:
        for n in clients:
            clients[n].close()
            clusters[n].close()

    reference = results["local"].cv_results_["mean_test_score"]
    best = {key: min(values) for key, values in times.items()}
    print(f"no dask (this process, {torch.get_num_threads()} torch threads): "
          f"{best['local']:7.2f} s  runs {np.round(times['local'], 1).tolist()}")
    for n in (1, 2):
        same = np.allclose(results[n].cv_results_["mean_test_score"], reference, atol=1e-6)
        print(f"dask, {n} worker(s) x {threads[n]} torch thread(s):     {best[n]:7.2f} s  "
              f"runs {np.round(times[n], 1).tolist()}  (scores equal to no dask: {same})")
    print(f"ratio 1 worker / 2 workers: {best[1] / best[2]:.2f}   "
          f"(no dask / 2 workers: {best['local'] / best[2]:.2f}); "
          f"load average {os.getloadavg()[0]:.1f} at the end")

if __name__ == "__main__":
    main()

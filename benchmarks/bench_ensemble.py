"""Benchmark: N models of one recipe, batched (``fit_ensemble``) vs sequential vs joblib.

Each (recipe, N, arm) runs in a fresh subprocess so that its peak resident memory
(``resource.getrusage``: the process's own peak, plus its joblib workers' for the
joblib arm) is its own.  Every arm trains with ``torch.set_num_threads(1)`` per
process (joblib: 2 processes of 1 thread each).  The models are the default
audit's recipes on digits (``cnn`` backbone, batch 128, Adam lr 1e-3), each on a
random half of a pool of ``--pool`` records, as LiRA's reference models are.

    python benchmarks/bench_ensemble.py --epochs 10 --n-models 4 8 16
    python benchmarks/bench_ensemble.py --quality --epochs 30   # accuracy, solo vs batched
    python benchmarks/bench_ensemble.py --lira --epochs 30 --n-models 16  # LiRA AUC, same
    python benchmarks/bench_ensemble.py --device cuda --arms batched sequential

On ``--device cuda`` the memory column is the GPU's peak allocation
(``torch.cuda.max_memory_allocated``), each arm first warms the device up (CUDA
context, cuDNN) outside the timed region, and the clock stops after a
``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def _setup(pool, n_models, seed=0):
    import privlearn as pl

    data = pl.datasets.load("digits", task="digit")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.images))
    pool_idx, test_idx = order[:pool], order[pool:]
    halves = [rng.random(pool) < 0.5 for _ in range(n_models)]
    X, y = data.images[pool_idx], data.target[pool_idx]
    return X, y, halves, data.images[test_idx], data.target[test_idx]


DEVICE = "cpu"   # set from --device in main() and in each arm's subprocess


def _make(recipe, epochs, seed):
    import torch

    import privlearn as pl

    common = dict(backbone="cnn", max_epochs=epochs, batch_size=128, lr=1e-3,
                  optimizer=torch.optim.Adam, random_state=seed,
                  device=None if DEVICE == "cpu" else DEVICE)
    if recipe == "supervised":
        return pl.SupervisedClassifier(**common)
    return pl.SimCLR(temperature=0.5, **common)


def _fit_one(recipe, epochs, seed, X, y):
    import torch

    torch.set_num_threads(1)
    model = _make(recipe, epochs, seed)
    return model.fit(X, y) if recipe == "supervised" else model.fit(X)


def _arm(recipe, n_models, arm, epochs, pool):
    import torch

    torch.set_num_threads(1)
    X, y, halves, *_ = _setup(pool, n_models)
    seeds = list(range(100, 100 + n_models))
    cuda = DEVICE.startswith("cuda")
    if cuda:   # CUDA context and cuDNN set-up outside the timed region
        _fit_one(recipe, 1, 0, X[:256], y[:256])
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    if arm == "batched":
        from privlearn.ensemble import fit_ensemble

        fit_ensemble([_make(recipe, epochs, s) for s in seeds],
                     [(X[m], y[m]) for m in halves])
    elif arm == "sequential":
        for s, m in zip(seeds, halves):
            _fit_one(recipe, epochs, s, X[m], y[m])
    else:
        from joblib import Parallel, delayed

        Parallel(n_jobs=2)(delayed(_fit_one)(recipe, epochs, s, X[m], y[m])
                           for s, m in zip(seeds, halves))
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if cuda:
        peak_kib = torch.cuda.max_memory_allocated() / 1024
    return {"recipe": recipe, "n_models": n_models, "arm": arm, "epochs": epochs,
            "device": DEVICE,
            "seconds": round(seconds, 2), "peak_rss_mib": round(peak_kib / 1024, 1),
            "worker_peak_rss_mib": round(children_kib / 1024, 1) if arm == "joblib" else None}


def _quality(recipe, n_models, epochs, pool):
    """Test accuracy of each model: batched vs trained alone (same subset and seed)."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from privlearn.ensemble import fit_ensemble

    torch.set_num_threads(1)
    X, y, halves, Xt, yt = _setup(pool, n_models)
    seeds = list(range(100, 100 + n_models))
    batched = fit_ensemble([_make(recipe, epochs, s) for s in seeds],
                           [(X[m], y[m]) for m in halves])
    solo = [_fit_one(recipe, epochs, s, X[m], y[m]) for s, m in zip(seeds, halves)]

    def acc(model, m):
        if recipe == "supervised":
            return float((model.predict(Xt) == yt).mean())
        probe = LogisticRegression(max_iter=1000).fit(model.transform(X[m]), y[m])
        return float((probe.predict(model.transform(Xt)) == yt).mean())

    a_b = [acc(b, m) for b, m in zip(batched, halves)]
    a_s = [acc(s, m) for s, m in zip(solo, halves)]
    return {"recipe": recipe, "epochs": epochs, "batched_acc": a_b, "solo_acc": a_s,
            "batched_mean": round(float(np.mean(a_b)), 4),
            "batched_sd": round(float(np.std(a_b, ddof=1)), 4),
            "solo_mean": round(float(np.mean(a_s)), 4),
            "solo_sd": round(float(np.std(a_s, ddof=1)), 4)}


def _phi(model, X, y):
    """LiRA's logit-scaled confidence of the true label (Carlini et al. 2022)."""
    p = np.clip(model.predict_proba(X)[np.arange(len(y)), y], 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def _leave_one_out_lira(phi, halves):
    """Each model in turn is the target, the others its reference models (online LiRA,
    global IN/OUT variances): the ROC AUC of its members vs non-members of the pool."""
    from scipy.stats import norm
    from sklearn.metrics import roc_auc_score

    import warnings

    aucs = []
    warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
    for k in range(len(phi)):
        others = np.delete(np.arange(len(phi)), k)
        ph, ins = phi[others], halves[others]
        mu_in = np.nanmean(np.where(ins, ph, np.nan), axis=0)
        mu_out = np.nanmean(np.where(~ins, ph, np.nan), axis=0)
        sd_in = np.nanstd(np.where(ins, ph - mu_in, np.nan)) + 1e-6
        sd_out = np.nanstd(np.where(~ins, ph - mu_out, np.nan)) + 1e-6
        ok = np.isfinite(mu_in) & np.isfinite(mu_out)
        score = norm.logpdf(phi[k], mu_in, sd_in) - norm.logpdf(phi[k], mu_out, sd_out)
        aucs.append(roc_auc_score(halves[k][ok], score[ok]))
    return aucs


def _lira_quality(n_models, epochs, pool):
    """Leave-one-out LiRA AUC of supervised models: batched vs trained alone."""
    import torch

    from privlearn.ensemble import fit_ensemble

    torch.set_num_threads(1)
    X, y, halves, *_ = _setup(pool, n_models)
    halves = np.array(halves)
    seeds = list(range(100, 100 + n_models))
    batched = fit_ensemble([_make("supervised", epochs, s) for s in seeds],
                           [(X[m], y[m]) for m in halves])
    solo = [_fit_one("supervised", epochs, s, X[m], y[m]) for s, m in zip(seeds, halves)]
    out = {}
    for name, models in (("batched", batched), ("solo", solo)):
        aucs = _leave_one_out_lira(np.array([_phi(m, X, y) for m in models]), halves)
        out[name] = {"mean": round(float(np.mean(aucs)), 4),
                     "sd": round(float(np.std(aucs, ddof=1)), 4),
                     "aucs": [round(a, 4) for a in aucs]}
    return {"recipe": "supervised", "epochs": epochs, "n_models": n_models,
            "lira_auc": out}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--pool", type=int, default=900)
    parser.add_argument("--n-models", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--recipes", nargs="+", default=["supervised", "simclr"])
    parser.add_argument("--arms", nargs="+", default=["batched", "sequential", "joblib"])
    parser.add_argument("--quality", action="store_true",
                        help="compare test accuracy of batched and solo models instead")
    parser.add_argument("--lira", action="store_true",
                        help="leave-one-out LiRA AUC of batched and solo supervised models")
    parser.add_argument("--device", default="cpu",
                        help="cpu or cuda[:N]: where every arm trains")
    parser.add_argument("--_arm", nargs=3, metavar=("RECIPE", "N", "ARM"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    if args._arm:
        recipe, n, arm = args._arm
        print(json.dumps(_arm(recipe, int(n), arm, args.epochs, args.pool)))
        return
    print(f"# load before: {os.getloadavg()}", flush=True)
    if args.lira:
        print(json.dumps(_lira_quality(max(args.n_models), args.epochs, args.pool)),
              flush=True)
        return
    if args.quality:
        for recipe in args.recipes:
            print(json.dumps(_quality(recipe, max(args.n_models), args.epochs, args.pool)),
                  flush=True)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = []
    for recipe in args.recipes:
        for n in args.n_models:
            for arm in args.arms:
                out = subprocess.run(
                    [sys.executable, __file__, "--epochs", str(args.epochs), "--pool",
                     str(args.pool), "--device", args.device, "--_arm", recipe, str(n), arm],
                    env=env, check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), f"load={os.getloadavg()[0]:.2f}", flush=True)
    print(f"\n# device={args.device}, epochs={args.epochs}, pool={args.pool} (halves "
          f"~{args.pool // 2}), batch 128, 1 torch thread per process; load after: "
          f"{os.getloadavg()}" + ("; MiB = GPU peak allocation" if args.device != "cpu" else ""))
    print(f"{'recipe':<11}{'N':>3}{'batched s':>11}{'sequential s':>14}{'joblib(2) s':>13}"
          f"{'seq/batched':>13}{'MiB b/s/j':>20}")
    for recipe in args.recipes:
        for n in args.n_models:
            r = {row["arm"]: row for row in rows if row["recipe"] == recipe
                 and row["n_models"] == n}
            get = lambda a, k: r[a][k] if a in r else float("nan")  # noqa: E731
            ratio = get("sequential", "seconds") / get("batched", "seconds")
            mem = "/".join(f"{get(a, 'peak_rss_mib'):.0f}" for a in ("batched", "sequential",
                                                                      "joblib"))
            print(f"{recipe:<11}{n:>3}{get('batched', 'seconds'):>11.1f}"
                  f"{get('sequential', 'seconds'):>14.1f}{get('joblib', 'seconds'):>13.1f}"
                  f"{ratio:>13.2f}{mem:>20}")


if __name__ == "__main__":
    main()

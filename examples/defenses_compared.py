"""Every privlearn defense on one split, against the same attacks (docs/defenses.rst).

For each data set, each defense is trained on the same members and evaluated with
``privlearn.tradeoff.compare_defenses``: linear-probe utility on the task, the
strongest posterior membership attack (audit mode, AUC), and a *fresh* MLP
attribute attacker trained on frozen embeddings of held-out records, against the
majority baseline.  "leakage removed" is the fraction of SimCLR's leakage above
that baseline that the defense removes.

Run (one thread; a few minutes per data set)::

    python examples/defenses_compared.py                       # digits, magnitude
    python examples/defenses_compared.py --data digits-digit
    python examples/defenses_compared.py --data fashion-mnist-inverted
"""

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import privlearn as pl
from privlearn.tradeoff import compare_defenses, defense_table, plot_defenses

DATA = {
    # name: (loader arguments, images kept, epochs)
    "digits": (dict(name="digits", attribute="magnitude"), None, 20),
    "digits-digit": (dict(name="digits"), None, 20),
    "fashion-mnist-inverted": (dict(name="fashion-mnist-inverted", image_size=14),
                               1600, 10),
}


def defenses(epochs, seed=0):
    ssl = dict(max_epochs=epochs, batch_size=128, random_state=seed)
    strong = dict(adversary_steps=5, n_adversaries=3, adversary_reset=5)
    probe = dict(max_iter=1000)
    return {
        "SimCLR (no defense)": pl.SimCLR(**ssl),
        "SimCLR + LEACE": make_pipeline(pl.SimCLR(**ssl), pl.LinearConceptEraser(),
                                        LogisticRegression(**probe)),
        "Talos λ=1": pl.Talos(adversary_weight=1.0, **ssl),
        "Talos λ=3": pl.Talos(adversary_weight=3.0, **ssl),
        "Talos λ=3, strong adv.": pl.Talos(adversary_weight=3.0, **strong, **ssl),
        "Talos λ=10, strong adv.": pl.Talos(adversary_weight=10.0, **strong, **ssl),
        "MMD μ=10": pl.Talos(adversary_weight=0.0, mmd_weight=10.0, **ssl),
        "MMD μ=100": pl.Talos(adversary_weight=0.0, mmd_weight=100.0, **ssl),
        "MMD μ=1000": pl.Talos(adversary_weight=0.0, mmd_weight=1000.0, **ssl),
        "Talos λ=3 + MMD μ=10": pl.Talos(adversary_weight=3.0, mmd_weight=10.0,
                                         **strong, **ssl),
        "Talos + MMD + LEACE": make_pipeline(
            pl.Talos(adversary_weight=3.0, mmd_weight=10.0, **strong, **ssl),
            pl.LinearConceptEraser(), LogisticRegression(**probe)),
        "Supervised": pl.SupervisedClassifier(**ssl),
        "Supervised DP-SGD σ=1, C=1": pl.SupervisedClassifier(
            noise_multiplier=1.0, max_grad_norm=1.0, lr=1e-2, **ssl),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATA), default="digits")
    parser.add_argument("--plot", default=None, help="save the plot to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)

    loader, n_images, epochs = DATA[args.data]
    data = pl.datasets.load(**loader)
    X, y, s = data.images, data.target, data.sensitive
    if n_images is not None:                   # a stratified random subsample
        keep = np.random.default_rng(0).permutation(len(y))[:n_images]
        X, y, s = X[keep], y[keep], s[keep]
    start = time.perf_counter()
    result = compare_defenses(defenses(epochs), X, y, s, random_state=0)
    print(f"{args.data}: {len(y)} images ({result.n_members} members), {epochs} epochs, "
          f"cnn backbone, batch 128, one thread; {time.perf_counter() - start:.0f} s")
    print(defense_table(result))
    print("fit seconds:", ", ".join(f"{name} {seconds:.0f}" for name, seconds
                                    in zip(result.defense, result.fit_seconds)))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        axes = plot_defenses(result)
        axes[0].figure.suptitle(f"Defenses compared on {args.data}")
        axes[0].figure.savefig(args.plot, dpi=120, bbox_inches="tight")


if __name__ == "__main__":
    main()

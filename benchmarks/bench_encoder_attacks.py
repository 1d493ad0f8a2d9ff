"""EncoderMI, PartCrop and EncoderLiRA side by side on a memorising encoder.

The setting of tests/test_encoder_lira.py: a SimCLR cnn trained 600 epochs on 32
digits (8×8) or 28×28 Fashion-MNIST images (``--dataset fashion-mnist``, the first
4000 training images); 32 members against 128 non-members (``--non-members``).
EncoderMI and PartCrop in audit mode, 4-fold cross-validated (PartCrop with its
default ``part_size="auto"`` and with ``part_size="image"``); offline EncoderLiRA
with 4 reference encoders on 64 other images.  Prints AUC, TPR@1%FPR and each
attack's wall time (reference training counted apart), per seed and averaged.

    OMP_NUM_THREADS=1 python benchmarks/bench_encoder_attacks.py --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/bench_encoder_attacks.py --dataset fashion-mnist
"""

import argparse
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

import privlearn as pl
from privlearn.attacks import EncoderLiRA, EncoderMembershipInference, PartCrop, ReferenceModels
from privlearn.metrics import tpr_at_fpr


def recipe(seed, epochs):
    return pl.SimCLR(backbone="cnn", max_epochs=epochs, batch_size=32, lr=2e-3,
                     random_state=seed)


def run(seed, epochs, dataset, non_members):
    images = pl.datasets.load(dataset).images[:4000]
    images = images[np.random.RandomState(seed).permutation(len(images))]
    members, outside = images[:32], images[200:200 + non_members]
    start = max(600, 200 + non_members)          # the attacker's pool: other images
    pool = images[start:start + 64]
    X = np.concatenate([members, outside])
    y = np.r_[np.ones(32, int), np.zeros(non_members, int)]
    target = recipe(seed, epochs).fit(members)
    t = time.perf_counter()
    ref = ReferenceModels(recipe(seed, epochs), n_models=4, random_state=seed).fit(pool)
    ref_time = time.perf_counter() - t
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    rows = {}
    for name, make in (("EncoderMI", lambda: cross_val_predict(
            EncoderMembershipInference(target, random_state=0), X, y, cv=cv,
            method="decision_function")),
                       ("PartCrop", lambda: cross_val_predict(
            PartCrop(target, random_state=0), X, y, cv=cv, method="decision_function")),
                       ("PartCrop (image-size parts)", lambda: cross_val_predict(
            PartCrop(target, part_size="image", random_state=0), X, y, cv=cv,
            method="decision_function")),
                       ("EncoderLiRA", lambda: EncoderLiRA(target, reference=ref, random_state=0)
                        .fit(pool).decision_function(X))):
        t = time.perf_counter()
        s = make()
        rows[name] = (roc_auc_score(y, s), tpr_at_fpr(y, s, 0.01), time.perf_counter() - t)
    return rows, ref_time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist"])
    parser.add_argument("--non-members", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = {}
    for seed in args.seeds:
        rows, ref_time = run(seed, args.epochs, args.dataset, args.non_members)
        for name, (auc, tpr, sec) in rows.items():
            table.setdefault(name, []).append((auc, tpr, sec))
            print(f"seed {seed}  {name:<28} AUC {auc:.3f}  TPR@1%FPR {tpr:.3f}  {sec:6.1f} s",
                  flush=True)
        print(f"seed {seed}  (4 reference encoders for EncoderLiRA: {ref_time:.1f} s)", flush=True)
    print("\n| attack | AUC (per seed) | mean AUC | TPR@1%FPR (per seed) | mean TPR | wall s |")
    print("|---|---|---|---|---|---|")
    for name, vals in table.items():
        a = np.array(vals)
        print(f"| {name} | {' / '.join(f'{v:.3f}' for v in a[:, 0])} | {a[:, 0].mean():.3f} | "
              f"{' / '.join(f'{v:.3f}' for v in a[:, 1])} | {a[:, 1].mean():.3f} | "
              f"{a[:, 2].mean():.1f} |")


if __name__ == "__main__":
    main()

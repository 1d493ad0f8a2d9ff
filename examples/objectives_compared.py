"""Privacy of each self-supervised objective, against the supervised baseline.

The paper measures SimCLR only.  Here every objective (SimCLR, MoCo, BYOL,
SimSiam, Barlow Twins) and the supervised model get the same budget on digits
(the paper's four-way split, "cnn" backbone, the same epochs, batch size and
seed), and each is measured three ways:

- **utility**: held-out accuracy of a linear probe (LogisticRegression) on the
  frozen encoder, 10-class digit task (the supervised model: its own head);
- **membership**: the shadow-model NN attack and the modified-entropy attack
  on the probe's posteriors (target_train members vs target_test
  non-members; shadows trained on shadow_train), accuracy and ROC AUC;
- **attribute inference**: a fresh MLP attacker trained on the frozen
  embeddings of the attacker's auxiliary images (shadow_train) labelled with
  the digit, scored on the victims (target_train) of an encoder whose probe
  learned the parity task; the majority-class rate is the baseline.

Usage: ``python examples/objectives_compared.py [--epochs 20]`` (a few minutes
on one CPU thread).  The table in docs/objectives.rst comes from this script.
"""

import argparse
import time

import numpy as np
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import privlearn as pl

ENCODERS = {"SimCLR": pl.SimCLR, "MoCo": pl.MoCo, "BYOL": pl.BYOL, "SimSiam": pl.SimSiam,
            "Barlow Twins": pl.BarlowTwins}


def membership(target, shadow, X_shadow, m_shadow, X_eval, m_eval):
    scores = []
    for method in ("nn", "modified_entropy"):
        attack = pl.MembershipInference(target, shadow=FrozenEstimator(shadow),
                                        method=method, random_state=0).fit(X_shadow, m_shadow)
        report = pl.metrics.attack_report(m_eval, attack.predict_proba(X_eval)[:, 1],
                                          predictions=attack.predict(X_eval))
        scores += [report["accuracy"], report["roc_auc"]]
    return scores


def main(epochs):
    torch.set_num_threads(1)
    digit = pl.datasets.load("digits", task="digit")
    parts = pl.datasets.paper_split(digit, random_state=0)     # same split, 10-class task
    parity = pl.datasets.paper_split(pl.datasets.load("digits"), random_state=0)
    train, test, aux = parts.target_train, parts.target_test, parts.shadow_train
    budget = dict(backbone="cnn", max_epochs=epochs, batch_size=128, random_state=0)
    X_shadow, m_shadow = pl.membership_set(parts.shadow_train, parts.shadow_test)
    X_eval, m_eval = pl.membership_set(train, test)
    victims = parity.target_train.sensitive
    baseline = np.bincount(victims).max() / len(victims)
    print(f"digits: {len(train.images)} target-training images, {epochs} epochs, batch 128, "
          f"cnn; attribute baseline (majority digit) {baseline:.3f}")
    header = (f"{'model':<14}{'probe acc':>10}{'NN acc':>8}{'NN AUC':>8}{'Mentr acc':>10}"
              f"{'Mentr AUC':>10}{'attribute acc':>15}{'time s':>8}")
    print(header)
    recipes = {name: make_pipeline(cls(**budget), LogisticRegression(max_iter=2000))
               for name, cls in ENCODERS.items()}
    recipes["supervised"] = pl.SupervisedClassifier(**budget)
    rows = {}
    for name, recipe in recipes.items():
        start = time.perf_counter()
        target = clone(recipe).fit(train.images, train.target)
        shadow = clone(recipe).fit(aux.images, aux.target)
        utility = target.score(test.images, test.target)
        attacks = membership(target, shadow, X_shadow, m_shadow, X_eval, m_eval)
        # attribute inference: the same encoder recipe, its probe on parity
        parity_target = clone(recipe).fit(parity.target_train.images,
                                          parity.target_train.target)
        attacker = pl.AttributeInference(parity_target, random_state=0)
        attacker.fit(parity.shadow_train.images, parity.shadow_train.sensitive)
        attribute = attacker.score(parity.target_train.images, parity.target_train.sensitive)
        rows[name] = [utility, *attacks, attribute]
        print(f"{name:<14}" + "".join(f"{v:>{w}.3f}" for v, w in
                                      zip(rows[name], (10, 8, 8, 10, 10, 15)))
              + f"{time.perf_counter() - start:>8.0f}", flush=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    main(parser.parse_args().epochs)

"""Talos: how much does the adversary hide, and what does it cost?

1. Digits (task: parity; sensitive attribute: the digit), the paper's protocol on
   four disjoint 448-image parts: every model is trained on ``target_train`` (the
   victims); a *fresh* default MLP attacker is trained on the embeddings of the
   attacker's auxiliary part ``shadow_train`` and scored on the victims; utility
   is a linear probe's parity accuracy on ``target_test``; membership inference
   is the owner's audit (5-fold ROC AUC of the modified-entropy attack on
   ``target_train`` ∪ ``target_test``).  Compared: a supervised parity model,
   SimCLR (= Talos with λ=0, exactly) and Talos for several λ.
2. Fashion-MNIST at 16×16 with a synthetic attribute independent of the class:
   a random half of every class is intensity-inverted
   (:func:`privlearn.datasets.synthetic.add_inversion_attribute`).  The curve
   comes from :func:`privlearn.talos.privacy_utility_curve`.

All models: the small CNN backbone, batch 128, Adam 1e-3, seed 0.  About two
minutes on a free 2-core CPU.  ``python talos_tradeoff.py curve.png`` also saves
the Fashion-MNIST curve as a plot.
"""

import sys
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

import privlearn as pl
from privlearn.datasets.synthetic import add_inversion_attribute
from privlearn.talos import plot_privacy_utility, privacy_utility_curve

DIGITS_EPOCHS = 40
FASHION_EPOCHS = 30
WEIGHTS = (0.0, 0.3, 1.0, 3.0, 10.0)


def measure(model, parts, fit_params):
    """Utility, fresh-attacker accuracy, adversary accuracy, membership AUC."""
    train, test, aux = parts.target_train, parts.target_test, parts.shadow_train
    model.fit(train.images, train.target, **fit_params)
    utility = model.score(test.images, test.target)
    attack = pl.AttributeInference(model, random_state=0)   # the default, strong MLP
    leak = attack.fit(aux.images, aux.sensitive).score(train.images, train.sensitive)
    records, membership = pl.membership_set(train, test)
    auc = cross_val_score(pl.MembershipInference(model, method="modified_entropy"),
                          records, membership, cv=5, scoring="roc_auc").mean()
    encoder = model[0] if hasattr(model, "steps") else model
    adversary = (encoder.history_[-1, "adversary_acc"] if hasattr(encoder, "adversary_")
                 else float("nan"))
    return utility, leak, adversary, auc


def digits_part():
    parts = pl.datasets.paper_split(pl.datasets.load("digits"), random_state=0)
    victims = parts.target_train.sensitive
    print(f"Digits: parity task, digit attribute; 448 victims, 448 auxiliary, 448 "
          f"held out; {DIGITS_EPOCHS} epochs.  Majority digit rate on the victims: "
          f"{np.bincount(victims).max() / len(victims):.3f}.")
    common = dict(max_epochs=DIGITS_EPOCHS, batch_size=128, random_state=0)
    models = [("supervised (parity)", pl.SupervisedClassifier(**common), {})]
    for weight in WEIGHTS:
        name = "SimCLR = Talos λ=0" if weight == 0 else f"Talos λ={weight:g}"
        talos = pl.Talos(adversary_weight=weight, **common)
        models.append((name, make_pipeline(talos, LogisticRegression(max_iter=2000)),
                       {"talos__sensitive_features": parts.target_train.sensitive}))
    print(f"{'model':22s}{'task acc':>10s}{'attack acc':>12s}{'adversary':>11s}"
          f"{'MIA AUC':>9s}")
    for name, model, fit_params in models:
        utility, leak, adversary, auc = measure(model, parts, fit_params)
        print(f"{name:22s}{utility:10.3f}{leak:12.3f}{adversary:11.3f}{auc:9.3f}")
    print("(task acc: held-out parity accuracy of the model / its linear probe; attack "
          "acc: fresh MLP on the victims; adversary: Talos's own adversary, last "
          "epoch, on augmented views)")


def fashion_part(plot_to=None):
    data = pl.datasets.load("fashion-mnist", split="test", task="fine", image_size=16)
    data = add_inversion_attribute(data, random_state=0)
    parts = pl.datasets.paper_split(data, n_per_part=448, random_state=0)
    X = np.concatenate([parts.target_train.images, parts.target_test.images])
    y = np.concatenate([parts.target_train.target, parts.target_test.target])
    s = np.concatenate([parts.target_train.sensitive, parts.target_test.sensitive])
    print(f"\nFashion-MNIST 16×16, 10 classes; attribute: inverted or not (independent "
          f"of the class); 448 victims, 448 held out; {FASHION_EPOCHS} epochs.")
    talos = pl.Talos(max_epochs=FASHION_EPOCHS, batch_size=128, random_state=0)
    curve = privacy_utility_curve(talos, X, y, s, [0.0, 1.0, 3.0, 10.0], random_state=0)
    print(f"majority attribute rate on the victims {curve.attack_baseline:.3f}")
    print(f"{'λ':>6s}{'task acc':>10s}{'attack acc':>12s}{'adversary':>11s}")
    for row in zip(curve.adversary_weight, curve.utility, curve.attack_accuracy,
                   curve.adversary_accuracy):
        print(f"{row[0]:6g}{row[1]:10.3f}{row[2]:12.3f}{row[3]:11.3f}")
    if plot_to:
        ax = plot_privacy_utility(curve)
        ax.set_title("Talos on Fashion-MNIST, inversion attribute")
        ax.figure.savefig(plot_to, dpi=120, bbox_inches="tight")
        print(f"plot saved to {plot_to}")


def main():
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    torch.set_num_threads(2)
    start = time.time()
    digits_part()
    fashion_part(sys.argv[1] if len(sys.argv) > 1 else None)
    print(f"\n({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()

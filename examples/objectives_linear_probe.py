"""Every self-supervised objective in one pipeline: fit, probe, compare.

MoCo, BYOL, SimSiam and Barlow Twins share SimCLR's interface, so the same
code and the same parameters (backbone, epochs, ``augment__*``,
``random_state``) serve all of them.  Each row is the
held-out accuracy of a linear probe (100 labels) on the frozen
representations, next to the untrained encoder of the same architecture.

Usage: ``python examples/objectives_linear_probe.py [--epochs 10]`` (about a
minute on one CPU thread).
"""

import argparse

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import privlearn as pl


def main(epochs):
    torch.set_num_threads(1)
    data = pl.datasets.load("digits", task="digit")
    X_train, X_test, y_train, y_test = train_test_split(
        data.images, data.target, test_size=0.3, stratify=data.target, random_state=0)
    labelled = slice(0, 100)           # the probe sees 100 labels; the encoder none
    print(f"encoders on {len(X_train)} unlabelled digits ({epochs} epochs); linear probe on "
          "100 labelled ones; held-out accuracy")
    for cls in (pl.SimCLR, pl.MoCo, pl.BYOL, pl.SimSiam, pl.BarlowTwins):
        scores = []
        for max_epochs in (0, epochs):
            encoder = cls(max_epochs=max_epochs, batch_size=128, random_state=0).fit(X_train)
            probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            probe.fit(encoder.transform(X_train[labelled]), y_train[labelled])
            scores.append(probe.score(encoder.transform(X_test), y_test))
        print(f"{cls.__name__:<12} untrained {scores[0]:.3f}   trained {scores[1]:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    main(parser.parse_args().epochs)

"""Post-hoc linear concept erasure (LEACE) after a SimCLR encoder.

Trains SimCLR on half of digits (task: parity; attribute: low/high digit), puts
``pl.LinearConceptEraser`` between the frozen encoder and a linear probe, and
attacks the attribute on the embeddings before and after erasure with a linear
attacker and with the default MLP attacker (both trained on the held-out half's
embeddings, scored on the training half).  LEACE removes what a linear model can
read; the MLP shows what it does not remove.

Run: ``python examples/concept_erasure.py`` (one thread, about a minute).
"""

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import privlearn as pl


def main():
    torch.set_num_threads(1)
    data = pl.datasets.load("digits", attribute="magnitude")
    train, test = train_test_split(np.arange(len(data.target)), test_size=0.5,
                                   stratify=data.target, random_state=0)
    X, y, s = data.images, data.target, data.sensitive

    model = make_pipeline(pl.SimCLR(max_epochs=20, batch_size=128, random_state=0),
                          pl.LinearConceptEraser(), LogisticRegression(max_iter=1000))
    model.fit(X[train], y[train], linearconcepteraser__sensitive_features=s[train])
    encoder = model[:1]                   # SimCLR alone: the embeddings before erasure

    majority = np.bincount(s[train]).max() / len(train)
    print(f"task accuracy with erasure: {model.score(X[test], y[test]):.3f}")
    print(f"attribute majority rate: {majority:.3f}")
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    for name, target in (("before erasure", encoder), ("after erasure", model)):
        for attacker, recipe in (("linear", linear), ("MLP", None)):
            attack = pl.AttributeInference(target, attack_model=recipe, random_state=0)
            accuracy = attack.fit(X[test], s[test]).score(X[train], s[train])
            print(f"{name:15s} {attacker:6s} attacker: {accuracy:.3f}")


if __name__ == "__main__":
    main()

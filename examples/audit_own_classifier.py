"""Audit a torchvision resnet18 classifier trained in a plain PyTorch loop.

The classifier is trained 60 full-batch steps on 60 member digits (grey 8×8
repeated to 3 channels) and wrapped as ``TorchClassifier``; ``audit_model`` then
runs every catalogued attack a classifier allows -- every posterior attack (NN,
correctness, confidence, entropy, modified entropy) and the label-only attack,
cross-validated on the known membership -- and LiRA/RMIA offline with a recipe
(the same plain loop wrapped as an sklearn estimator, 4 reference models) and a
population pool of 120 other digits (disjoint from the 60 members and 60
non-members audited).  The report also has the blind
baseline, ``record_risk.csv`` and the gallery of the most exposed members.

``python examples/audit_own_classifier.py [out-folder]``; about three minutes on 2 cores.
"""

import sys
import tempfile
import time

import numpy as np
import torch
import torchvision
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits

from privlearn.own_audit import audit_model
from privlearn.own_audit.report import findings_lines
from privlearn.records import Records
from privlearn.wrappers import TorchClassifier

torch.set_num_threads(1)


def train_resnet(images, labels, steps=60, seed=0):
    """A plain PyTorch loop: resnet18 (random init), Adam, full batch."""
    torch.manual_seed(seed)
    net = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.from_numpy(np.asarray(images, np.float32) / 255)
    y = torch.from_numpy(np.asarray(labels)).long()
    net.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


class ResNetRecipe(ClassifierMixin, BaseEstimator):
    """The training recipe as an unfitted estimator, for LiRA/RMIA's reference models."""

    def __init__(self, steps=60):
        self.steps = steps

    def fit(self, X, y):
        self.model_ = TorchClassifier(train_resnet(X, y, self.steps), classes=np.arange(10))
        self.classes_ = np.arange(10)
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def main():
    d = load_digits()
    idx = np.random.RandomState(0).permutation(len(d.images))
    images = np.repeat((d.images * (255 / 16)).round().astype(np.uint8)[:, None], 3, axis=1)
    data_idx, pool_idx = idx[:120], idx[120:240]
    member = np.r_[np.ones(60, int), np.zeros(60, int)]
    X, y = images[data_idx], d.target[data_idx]
    t0 = time.perf_counter()
    clf = TorchClassifier(train_resnet(X[member == 1], y[member == 1]), classes=np.arange(10))
    print(f"trained in {time.perf_counter() - t0:.1f} s; train acc "
          f"{(clf.predict(X[member == 1]) == y[member == 1]).mean():.3f}, test acc "
          f"{(clf.predict(X[member == 0]) == y[member == 0]).mean():.3f}")
    pool = Records(images[pool_idx], d.target[pool_idx])  # the population, not audited
    out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="own_clf_")
    r = audit_model(classifier=clf, data={"images": X, "target": y}, members=member,
                    recipe=ResNetRecipe(), pool=pool, n_shadows=4, label_only_records=40,
                    out=out)
    ran = [a for a, v in r["attacks"].items() if "skipped" not in v]
    print("attacks run:", ", ".join(r["attacks"][a]["title"] for a in ran))
    print("\n".join(findings_lines(r)))
    print(f"audit: {r['seconds']:.1f} s, report in {out}")


if __name__ == "__main__":
    main()

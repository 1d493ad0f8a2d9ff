"""Choosing Talos's adversary weight λ by utility and leakage with GridSearchCV.

Digits (task: parity; sensitive attribute: the digit), 896 images, 3-fold search
over λ.  Each validation fold is scored twice: ``"utility"`` (parity accuracy of
the pipeline) and ``"leak"`` (:func:`privlearn.attribute_leakage_scorer`: minus the
accuracy of a fresh MLP attacker cross-validated on the fold's embeddings).  The
attribute reaches both Talos (for training, sliced to each training fold) and the
scorer (sliced to each validation fold) through scikit-learn's metadata routing;
Talos requests ``sensitive_features`` by default.  ``refit`` picks the most useful
λ whose leakage stays under a bound.

The last part shows the form without metadata routing (training only: the
scorer then cannot see the attribute).  About two minutes on a free 2-core CPU.
"""

import time
import warnings

import numpy as np
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

import privlearn as pl

WEIGHTS = [0.0, 1.0, 10.0]
LEAK_BOUND = 0.92        # accept attack accuracies up to this


def most_useful_under_bound(results):
    """refit callable: best utility among the candidates that leak <= LEAK_BOUND."""
    leak = -results["mean_test_leak"]
    utility = np.where(leak <= LEAK_BOUND, results["mean_test_utility"], -np.inf)
    if np.all(np.isinf(utility)):           # none qualifies: the least leaky one
        return int(np.argmin(leak))
    return int(np.argmax(utility))


def main():
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    torch.set_num_threads(2)
    start = time.time()
    data = pl.datasets.load("digits")
    parts = pl.datasets.paper_split(data, random_state=0)
    X = np.concatenate([parts.target_train.images, parts.target_test.images])
    y = np.concatenate([parts.target_train.target, parts.target_test.target])
    s = np.concatenate([parts.target_train.sensitive, parts.target_test.sensitive])
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    protected = make_pipeline(pl.Talos(max_epochs=20, batch_size=128, random_state=0),
                              LogisticRegression(max_iter=2000))

    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            protected, {"talos__adversary_weight": WEIGHTS},
            scoring={"utility": "accuracy", "leak": pl.attribute_leakage_scorer()},
            refit=most_useful_under_bound, cv=cv)
        search.fit(X, y, sensitive_features=s)      # no set_fit_request needed
    results = search.cv_results_
    print(f"{len(X)} digits, 3 folds, 20 epochs; majority digit rate "
          f"{np.bincount(s).max() / len(s):.3f}")
    print(f"{'λ':>6s}{'utility':>10s}{'attack acc':>12s}")
    for weight, utility, leak in zip(results["param_talos__adversary_weight"],
                                     results["mean_test_utility"],
                                     results["mean_test_leak"]):
        print(f"{weight:6g}{utility:10.3f}{-leak:12.3f}")
    chosen = search.best_params_["talos__adversary_weight"]
    print(f"chosen λ (best utility with attack accuracy <= {LEAK_BOUND}): {chosen:g}")

    # Without metadata routing: the attribute goes to Talos as a step parameter.
    plain = GridSearchCV(protected, {"talos__adversary_weight": [0.0, 10.0]},
                         cv=StratifiedKFold(2, shuffle=True, random_state=0), refit=False)
    plain.fit(X, y, talos__sensitive_features=s)
    print("without routing (2 folds, utility only):",
          {w: round(float(u), 3) for w, u in
           zip([0.0, 10.0], plain.cv_results_["mean_test_score"])})
    print(f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()

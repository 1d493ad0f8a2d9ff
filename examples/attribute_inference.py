"""Attribute inference on digits: what an embedding leaks beyond its task.

Task: parity of a handwritten digit.  Sensitive attribute: the digit itself.  The
attacker holds auxiliary images labelled with the digit, queries the target model
for their embeddings, trains an MLP, and attacks the target's own training images.

1. Two parity models with different embeddings: PCA(20) (keeps the digit) and the
   model's own parity posterior (keeps only parity).
2. Audit mode: the owner cross-validates the attack on records it labelled.
3. Model selection with ``attribute_leakage_scorer``: a grid over the embedding
   size, scored on utility and leakage at once (metadata routing).

Runs in well under a minute on a 2-core CPU.  The encoder here is scikit-learn's
PCA, a stand-in for ``privlearn.SimCLR`` / ``privlearn.Talos``: the attack and the
scorer only need the encoder's ``transform``.
"""

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.ensemble import StackingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import privlearn as pl


def flatten(images):
    """N×1×8×8 uint8 images -> N×64 floats in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255


def main():
    import warnings
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    data = pl.datasets.load("digits")              # target: parity, sensitive: digit
    parts = pl.datasets.paper_split(data, random_state=0)
    train, aux = parts.target_train, parts.shadow_train
    counts = np.bincount(train.sensitive)
    print(f"victims: {len(train.images)} target-training images; attacker's auxiliary "
          f"set: {len(aux.images)} images; majority-class rate {counts.max() / counts.sum():.3f}")

    # 1. the paper's protocol against two parity models -------------------------
    keeps_digit = make_pipeline(FunctionTransformer(flatten), PCA(20, random_state=0),
                                LogisticRegression(max_iter=1000))
    keeps_parity = make_pipeline(
        FunctionTransformer(flatten),
        StackingClassifier([("parity", LogisticRegression(max_iter=2000))],
                           final_estimator=LogisticRegression()))  # transform: P(odd|x)
    print("\nembedding                   task acc (held out)  attack acc on victims")
    for name, target in [("PCA(20)", keeps_digit), ("parity posterior", keeps_parity)]:
        target.fit(train.images, train.target)
        task = target.score(parts.target_test.images, parts.target_test.target)
        attack = pl.AttributeInference(target, random_state=0)
        attack.fit(aux.images, aux.sensitive)
        leak = attack.score(train.images, train.sensitive)
        print(f"{name:<27} {task:>8.3f}             {leak:>8.3f}")

    # 2. audit mode: cross-validate the attack against the one fitted model --------
    scores = cross_val_score(pl.AttributeInference(keeps_digit, random_state=0),
                             train.images, train.sensitive, cv=5)
    print(f"\naudit (5-fold CV on the victims' own records), PCA(20): "
          f"{scores.mean():.3f} ± {scores.std():.3f}")

    # 3. choose the embedding by utility and leakage together ----------------------
    X = np.concatenate([train.images, parts.target_test.images])
    y = np.concatenate([train.target, parts.target_test.target])
    s = np.concatenate([train.sensitive, parts.target_test.sensitive])
    leak_bound = 0.65

    def most_useful_under_bound(results):
        attack_accuracy = -results["mean_test_leak"]
        utility = np.where(attack_accuracy <= leak_bound, results["mean_test_utility"],
                           -np.inf)
        return int(np.argmax(utility))

    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            make_pipeline(FunctionTransformer(flatten), PCA(random_state=0),
                          LogisticRegression(max_iter=1000)),
            {"pca__n_components": [1, 2, 4, 16]},
            scoring={"utility": "accuracy", "leak": pl.attribute_leakage_scorer()},
            refit=most_useful_under_bound, cv=3)
        search.fit(X, y, sensitive_features=s)   # the attribute is sliced per fold
    results = search.cv_results_
    print("\nPCA size   task accuracy   attribute-attack accuracy (scorer: -leak)")
    for k, utility, leak in zip(results["param_pca__n_components"],
                                results["mean_test_utility"], results["mean_test_leak"]):
        print(f"{k:>8}   {utility:>13.3f}   {-leak:>10.3f}")
    print(f"most useful with attack accuracy <= {leak_bound}: {search.best_params_}")


if __name__ == "__main__":
    main()

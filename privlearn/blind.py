"""The blind baseline: can a model-free classifier tell the members from the non-members?

If simple image statistics alone separate a user's members from their non-members,
the split itself leaks membership (a distribution shift), and any attack on the
model is confounded (Das, Zhang & Tramèr 2024, "Blind Baselines Beat Membership
Inference Attacks for Foundation Models").
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

__all__ = ["blind_baseline", "image_statistics"]


def image_statistics(images, bins=8):
    """Per-channel mean/std/min/max, a brightness histogram and the size: one row per image."""
    X = np.asarray(images, dtype=np.float32)
    if X.ndim == 3:
        X = X[:, None]
    if X.dtype.kind == "f" and np.asarray(images).dtype == np.uint8:
        X = X / 255.0
    elif np.asarray(images).dtype.kind in "iu":
        X = X / 255.0
    flat = X.reshape(len(X), X.shape[1], -1)
    brightness = flat.mean(axis=1)
    hist = np.stack([((brightness >= lo) & (brightness < lo + 1 / bins)).mean(axis=1)
                     for lo in np.linspace(0, 1, bins, endpoint=False)], axis=1)
    size = np.full((len(X), 1), X.shape[2] * X.shape[3], dtype=np.float32)
    return np.hstack([flat.mean(2), flat.std(2), flat.min(2), flat.max(2), hist, size])


def _downsampled(images, side=4):
    import torch
    X = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if X.ndim == 3:
        X = X[:, None]
    return torch.nn.functional.adaptive_avg_pool2d(X, side).reshape(len(X), -1).numpy() / 255.0


def blind_baseline(images, membership, *, cv=5, n_boot=1000, confidence=0.95,
                   random_state=None):
    """Cross-validated AUC of model-free classifiers of membership, with a bootstrap interval.

    Two classifiers never query the model: gradient boosting on
    :func:`image_statistics`, and logistic regression on 4×4 downsampled pixels.
    The stronger (by cross-validated AUC) is reported.

    Returns
    -------
    result : dict
        ``auc``, ``ci`` (bootstrap over records of the out-of-fold scores),
        ``leaks`` (the interval's lower end > 0.5), ``features`` (the winner),
        ``per_feature`` (AUC of each), ``scores`` (out-of-fold scores).

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.blind import blind_baseline
    >>> rng = np.random.RandomState(0)
    >>> member = np.r_[np.ones(60, int), np.zeros(60, int)]
    >>> images = rng.randint(0, 128, (120, 1, 8, 8)).astype(np.uint8)
    >>> images[member == 1] += 100
    >>> blind_baseline(images, member, random_state=0)["leaks"]
    True
    """
    images = np.asarray(images)
    membership = np.asarray(membership)
    if images.ndim not in (3, 4) or images.dtype.kind not in "biuf":
        raise ValueError(f"blind_baseline: `images` must be numeric N×C×H×W, got shape "
                         f"{images.shape}, dtype {images.dtype}")
    if membership.shape != (len(images),) or not np.isin(membership, [0, 1]).all():
        raise ValueError("blind_baseline: `membership` must be 0/1, one per image")
    counts = np.bincount(membership.astype(int), minlength=2)
    if counts.min() < cv:
        raise ValueError(f"blind_baseline: need at least cv={cv} members and non-members, "
                         f"got {counts[1]} and {counts[0]}")
    rng = check_random_state(random_state)
    folds = StratifiedKFold(cv, shuffle=True, random_state=rng.randint(2**31 - 1))
    candidates = {
        "image statistics (gradient boosting)": (
            HistGradientBoostingClassifier(max_iter=100, random_state=0),
            image_statistics(images)),
        "4x4 downsampled pixels (logistic regression)": (
            make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)),
            _downsampled(images)),
    }
    per, scores = {}, {}
    for name, (model, X) in candidates.items():
        s = cross_val_predict(model, X, membership, cv=folds, method="predict_proba")[:, 1]
        scores[name], per[name] = s, float(roc_auc_score(membership, s))
    best = max(per, key=per.get)
    s = scores[best]
    boots = []
    n = len(s)
    for _ in range(n_boot):
        idx = rng.randint(0, n, n)
        if len(np.unique(membership[idx])) == 2:
            boots.append(roc_auc_score(membership[idx], s[idx]))
    alpha = (1 - confidence) / 2
    ci = [float(v) for v in np.quantile(boots, [alpha, 1 - alpha])]
    # Choosing the best of two inflates its AUC slightly; the interval is of the
    # chosen one's out-of-fold scores, so a flag still needs a clear shift.
    return {"auc": per[best], "ci": ci, "leaks": bool(ci[0] > 0.5), "features": best,
            "per_feature": per, "scores": s}

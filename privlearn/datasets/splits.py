"""The paper's data splits and the membership records built from them."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..records import Records, check_class_labels
from ._base import subset

PARTS = ("target_train", "target_test", "shadow_train", "shadow_test")


def paper_split(data, *, n_per_part=None, random_state=None):
    """Split a data set into four disjoint, equal, class-stratified parts.

    As in He & Zhang (CCS 2021): the target model is trained on ``target_train``
    (its members) and ``target_test`` holds non-members; the attacker's shadow model
    is trained on ``shadow_train`` and ``shadow_test`` holds its non-members.

    Parameters
    ----------
    data : Bunch
        A data set from :func:`privlearn.datasets.load` (``images``, ``target``,
        optionally ``sensitive``).
    n_per_part : int, default=None
        Samples per part.  ``None`` uses as many as the rarest class allows
        (about a quarter of the data).  Smaller values subsample, keeping the
        class proportions.
    random_state : int, RandomState instance or None, default=None
        Controls the shuffling.

    Returns
    -------
    parts : Bunch
        ``parts.target_train``, ``parts.target_test``, ``parts.shadow_train``,
        ``parts.shadow_test``, each a Bunch like ``data``.

    Examples
    --------
    >>> import privlearn as pl
    >>> parts = pl.datasets.paper_split(pl.datasets.load("digits"), random_state=0)
    >>> [len(parts[p].target) for p in pl.datasets.PARTS]
    [448, 448, 448, 448]
    """
    if not isinstance(data, dict):
        raise TypeError("paper_split: `data` must be a Bunch with 'images' and 'target' "
                        f"(from privlearn.datasets.load), got {type(data).__name__}")
    for field in ("images", "target"):
        if field not in data:
            raise TypeError(f"paper_split: `data` must be a Bunch with '{field}', "
                            f"got keys {sorted(data)}")
    target = check_class_labels(data["target"], argument="data.target",
                                owner="paper_split")
    if len(target) != len(data["images"]):
        raise ValueError("paper_split: data.images and data.target differ in length "
                         f"({len(data['images'])} vs {len(target)})")
    try:
        rng = check_random_state(random_state)
    except ValueError:
        raise ValueError("paper_split: `random_state` must be None, an integer or a numpy "
                         f"RandomState, got {random_state!r}") from None
    classes, counts = np.unique(target, return_counts=True)
    if len(classes) == 0:
        raise ValueError("paper_split: `data` holds no samples")
    per_class = counts // 4
    if per_class.min() < 1:
        rare = classes[np.argmin(counts)]
        raise ValueError(
            f"paper_split needs at least 4 samples of every class (one per part); "
            f"class {rare!r} has {counts.min()}.")
    full = int(per_class.sum())
    if n_per_part is not None:
        if not isinstance(n_per_part, (int, np.integer)) or isinstance(n_per_part, bool):
            raise TypeError(f"paper_split: n_per_part must be an int, got {n_per_part!r}")
        if not len(classes) <= n_per_part <= full:
            raise ValueError(
                f"paper_split: n_per_part must be between {len(classes)} (one per "
                f"class) and {full} for this data set, got {n_per_part}.")
        # Largest-remainder allocation keeps class proportions and the exact size.
        share = per_class * (n_per_part / full)
        per_class_new = np.floor(share).astype(int)
        short = n_per_part - per_class_new.sum()
        per_class_new[np.argsort(share - per_class_new)[::-1][:short]] += 1
        per_class = np.maximum(per_class_new, 1)
        while per_class.sum() > n_per_part:
            per_class[np.argmax(per_class)] -= 1
    chunks = [[] for _ in PARTS]
    for cls, k in zip(classes, per_class):
        idx = rng.permutation(np.flatnonzero(target == cls))[: 4 * k]
        for part in range(4):
            chunks[part].append(idx[part * k:(part + 1) * k])
    out = Bunch()
    for name, pieces in zip(PARTS, chunks):
        out[name] = subset(data, rng.permutation(np.concatenate(pieces)))
    return out


def membership_set(members, non_members):
    """Records of members and non-members, and their membership labels.

    Parameters
    ----------
    members, non_members : Bunch or tuple (images, target)
        Data the model was trained on (members) and data it never saw.

    Returns
    -------
    records : Records
        Inputs with their true class labels, members first.
    membership : ndarray of shape (n_members + n_non_members,)
        1 for members, 0 for non-members.

    Examples
    --------
    >>> import privlearn as pl
    >>> parts = pl.datasets.paper_split(pl.datasets.load("digits"), random_state=0)
    >>> X, m = pl.membership_set(parts.target_train, parts.target_test)
    >>> len(X), int(m.sum())
    (896, 448)
    """
    def unpack(part, arg):
        if isinstance(part, dict):
            if "images" not in part or "target" not in part:
                raise TypeError(f"membership_set: `{arg}` must hold 'images' and 'target'")
            return np.asarray(part["images"]), np.asarray(part["target"])
        if isinstance(part, (tuple, list)) and len(part) == 2:
            return np.asarray(part[0]), np.asarray(part[1])
        raise TypeError(f"membership_set: `{arg}` must be a Bunch with images and "
                        f"target or a tuple (images, target), got {type(part).__name__}")

    x_in, y_in = unpack(members, "members")
    x_out, y_out = unpack(non_members, "non_members")
    for arg, x, y in (("members", x_in, y_in), ("non_members", x_out, y_out)):
        if x.ndim == 0 or y.ndim != 1:
            raise ValueError(f"membership_set: `{arg}` must hold an array of inputs and a "
                             f"1-D array of labels, got shapes {x.shape} and {y.shape}")
        if len(x) != len(y):
            raise ValueError(f"membership_set: `{arg}` has {len(x)} inputs but "
                             f"{len(y)} labels")
        if len(x) == 0:
            raise ValueError(f"membership_set: `{arg}` is empty")
    if x_in.shape[1:] != x_out.shape[1:]:
        raise ValueError(
            "membership_set: members and non_members must have inputs of the same "
            f"shape, got members {x_in.shape} and non_members {x_out.shape}")
    records = Records(np.concatenate([x_in, x_out]), np.concatenate([y_in, y_out]))
    membership = np.concatenate([np.ones(len(x_in), dtype=np.int64),
                                 np.zeros(len(x_out), dtype=np.int64)])
    return records, membership

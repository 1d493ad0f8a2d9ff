"""Stage 1, split: load the data, cut the paper's four parts, build the attack record sets."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from .. import datasets as _datasets

__all__ = ["load_data", "split", "attack_sets"]


def load_data(cfg):
    """The data set of the configuration (digits with its chosen attribute)."""
    kwargs = {} if cfg.image_size is None else {"image_size": cfg.image_size}
    if cfg.attribute is not None:
        kwargs["attribute"] = cfg.attribute
    return _datasets.load(cfg.dataset, root=cfg.root, **kwargs)


def split(data, cfg, seed):
    """The four-way split of one repeat."""
    n_full = int((np.bincount(data.target) // 4).sum())
    n = None if cfg.n_per_part is None else min(cfg.n_per_part, n_full)
    return _datasets.paper_split(data, n_per_part=n, random_state=seed)


def attack_sets(parts, has_attribute):
    """The records every attack uses, built once from the split.

    Membership: the shadow's records (to fit attacks) and the target's (to evaluate;
    members first).  Attribute inference: the attacker's auxiliary data are the
    shadow parts; the victims are the target's training records (``aux_labels`` and
    ``victim_labels``: their task labels).
    """
    sets = Bunch(shadow=_datasets.membership_set(parts.shadow_train, parts.shadow_test),
                 eval=_datasets.membership_set(parts.target_train, parts.target_test),
                 test=(parts.target_test.images, parts.target_test.target),
                 train=(parts.target_train.images, parts.target_train.target))
    if has_attribute:
        sets.aux = (np.concatenate([parts.shadow_train.images, parts.shadow_test.images]),
                    np.concatenate([parts.shadow_train.sensitive, parts.shadow_test.sensitive]))
        sets.victims = (parts.target_train.images, parts.target_train.sensitive)
        # task labels of both, for the conditional baseline (an attacker who knows
        # only the task label)
        sets.aux_labels = np.concatenate([parts.shadow_train.target, parts.shadow_test.target])
        sets.victim_labels = np.asarray(parts.target_train.target)
    return sets

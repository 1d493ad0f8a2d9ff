"""Data-set variants with a synthetic sensitive attribute independent of the task.

On some bundled settings the sensitive attribute is what the task is made of
(digits with ``attribute="digit"``: the task is the digit's parity), so hiding it
must cost utility; in others it is only partly tied to the task (digits'
magnitude, Fashion-MNIST's fine class within its coarse group).  To measure a defence where hiding
is possible without losing the task, :func:`add_inversion_attribute` marks a
random half of the images by inverting their intensities (``255 - pixel``,
white garments on a black background become black on white): the attribute
"inverted" is plainly visible in every image and survives SimCLR's
augmentations (crops keep the background, the brightness/contrast jitter keeps
the order of intensities), yet it is drawn independently of the class.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from ._base import make_bunch
from .offline import load_fashion_mnist

__all__ = ["add_inversion_attribute", "load_fashion_mnist_inverted"]

INVERSION_NAMES = ["original", "inverted"]


def add_inversion_attribute(data, *, fraction=0.5, random_state=0):
    """Invert a random share of the images and make that the sensitive attribute.

    Within every class, ``round(fraction × class size)`` images, chosen at
    random, get ``255 - pixel``; ``sensitive`` is 1 for them and 0 otherwise, so
    the attribute is independent of ``target`` (exactly balanced per class).

    Parameters
    ----------
    data : Bunch
        A data set from :func:`privlearn.datasets.load` (``uint8`` images).
    fraction : float in (0, 1), default=0.5
        Share of inverted images.
    random_state : int, RandomState instance or None, default=0
        Chooses the inverted images.

    Returns
    -------
    Bunch
        A copy of ``data`` with the inverted images, ``sensitive`` (0/1) and
        ``sensitive_names`` ``["original", "inverted"]``.

    Examples
    --------
    >>> import privlearn as pl
    >>> from privlearn.datasets.synthetic import add_inversion_attribute
    >>> data = add_inversion_attribute(pl.datasets.load("digits"), random_state=0)
    >>> data.sensitive_names, bool(abs(data.sensitive.mean() - 0.5) < 0.01)
    (['original', 'inverted'], True)
    """
    if not isinstance(data, dict) or "images" not in data or "target" not in data:
        raise TypeError("add_inversion_attribute: `data` must be a Bunch with 'images' and "
                        f"'target' (from privlearn.datasets.load), got {type(data).__name__}")
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise TypeError("add_inversion_attribute: `fraction` must be a number in (0, 1), "
                        f"got {fraction!r}")
    images = np.asarray(data["images"])
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError("add_inversion_attribute: `data.images` must be uint8 N×C×H×W, "
                         f"got {images.dtype} of shape {images.shape}")
    if not 0 < fraction < 1:
        raise ValueError(f"add_inversion_attribute: `fraction` must be in (0, 1), got "
                         f"{fraction!r}")
    rng = check_random_state(random_state)
    target = np.asarray(data["target"])
    # One uniform key per image; within each class the lowest keys are inverted.
    # (Not rng.choice/permutation per class: with the same seed they would repeat
    # paper_split's per-class permutations and tie the attribute to the split.)
    keys = rng.random_sample(len(target))
    inverted = np.zeros(len(target), dtype=np.int64)
    for label in np.unique(target):
        members = np.flatnonzero(target == label)
        n_inverted = int(round(fraction * len(members)))
        inverted[members[np.argsort(keys[members])[:n_inverted]]] = 1
    images = np.where(inverted[:, None, None, None] == 1, 255 - images, images)
    description = (f"{data.get('description', '')} Sensitive attribute (synthetic): "
                   f"{fraction:.0%} of each class intensity-inverted (255 - pixel), "
                   "independent of the task.").strip()
    return make_bunch(images.astype(np.uint8), target, inverted,
                      target_names=data["target_names"], sensitive_names=INVERSION_NAMES,
                      description=description, name=f"{data.get('name', '')}-inverted")


def load_fashion_mnist_inverted(root=None, *, split="all", image_size=None, fraction=0.5,
                                random_state=0):
    """Fashion-MNIST (10 classes) with the synthetic "inverted" attribute.

    The task is the fine clothing class; the sensitive attribute says whether the
    image was intensity-inverted (see :func:`add_inversion_attribute`).

    Parameters
    ----------
    root, split, image_size
        As for :func:`privlearn.datasets.offline.load_fashion_mnist`.
    fraction : float, default=0.5
    random_state : int or None, default=0

    Returns
    -------
    Bunch
    """
    data = load_fashion_mnist(root, split=split, task="fine", image_size=image_size)
    return add_inversion_attribute(data, fraction=fraction, random_state=random_state)

"""Data sets, the paper's splits and membership records.

Every loader returns a :class:`sklearn.utils.Bunch` with

- ``images``: ``uint8`` array of shape ``(N, C, H, W)``, values 0–255.  Kept as
  ``uint8`` so large sets are never copied to float32 whole; estimators convert
  batch by batch.
- ``target``: ``int64`` class labels of the task, shape ``(N,)``.
- ``sensitive``: ``int64`` sensitive attribute, shape ``(N,)``, or ``None``.
- ``target_names``, ``sensitive_names``, ``description``, ``name``.
"""

from __future__ import annotations

import inspect
from importlib import import_module

from ._base import CorruptFileError, make_bunch, resize_uint8, subset
from .baselines import conditional_baseline, conditional_guess, majority_baseline
from .splits import PARTS, membership_set, paper_split

from .images import load_images

__all__ = ["load", "available", "resolve_name", "paper_split", "membership_set", "subset",
           "make_bunch", "resize_uint8", "PARTS", "DEFAULT_DATASET", "CorruptFileError",
           "conditional_baseline", "conditional_guess", "majority_baseline", "load_images"]

#: The embedded default data set: runs offline everywhere.
DEFAULT_DATASET = "digits"

# name -> (module, function, needs a root folder)
_LOADERS = {
    "digits": ("offline", "load_digits_images", False),
    "fashion-mnist": ("offline", "load_fashion_mnist", False),
    "fashion-mnist-coarse": ("offline", "load_fashion_mnist_coarse", False),
    "fashion-mnist-inverted": ("synthetic", "load_fashion_mnist_inverted", False),
    "cifar10": ("external", "load_cifar10", True),
    "stl10": ("external", "load_stl10", True),
    "celeba": ("external", "load_celeba", True),
    "utkface": ("external", "load_utkface", True),
    "places": ("external", "load_places", True),
}


def available():
    """Names accepted by :func:`load`."""
    return list(_LOADERS)


def resolve_name(name):
    """The canonical data-set name for ``name`` (case, ``_`` and aliases folded).

    Raises ``TypeError``/``ValueError`` naming the known data sets otherwise.
    """
    if not isinstance(name, str):
        raise TypeError(f"load: `name` must be a str, one of {available()}, got {name!r}")
    key = name.lower().replace("_", "-")
    if key in ("fashionmnist", "fmnist"):
        key = "fashion-mnist"
    if key not in _LOADERS:
        raise ValueError(f"load: unknown data set {name!r}; known data sets are "
                         f"{', '.join(available())}.")
    return key


def load(name, root=None, **kwargs):
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :func:`available`: ``"digits"`` (bundled, default), ``"fashion-mnist"``
        (Debian package or ``root``), ``"fashion-mnist-coarse"`` (its coarse task,
        the fine class within the group as the attribute), ``"cifar10"``, ``"stl10"``, ``"celeba"``,
        ``"utkface"``, ``"places"`` (your own files under ``root``).
    root : str or Path, default=None
        Folder holding the data set's files.
    **kwargs
        Loader options, e.g. ``task=``, ``image_size=``, ``split=`` (see each
        loader's docstring).

    Returns
    -------
    data : Bunch
        ``images``, ``target``, ``sensitive``, ``target_names``,
        ``sensitive_names``, ``description``, ``name``.

    Examples
    --------
    >>> import privlearn as pl
    >>> data = pl.datasets.load("digits")
    >>> data.images.shape, data.images.dtype.name
    ((1797, 1, 8, 8), 'uint8')
    """
    key = resolve_name(name)
    module, function, needs_root = _LOADERS[key]
    if needs_root and root is None:
        raise ValueError(
            f"load({name!r}) needs root=<folder with the data>; it cannot be "
            "downloaded here. See the data sets page of the docs for how to get it.")
    loader = getattr(import_module(f".{module}", __name__), function)
    # Options are checked here, by name, so a typo gets our message (listing the
    # loader's options) rather than Python's TypeError from inside the loader.
    parameters = inspect.signature(loader).parameters
    options = [name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise TypeError(f"load({key!r}): unknown option(s) {unknown}; its options are "
                        f"{options}.")
    takes_root = "root" in parameters
    if root is not None and not takes_root:
        raise TypeError(f"load({key!r}) takes no root: the data set is bundled.")
    if takes_root:
        return loader(root, **kwargs)
    return loader(**kwargs)

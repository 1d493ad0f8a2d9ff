"""Data sets available offline: scikit-learn's digits and Debian's Fashion-MNIST."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ._base import check_image_size, make_bunch, reading, resize_uint8

#: Where Debian's ``dataset-fashion-mnist`` package puts its files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_FASHION_HOWTO = ("Reinstall Debian's dataset-fashion-mnist package, or fetch the files "
                  "again with load('fashion-mnist', root=..., download=True).")

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
#: Coarse grouping of Fashion-MNIST's ten classes used as a task whose
#: fine class is the sensitive attribute.
FASHION_COARSE = {"tops": [0, 2, 4, 6], "bottoms & dresses": [1, 3],
                  "footwear": [5, 7, 9], "bags": [8]}


def load_digits_images(*, task="parity", attribute=None, image_size=None):
    """scikit-learn's bundled 8×8 digits (1,797 images) as a privlearn Bunch.

    Parameters
    ----------
    task : {"parity", "digit"}, default="parity"
        ``"parity"``: the target is the digit's parity (0 even, 1 odd).
        ``"digit"``: the target is the digit itself.
    attribute : {"digit", "magnitude", "parity"} or None, default=None
        The sensitive attribute. ``None`` picks the historical pairing: the digit
        for ``task="parity"``, the parity for ``task="digit"``.

        - ``"digit"`` (with ``task="parity"``): the attribute *determines* the
          task, so any model that solves the task must keep part of it.
        - ``"magnitude"`` (with ``task="parity"``): low (0–4) or high (5–9).
          Every task value holds both attribute values (even: 0,2,4 | 6,8;
          odd: 1,3 | 5,7,9), as gender and race in UTKFace: a model can solve the
          task without keeping the attribute, so its leakage is a real choice
          of the representation.
        - ``"parity"`` (with ``task="digit"``).
    image_size : int or None
        Resize to ``image_size × image_size`` (default: keep 8×8).

    Pixel values 0–16 are scaled to ``uint8`` 0–255.

    Examples
    --------
    >>> from privlearn.datasets.offline import load_digits_images
    >>> data = load_digits_images(attribute="magnitude")
    >>> data.sensitive_names
    ['low (0-4)', 'high (5-9)']
    """
    from sklearn.datasets import load_digits

    if task not in ("parity", "digit"):
        raise ValueError(f"task must be 'parity' or 'digit' for digits, got {task!r}")
    allowed = {"parity": ("digit", "magnitude"), "digit": ("parity", "magnitude")}[task]
    if attribute is None:
        attribute = allowed[0]
    if attribute not in allowed:
        raise ValueError(f"attribute must be one of {list(allowed)} for digits with "
                         f"task={task!r}, got {attribute!r}")
    raw = load_digits()
    images = np.rint(raw.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    images = resize_uint8(images, image_size)
    digit = raw.target.astype(np.int64)
    columns = {
        "digit": (digit, [str(d) for d in range(10)], "the digit"),
        "parity": (digit % 2, ["even", "odd"], "the digit's parity"),
        "magnitude": ((digit >= 5).astype(np.int64), ["low (0-4)", "high (5-9)"],
                      "the digit's magnitude, low (0-4) or high (5-9)"),
    }
    target, target_names, task_words = columns[task]
    sensitive, sensitive_names, attribute_words = columns[attribute]
    description = (f"scikit-learn's handwritten digits (1,797 grey 8×8 images). "
                   f"Task: {task_words}; "
                   f"sensitive attribute: {attribute_words}.")
    return make_bunch(images, target, sensitive, target_names=target_names,
                      sensitive_names=sensitive_names, description=description,
                      name="digits")


def _read_idx(path):
    """Read a (possibly gzipped) IDX file into a NumPy array.

    The header is checked against the file's length, so a truncated, corrupt or
    foreign file is reported by name (:class:`~privlearn.datasets._base.CorruptFileError`).
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with reading(path, "Fashion-MNIST", _FASHION_HOWTO):
        with opener(path, "rb") as fh:
            data = fh.read()
        if len(data) < 4 or data[0] != 0 or data[1] != 0:
            raise ValueError("not an IDX file (bad magic number)")
        dtype_code, ndim = data[2], data[3]
        if dtype_code != 0x08:
            raise ValueError("only unsigned-byte IDX files are supported, got type code "
                             f"{dtype_code:#04x}")
        if not 1 <= ndim <= 3 or len(data) < 4 + 4 * ndim:
            raise ValueError(f"the header announces {ndim} dimensions; expected 1 "
                             "(labels) or 3 (images)")
        dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
        expected = 4 + 4 * ndim + int(np.prod(dims.astype(np.int64)))
        if (dims < 0).any() or len(data) != expected:
            raise ValueError(f"the header announces shape {tuple(dims.tolist())}, "
                             f"{expected} bytes, but the file holds {len(data)} bytes")
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find_idx(root, stem):
    for candidate in (root / f"{stem}.gz", root / stem,
                      root / "FashionMNIST" / "raw" / f"{stem}.gz",
                      root / "FashionMNIST" / "raw" / stem):
        if candidate.exists():
            return candidate
    return None


def load_fashion_mnist(root=None, *, split="all", task="fine", image_size=None,
                       download=False):
    """Fashion-MNIST (70,000 grey 28×28 images) from IDX files.

    Files are looked for in ``root`` (plain or gzipped IDX, or torchvision's
    ``FashionMNIST/raw`` layout), by default in Debian's
    ``/usr/share/datasets/fashion-mnist``.  With ``download=True`` and files
    missing, torchvision's downloader fetches them into ``root``.

    ``task="fine"``: ten clothing classes, no sensitive attribute.
    ``task="coarse"``: four groups (tops, bottoms & dresses, footwear, bags) as the
    task and the fine class as the sensitive attribute.
    """
    check_image_size(image_size)
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if task not in ("fine", "coarse"):
        raise ValueError(f"task must be 'fine' or 'coarse' for fashion-mnist, got {task!r}")
    root = DEBIAN_FASHION_MNIST if root is None else Path(root)
    prefixes = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[split]
    stems = [(f"{p}-images-idx3-ubyte", f"{p}-labels-idx1-ubyte") for p in prefixes]
    missing = [s for pair in stems for s in pair if _find_idx(root, s) is None]
    if missing and download:
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(str(root), train=train, download=True)
        missing = [s for pair in stems for s in pair if _find_idx(root, s) is None]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files {missing} not found under '{root}'. On Debian/Ubuntu "
            "run `apt-get install dataset-fashion-mnist` (files land in "
            f"{DEBIAN_FASHION_MNIST}), or pass root=<folder with the IDX files> "
            "and download=True to fetch them with torchvision."
        )
    images, labels = [], []
    for image_stem, label_stem in stems:
        imgs = _read_idx(_find_idx(root, image_stem))
        labs = _read_idx(_find_idx(root, label_stem))
        if imgs.ndim != 3 or labs.ndim != 1 or len(imgs) != len(labs):
            raise ValueError(
                f"Fashion-MNIST: {_find_idx(root, image_stem)} (shape {imgs.shape}) and "
                f"{_find_idx(root, label_stem)} (shape {labs.shape}) do not fit together: "
                "expected N×28×28 images and N labels. " + _FASHION_HOWTO)
        images.append(imgs)
        labels.append(labs)
    images = resize_uint8(np.concatenate(images)[:, None], image_size)
    fine = np.concatenate(labels).astype(np.int64)
    if task == "fine":
        return make_bunch(images, fine, None, target_names=FASHION_CLASSES,
                          description="Fashion-MNIST: 10 clothing classes, 28×28 grey.",
                          name="fashion-mnist")
    coarse_of = np.empty(10, dtype=np.int64)
    for group, members in enumerate(FASHION_COARSE.values()):
        coarse_of[members] = group
    return make_bunch(
        images, coarse_of[fine], fine, target_names=list(FASHION_COARSE),
        sensitive_names=FASHION_CLASSES,
        description=("Fashion-MNIST, coarse task (tops, bottoms & dresses, footwear, "
                     "bags); sensitive attribute: the fine clothing class."),
        name="fashion-mnist")

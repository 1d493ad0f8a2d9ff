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
#: Coarse grouping of Fashion-MNIST's ten classes: the task of the
#: ``fashion-mnist-coarse`` setting, whose sensitive attribute is the fine class
#: *within* its group.  Three groups, each of at least two visually coherent fine
#: classes (40% / 20% / 40% of the images), so that
#:
#: - the task does not determine the attribute (every group holds 2–4 fine
#:   classes) and a model can solve the task while discarding it, as a gender
#:   classifier can discard race in UTKFace (the paper's setting);
#: - the attribute does not determine the task either: its values (the position
#:   of the fine class in its group, 0–3) are shared by the groups.  With
#:   balanced classes, knowing the task label does not help guess the attribute:
#:   the conditional baseline equals the majority baseline, 0.3.
#:
#: Until privlearn 0.2 the grouping had four groups with "bags" alone, whose
#: attribute the task determined.
FASHION_COARSE = {"tops": [0, 2, 4, 6], "bottoms & dresses": [1, 3],
                  "footwear & bags": [5, 7, 9, 8]}
#: Sensitive attributes of the coarse task: ``"fine"``, the fine class's position
#: within its group (shared values 0–3); ``"class"``, the fine class itself
#: (10 values; the task is a function of it).
FASHION_COARSE_ATTRIBUTES = ("fine", "class")


def fashion_coarse_labels(fine, attribute="fine"):
    """The coarse task and the sensitive attribute for Fashion-MNIST fine labels.

    Parameters
    ----------
    fine : array-like of int in 0..9
        Fashion-MNIST class labels.
    attribute : {"fine", "class"}, default="fine"
        ``"fine"``: the position of the fine class within its group (see
        :data:`FASHION_COARSE`); ``"class"``: the fine class itself.

    Returns
    -------
    task, sensitive : ndarray of int64
    task_names, sensitive_names : list of str

    Examples
    --------
    >>> from privlearn.datasets.offline import fashion_coarse_labels
    >>> task, sensitive, task_names, names = fashion_coarse_labels([0, 1, 8, 9])
    >>> task.tolist(), sensitive.tolist()
    ([0, 1, 2, 2], [0, 0, 3, 2])
    >>> names[3]
    'Shirt | Bag'
    """
    if attribute not in FASHION_COARSE_ATTRIBUTES:
        raise ValueError(f"attribute must be one of {list(FASHION_COARSE_ATTRIBUTES)} for "
                         f"the coarse Fashion-MNIST task, got {attribute!r}")
    fine = np.asarray(fine, dtype=np.int64)
    if fine.size and (fine.min() < 0 or fine.max() > 9):
        raise ValueError("fine labels must lie in 0..9 (Fashion-MNIST classes), got "
                         f"values from {fine.min()} to {fine.max()}")
    coarse_of = np.empty(10, dtype=np.int64)
    position_of = np.empty(10, dtype=np.int64)
    width = max(len(members) for members in FASHION_COARSE.values())
    positions = [[] for _ in range(width)]
    for group, members in enumerate(FASHION_COARSE.values()):
        coarse_of[members] = group
        position_of[members] = np.arange(len(members))
        for position, member in enumerate(members):
            positions[position].append(FASHION_CLASSES[member])
    if attribute == "class":
        return coarse_of[fine], fine, list(FASHION_COARSE), list(FASHION_CLASSES)
    return (coarse_of[fine], position_of[fine], list(FASHION_COARSE),
            [" | ".join(names) for names in positions])


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


def load_fashion_mnist(root=None, *, split="all", task="fine", attribute=None,
                       image_size=None, download=False):
    """Fashion-MNIST (70,000 grey 28×28 images) from IDX files.

    Files are looked for in ``root`` (plain or gzipped IDX, or torchvision's
    ``FashionMNIST/raw`` layout), by default in Debian's
    ``/usr/share/datasets/fashion-mnist``.  With ``download=True`` and files
    missing, torchvision's downloader fetches them into ``root``.

    Parameters
    ----------
    root : str or Path, default=None
        Folder of the IDX files (default: Debian's folder).
    split : {"all", "train", "test"}, default="all"
    task : {"fine", "coarse"}, default="fine"
        ``"fine"``: the ten clothing classes, no sensitive attribute.
        ``"coarse"``: three groups (tops; bottoms & dresses; footwear & bags, see
        :data:`FASHION_COARSE`) as the task, with a sensitive attribute.
    attribute : {"fine", "class"} or None, default=None
        The coarse task's sensitive attribute (``None``: ``"fine"``): the fine
        class's position within its group (values 0–3 shared by the groups, so
        the task does not determine it, nor it the task), or ``"class"``, the
        fine class itself.  Must be None for ``task="fine"``.
    image_size : int or None
        Resize to ``image_size × image_size`` (default: keep 28×28).
    download : bool, default=False
        Fetch missing files into ``root`` with torchvision.

    Examples
    --------
    >>> import privlearn as pl
    >>> data = pl.datasets.load("fashion-mnist", task="coarse")  # doctest: +SKIP
    >>> data.target_names  # doctest: +SKIP
    ['tops', 'bottoms & dresses', 'footwear & bags']
    """
    check_image_size(image_size)
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if task not in ("fine", "coarse"):
        raise ValueError(f"task must be 'fine' or 'coarse' for fashion-mnist, got {task!r}")
    if task == "fine" and attribute is not None:
        raise ValueError("attribute applies to task='coarse' only (the fine task has no "
                         f"sensitive attribute), got attribute={attribute!r}")
    if task == "coarse":
        attribute = "fine" if attribute is None else attribute
        if attribute not in FASHION_COARSE_ATTRIBUTES:
            raise ValueError(f"attribute must be one of {list(FASHION_COARSE_ATTRIBUTES)} "
                             f"for the coarse Fashion-MNIST task, got {attribute!r}")
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
    target, sensitive, target_names, sensitive_names = fashion_coarse_labels(fine, attribute)
    words = {"fine": "the fine class's position within its group "
                     f"({'; '.join(sensitive_names)})",
             "class": "the fine clothing class"}[attribute]
    return make_bunch(
        images, target, sensitive, target_names=target_names,
        sensitive_names=sensitive_names,
        description=("Fashion-MNIST, coarse task (tops; bottoms & dresses; footwear & "
                     f"bags), 28×28 grey; sensitive attribute: {words}."),
        name="fashion-mnist-coarse")


def load_fashion_mnist_coarse(root=None, *, split="all", attribute="fine", image_size=None,
                              download=False):
    """Fashion-MNIST with the coarse task and the fine class within it as the attribute.

    The setting built like the paper's (gender task, race attribute in UTKFace):
    the task (tops; bottoms & dresses; footwear & bags) does not need the
    attribute, so a supervised model can become invariant to it while a
    contrastive one keeps it.  Same as
    ``load_fashion_mnist(root, task="coarse", ...)``; see
    :func:`load_fashion_mnist` for the options and :data:`FASHION_COARSE` for the
    grouping and why.

    Examples
    --------
    >>> import privlearn as pl
    >>> data = pl.datasets.load("fashion-mnist-coarse")  # doctest: +SKIP
    >>> data.images.shape, data.sensitive_names[0]  # doctest: +SKIP
    ((70000, 1, 28, 28), 'T-shirt/top | Trouser | Sandal')
    """
    return load_fashion_mnist(root, split=split, task="coarse", attribute=attribute,
                              image_size=image_size, download=download)

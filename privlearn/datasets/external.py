"""Users' data sets: CIFAR-10, STL-10, CelebA (torchvision), UTKFace and Places.

None of these ships with privlearn or is downloaded unless ``download=True`` (where
torchvision offers it).  Each loader reads the data set's official on-disk layout
under ``root`` and returns the Bunch described in :mod:`privlearn.datasets`, with
images kept as ``uint8`` N×C×H×W.

Folder-based sets (CelebA, UTKFace, Places) are decoded with Pillow in a thread pool
(decoding and resizing release the GIL), straight into one preallocated ``uint8``
array: no float copy of the set is ever made.
"""

from __future__ import annotations

import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

from ._base import (READ_ERRORS, CorruptFileError, check_image_size, corrupt_file_error,
                    file_in_traceback, hwc_to_chw, make_bunch, reading, resize_uint8)

__all__ = ["load_cifar10", "load_stl10", "load_celeba", "load_utkface", "load_places",
           "CELEBA_ATTRIBUTES", "UTKFACE_RACES", "UTKFACE_GENDERS", "UTKFACE_AGE_BINS",
           "UTKFACE_AGE_GROUPS", "STL10_CLASSES"]

#: STL-10's classes, in label order (used when ``class_names.txt`` is absent).
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey",
                 "ship", "truck"]

#: The 40 binary attributes of CelebA, as in ``list_attr_celeba.txt``.
CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald",
    "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick",
    "Wearing_Necklace", "Wearing_Necktie", "Young",
]

#: UTKFace's labels, as encoded in its file names.
UTKFACE_GENDERS = ["male", "female"]
UTKFACE_RACES = ["White", "Black", "Asian", "Indian", "Others"]
#: Lower edges of the age groups 1..3 (group 0 is ages 0–18).
UTKFACE_AGE_BINS = (19, 36, 56)
UTKFACE_AGE_GROUPS = ["0-18", "19-35", "36-55", "56+"]
_UTKFACE_NAME = re.compile(
    r"^(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_\d+\.jpg(?:\.chip\.jpg)?$",
    re.IGNORECASE)

_CIFAR10_HOWTO = (
    "Get CIFAR-10 (python version, cifar-10-python.tar.gz) from Alex Krizhevsky's "
    "CIFAR page at the University of Toronto (www.cs.toronto.edu/~kriz/cifar.html) and "
    "extract it into root, or pass download=True to let torchvision fetch it.")
_STL10_HOWTO = (
    "Get STL-10 (binary version, stl10_binary.tar.gz) from Adam Coates' STL-10 page at "
    "Stanford (cs.stanford.edu/~acoates/stl10) and extract it into root, or pass "
    "download=True to let torchvision fetch it (2.6 GB).")
_CELEBA_HOWTO = (
    "Get CelebA from the MMLAB CelebA project page (mmlab.ie.cuhk.edu.hk/projects/"
    "CelebA.html): the aligned & cropped images (img_align_celeba.zip, extracted) and "
    "the annotation files, all in root/celeba; or pass download=True to let "
    "torchvision fetch them from Google Drive (needs the gdown package).")
_UTKFACE_HOWTO = (
    "Get UTKFace from its project page (susanqq.github.io/UTKFace): the 'Aligned & "
    "Cropped Faces' archive UTKFace.tar.gz, extracted; pass its folder as root.")
_PLACES_HOWTO = (
    "Get Places365 from the Places2 project page at MIT (places2.csail.mit.edu): the "
    "small (256x256) images and the file lists, e.g. val_256/ with places365_val.txt "
    "and categories_places365.txt (IO_places365.txt, indoor/outdoor per class, is in "
    "the CSAILVision places365 repository on GitHub); or use any folder of images with "
    "an index file 'relative/path.jpg <class_id> [<attribute_id>]' per line.")


# --------------------------------------------------------------------------- helpers
def _check_choice(argument, value, choices):
    if value not in choices:
        raise ValueError(f"`{argument}` must be one of {list(choices)}, got {value!r}")


def _check_max_samples(max_samples):
    if max_samples is None:
        return
    if (isinstance(max_samples, bool) or not isinstance(max_samples, (int, np.integer))
            or max_samples < 1):
        raise ValueError(f"`max_samples` must be a positive integer or None, got {max_samples!r}")


def _choose(n, max_samples, random_state):
    """Indices of a random subset of ``max_samples`` of ``n`` items, in file order."""
    if max_samples is None or max_samples >= n:
        return np.arange(n)
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n, size=max_samples, replace=False))


def _require(paths, dataset, howto):
    """Raise FileNotFoundError naming every missing path and how to get the data."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        shown = ", ".join(missing[:5])
        if len(missing) > 5:
            shown += f" and {len(missing) - 5} more"
        raise FileNotFoundError(f"{dataset}: not found: {shown}. {howto}")


def _root(root):
    if root is None:
        raise ValueError("`root` must be the folder holding the data set, got None")
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError("`root` must be a folder path (str or Path), got "
                        f"{type(root).__name__} {root!r}")
    return Path(root).expanduser()


def _decode(path, image_size, native_size, dataset="image file"):
    """One image file as an H×W×3 uint8 array, centre-cropped and resized if asked."""
    from PIL import Image, ImageOps

    with reading(path, dataset):
        image = _decode_image(Image, ImageOps, path, image_size)
    if image_size is None and image.shape[1::-1] != tuple(native_size):
        raise ValueError(
            f"{path} is {image.shape[1]}x{image.shape[0]} but the first image is "
            f"{native_size[0]}x{native_size[1]}; pass image_size=<int> to "
            "resize all images to one size")
    return image


def _decode_image(Image, ImageOps, path, image_size):
    with Image.open(path) as img:
        if image_size is not None:
            # JPEG can decode at 1/2, 1/4, 1/8 scale: much faster, never below the
            # requested size.
            img.draft("RGB", (image_size, image_size))
        img = img.convert("RGB")
        if image_size is None:
            return np.asarray(img)
        resample = getattr(Image, "Resampling", Image).BILINEAR
        return np.asarray(ImageOps.fit(img, (image_size, image_size), method=resample))


def _read_images(paths, image_size, n_threads=None, chunk=256, dataset="image file"):
    """Decode image files into one preallocated ``uint8`` N×3×H×W array.

    Non-square images are centre-cropped to a square, then resized (antialiased
    bilinear) to ``image_size``; ``image_size=None`` keeps the native size, which all
    images must then share.  A thread pool decodes chunks in parallel (Pillow
    releases the GIL while decoding and resizing).

    Written here because torchvision's folder data sets (and CelebA's
    ``__getitem__``) yield one PIL image or float tensor per sample through a
    DataLoader; filling one ``uint8`` array in place avoids both the per-sample
    collation and any float copy.
    """
    from PIL import Image

    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("no images to load")
    if image_size is None:
        with reading(paths[0], dataset), Image.open(paths[0]) as first:
            native = first.size
        height, width = native[1], native[0]
    else:
        native = None
        height = width = image_size
    out = np.empty((len(paths), 3, height, width), dtype=np.uint8)

    def work(start):
        for i in range(start, min(start + chunk, len(paths))):
            out[i] = _decode(paths[i], image_size, native, dataset).transpose(2, 0, 1)

    n_threads = n_threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        # list() re-raises the first worker exception here.
        list(pool.map(work, range(0, len(paths), chunk)))
    return out


def _torchvision_dataset(cls, dataset, howto, **kwargs):
    """Build a torchvision data set, turning its checksum failure into a clear error.

    torchvision verifies the MD5 of the official files every time (not only when
    downloading); existence was checked before, so a failure here means the files
    are not the official ones.
    """
    try:
        return cls(**kwargs)
    except READ_ERRORS as error:
        # A file that exists (and passed the checksum, or the check was skipped)
        # but cannot be parsed: name it, not torchvision's internals.
        root = Path(kwargs["root"])
        path = file_in_traceback(error, root, root / cls.base_folder) or (
            f"one of the files under '{root}'")
        raise corrupt_file_error(dataset, path, error, howto) from error
    except RuntimeError as error:
        if kwargs.get("download"):      # a download problem: torchvision's message says it
            raise
        raise RuntimeError(
            f"{dataset}: the files under '{kwargs['root']}' exist but do not match the "
            f"official checksums (corrupted or a different release): {error}. Delete "
            f"them and fetch them again. {howto}") from error


# --------------------------------------------------------------------------- CIFAR-10
def load_cifar10(root, *, split="all", image_size=None, download=False):
    """CIFAR-10 (60,000 colour 32×32 images, 10 classes) through torchvision.

    Parameters
    ----------
    root : str or Path
        Folder holding ``cifar-10-batches-py/`` (``data_batch_1`` … ``data_batch_5``,
        ``test_batch``, ``batches.meta``): torchvision's layout, i.e. the extracted
        official python archive.
    split : {"all", "train", "test"}, default="all"
        ``"all"`` is the 50,000 training images followed by the 10,000 test images.
    image_size : int, default=None
        Resize to ``image_size``×``image_size``; ``None`` keeps 32×32.
    download : bool, default=False
        Let torchvision download the archive into ``root`` if it is missing.

    Returns
    -------
    data : Bunch
        ``images`` uint8 (N, 3, 32, 32), ``target`` the class, ``sensitive`` None.

    Examples
    --------
    >>> import privlearn as pl
    >>> data = pl.datasets.load("cifar10", root="~/data", split="test")  # doctest: +SKIP
    >>> data.images.shape, data.target_names[:2]  # doctest: +SKIP
    ((10000, 3, 32, 32), ['airplane', 'automobile'])
    """
    from torchvision.datasets import CIFAR10

    _check_choice("split", split, ("all", "train", "test"))
    check_image_size(image_size)
    root = _root(root)
    base = root / CIFAR10.base_folder
    if not download:
        names = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list]
        _require([base / n for n in names + [CIFAR10.meta["filename"]]],
                 "CIFAR-10", _CIFAR10_HOWTO)
    trains = {"all": (True, False), "train": (True,), "test": (False,)}[split]
    images, labels, classes = [], [], None
    for train in trains:
        ds = _torchvision_dataset(CIFAR10, "CIFAR-10", _CIFAR10_HOWTO, root=str(root),
                                  train=train, download=download)
        images.append(hwc_to_chw(ds.data))          # (n, 32, 32, 3) -> (n, 3, 32, 32)
        labels.append(np.asarray(ds.targets, dtype=np.int64))
        classes = list(ds.classes)
    images = images[0] if len(images) == 1 else np.concatenate(images)
    return make_bunch(
        resize_uint8(images, image_size), np.concatenate(labels), None,
        target_names=classes, name="cifar10",
        description=f"CIFAR-10 ({split}): 10 object classes, colour 32×32 "
                    "(torchvision). No sensitive attribute.")


# --------------------------------------------------------------------------- STL-10
def load_stl10(root, *, split="train", image_size=None, download=False):
    """STL-10 (colour 96×96 images, 10 classes, plus 100,000 unlabeled) via torchvision.

    Parameters
    ----------
    root : str or Path
        Folder holding ``stl10_binary/`` with ``train_X.bin``, ``train_y.bin``,
        ``test_X.bin``, ``test_y.bin``, ``unlabeled_X.bin`` and (optionally)
        ``class_names.txt``: the extracted official binary archive.  torchvision
        checks all five ``.bin`` files whichever split is read.
    split : {"train", "test", "all", "unlabeled", "train+unlabeled"}, default="train"
        ``"all"`` is train (5,000) then test (8,000).  ``"unlabeled"`` (100,000
        images, for pre-training an encoder) has ``target`` −1 for every image;
        ``"train+unlabeled"`` has −1 for the unlabeled part.
    image_size : int, default=None
        Resize to ``image_size``×``image_size`` (the paper uses 32 for small
        models); ``None`` keeps 96×96.  Resizing works in batches straight from
        torchvision's array, so the unlabeled split is never held twice at 96×96.
    download : bool, default=False
        Let torchvision download the archive (2.6 GB) into ``root`` if missing.

    Returns
    -------
    data : Bunch
        ``images`` uint8 (N, 3, 96, 96), ``target`` the class (or −1),
        ``sensitive`` None.

    Examples
    --------
    >>> import privlearn as pl
    >>> data = pl.datasets.load("stl10", root="~/data", split="unlabeled",
    ...                         image_size=32)  # doctest: +SKIP
    >>> data.images.shape, set(data.target)  # doctest: +SKIP
    ((100000, 3, 32, 32), {-1})
    """
    from torchvision.datasets import STL10

    _check_choice("split", split, ("train", "test", "all", "unlabeled", "train+unlabeled"))
    check_image_size(image_size)
    root = _root(root)
    base = root / STL10.base_folder
    if not download:
        names = [name for name, _ in STL10.train_list + STL10.test_list]
        _require([base / n for n in names], "STL-10", _STL10_HOWTO)
    parts = ("train", "test") if split == "all" else (split,)
    if not download:
        _check_stl10_sizes(base, parts)
    images, labels, classes = [], [], STL10_CLASSES
    for part in parts:
        ds = _torchvision_dataset(STL10, "STL-10", _STL10_HOWTO, root=str(root),
                                  split=part, download=download)
        # ds.data is (n, 3, 96, 96) uint8 (a transposed view of the file); resizing
        # reads it batch by batch, so no float copy of the set is made.
        if len(ds.labels) != len(ds.data):
            raise CorruptFileError(
                f"STL-10: {base / (part.split('+')[0] + '_X.bin')} holds {len(ds.data)} "
                f"images but {base / (part.split('+')[0] + '_y.bin')} holds "
                f"{len(ds.labels)} labels: a file is truncated or corrupt. Delete them "
                f"and get them again. {_STL10_HOWTO}")
        images.append(resize_uint8(ds.data, image_size))
        labels.append(np.asarray(ds.labels, dtype=np.int64))
        classes = list(getattr(ds, "classes", classes))
    images = images[0] if len(images) == 1 else np.concatenate(images)
    return make_bunch(
        images, np.concatenate(labels), None, target_names=classes, name="stl10",
        description=f"STL-10 ({split}): 10 object classes, colour 96×96 (torchvision). "
                    "Unlabeled images have target -1. No sensitive attribute.")


def _check_stl10_sizes(base, parts):
    """Refuse truncated STL-10 files by their sizes, before torchvision reads them."""
    image_bytes = 3 * 96 * 96
    for part in parts:
        for prefix in part.split("+"):
            images = base / f"{prefix}_X.bin"
            n_images, extra = divmod(images.stat().st_size, image_bytes)
            if extra or n_images == 0:
                raise CorruptFileError(
                    f"STL-10: cannot read {images}: its size ({images.stat().st_size} "
                    f"bytes) is not a positive multiple of one 3×96×96 image "
                    f"({image_bytes} bytes); the file is truncated or corrupt. Delete it "
                    f"and get it again. {_STL10_HOWTO}")
            labels = base / f"{prefix}_y.bin"
            if prefix != "unlabeled" and labels.stat().st_size != n_images:
                raise CorruptFileError(
                    f"STL-10: cannot read {labels}: it holds {labels.stat().st_size} "
                    f"labels for the {n_images} images of {images.name}; a file is "
                    f"truncated or corrupt. Delete them and get them again. {_STL10_HOWTO}")


# --------------------------------------------------------------------------- CelebA
def _check_celeba_attribute(argument, value, allow_none):
    if value is None and allow_none:
        return
    if value not in CELEBA_ATTRIBUTES:
        raise ValueError(f"`{argument}` must be one of CelebA's 40 attributes "
                         f"({', '.join(CELEBA_ATTRIBUTES)})"
                         f"{' or None' if allow_none else ''}, got {value!r}")


def load_celeba(root, *, target_attr="Smiling", sensitive_attr="Male", split="all",
                image_size=64, max_samples=None, random_state=0, download=False):
    """CelebA (202,599 aligned celebrity faces, 40 binary attributes) via torchvision.

    The task is one binary attribute and the sensitive attribute another, e.g.
    smiling vs. gender.  Images are centre-cropped from 178×218 to a square and
    resized to ``image_size``; the set is decoded into ``uint8`` only.

    Parameters
    ----------
    root : str or Path
        Folder holding ``celeba/`` with ``img_align_celeba/*.jpg``,
        ``list_attr_celeba.txt``, ``list_eval_partition.txt``,
        ``identity_CelebA.txt``, ``list_bbox_celeba.txt`` and
        ``list_landmarks_align_celeba.txt`` (torchvision's layout; torchvision
        checks the annotation files against their official checksums).
    target_attr : str, default="Smiling"
        Any of :data:`CELEBA_ATTRIBUTES`; ``target`` is 1 where it is present.
    sensitive_attr : str or None, default="Male"
        Any of :data:`CELEBA_ATTRIBUTES`, or ``None`` for no sensitive attribute.
    split : {"all", "train", "valid", "test"}, default="all"
        CelebA's official partition (``list_eval_partition.txt``).
    image_size : int or None, default=64
        Side of the square output images; ``None`` keeps 178×218 (H 218, W 178).
    max_samples : int, default=None
        Load a random subset of this many images (in file order).
    random_state : int, RandomState instance or None, default=0
        Chooses the subset when ``max_samples`` is set.
    download : bool, default=False
        Let torchvision download the files (from Google Drive, needs ``gdown``).

    Returns
    -------
    data : Bunch
        ``images`` uint8 (N, 3, S, S); ``target`` and ``sensitive`` 0/1 with
        names ``["not <attr>", "<attr>"]``.

    Examples
    --------
    >>> import privlearn as pl
    >>> data = pl.datasets.load("celeba", root="~/data", target_attr="Smiling",
    ...                         sensitive_attr="Male", max_samples=2000)  # doctest: +SKIP
    >>> data.images.shape, data.sensitive_names  # doctest: +SKIP
    ((2000, 3, 64, 64), ['not Male', 'Male'])
    """
    from torchvision.datasets import CelebA

    _check_celeba_attribute("target_attr", target_attr, allow_none=False)
    _check_celeba_attribute("sensitive_attr", sensitive_attr, allow_none=True)
    _check_choice("split", split, ("all", "train", "valid", "test"))
    check_image_size(image_size)
    _check_max_samples(max_samples)
    root = _root(root)
    base = root / CelebA.base_folder
    if not download:
        names = [name for _, _, name in CelebA.file_list if not name.endswith(".zip")]
        _require([base / n for n in names] + [base / "img_align_celeba"], "CelebA",
                 _CELEBA_HOWTO)
    ds = _torchvision_dataset(CelebA, "CelebA", _CELEBA_HOWTO, root=str(root),
                              split=split, target_type="attr", download=download)
    # The header line of list_attr_celeba.txt ends with a space: drop empty names.
    header = [name for name in ds.attr_names if name]
    for argument, value in (("target_attr", target_attr), ("sensitive_attr", sensitive_attr)):
        if value is not None and value not in header:
            raise ValueError(f"`{argument}`={value!r} is not a column of "
                             f"{base / 'list_attr_celeba.txt'}; it has {header}")
    keep = _choose(len(ds.filename), max_samples, random_state)
    attr = ds.attr.numpy()[keep]                     # (n, 40) in {0, 1}
    files = [base / "img_align_celeba" / ds.filename[i] for i in keep]
    _require(files, "CelebA", _CELEBA_HOWTO)         # before the long decode
    images = _read_images(files, image_size, dataset="CelebA")
    target = attr[:, header.index(target_attr)]
    sensitive = None if sensitive_attr is None else attr[:, header.index(sensitive_attr)]
    return make_bunch(
        images, target, sensitive,
        target_names=[f"not {target_attr}", target_attr],
        sensitive_names=None if sensitive_attr is None
        else [f"not {sensitive_attr}", sensitive_attr],
        name="celeba",
        description=(f"CelebA ({split}): aligned faces. Task: {target_attr}; "
                     f"sensitive attribute: {sensitive_attr}."))


# --------------------------------------------------------------------------- UTKFace
def _utkface_label(kind, age, gender, race):
    if kind == "gender":
        return gender, UTKFACE_GENDERS
    if kind == "race":
        return race, UTKFACE_RACES
    return np.digitize(age, UTKFACE_AGE_BINS), UTKFACE_AGE_GROUPS


def load_utkface(root, *, task="gender", sensitive="race", image_size=64,
                 max_samples=None, random_state=0):
    """UTKFace (about 23,700 faces labelled with age, gender and race).

    Labels come from the file names ``<age>_<gender>_<race>_<date&time>.jpg``
    (or ``….jpg.chip.jpg`` in the aligned & cropped release): age in years,
    gender 0 male / 1 female, race 0 White, 1 Black, 2 Asian, 3 Indian,
    4 Others.  Ages are grouped into 0–18, 19–35, 36–55 and 56+
    (:data:`UTKFACE_AGE_BINS`).  Files whose names do not follow this pattern
    (a few in the official release lack a field) are skipped with one warning
    that counts them.  The paper's setting is the default: task gender,
    sensitive attribute race.

    Parameters
    ----------
    root : str or Path
        Folder holding the ``.jpg`` files (searched recursively, so the parent of
        ``UTKFace/`` or of ``part1/ … part3/`` works too).
    task : {"gender", "race", "age"}, default="gender"
    sensitive : {"race", "gender", "age"} or None, default="race"
        Must differ from ``task``.
    image_size : int or None, default=64
        Side of the square output images (centre-cropped first); ``None`` keeps
        the native 200×200.
    max_samples : int, default=None
        Load a random subset of this many images (in file-name order).
    random_state : int, RandomState instance or None, default=0
        Chooses the subset when ``max_samples`` is set.

    Returns
    -------
    data : Bunch
        ``images`` uint8 (N, 3, S, S), ``target``/``sensitive`` with names from
        :data:`UTKFACE_GENDERS`, :data:`UTKFACE_RACES` or :data:`UTKFACE_AGE_GROUPS`.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> import privlearn as pl
    >>> root = tempfile.mkdtemp()
    >>> for name in ["25_0_2_20170116.jpg.chip.jpg", "61_1_0_20170109.jpg.chip.jpg"]:
    ...     Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(f"{root}/{name}")
    >>> data = pl.datasets.load("utkface", root=root, image_size=8)
    >>> data.images.shape, data.target.tolist(), data.sensitive.tolist()
    ((2, 3, 8, 8), [0, 1], [2, 0])
    """
    kinds = ("gender", "race", "age")
    _check_choice("task", task, kinds)
    _check_choice("sensitive", sensitive, kinds + (None,))
    if sensitive == task:
        raise ValueError(f"`sensitive` must differ from `task`, both are {task!r}")
    check_image_size(image_size)
    _check_max_samples(max_samples)
    root = _root(root)
    _require([root], "UTKFace", _UTKFACE_HOWTO)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".jpg")
    matches = [_UTKFACE_NAME.match(p.name) for p in files]
    malformed = [p.name for p, m in zip(files, matches) if m is None]
    if malformed:
        warnings.warn(
            f"UTKFace: skipped {len(malformed)} file(s) whose names do not follow "
            f"<age>_<gender>_<race>_<date>.jpg, e.g. {malformed[:3]}", UserWarning,
            stacklevel=2)
    found = [(p, m) for p, m in zip(files, matches) if m is not None]
    if not found:
        raise FileNotFoundError(
            f"UTKFace: no <age>_<gender>_<race>_<date>.jpg files under '{root}'. "
            + _UTKFACE_HOWTO)
    keep = _choose(len(found), max_samples, random_state)
    labels = np.array([[int(found[i][1][k]) for k in ("age", "gender", "race")]
                       for i in keep], dtype=np.int64)
    age, gender, race = labels.T
    target, target_names = _utkface_label(task, age, gender, race)
    sensitive_values, sensitive_names = (None, None) if sensitive is None \
        else _utkface_label(sensitive, age, gender, race)
    images = _read_images([found[i][0] for i in keep], image_size, dataset="UTKFace")
    return make_bunch(
        images, target, sensitive_values, target_names=target_names,
        sensitive_names=sensitive_names, name="utkface",
        description=(f"UTKFace: faces labelled by file name. Task: {task}; sensitive "
                     f"attribute: {sensitive}. Age groups: {', '.join(UTKFACE_AGE_GROUPS)}."))


# --------------------------------------------------------------------------- Places
def _read_names(path):
    """Names from a file with one name per line, optionally followed by its id.

    Accepts ``classes.txt`` (``name`` per line) and Places365's
    ``categories_places365.txt`` (``/a/airfield 0``).  With ids, names are placed
    at their ids.
    """
    with reading(path, "Places", _PLACES_HOWTO):
        text = Path(path).read_text()
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if rows and all(len(r) >= 2 and r[-1].isdigit() for r in rows):
        ids = [int(r[-1]) for r in rows]
        names = [" ".join(r[:-1]) for r in rows]
        out = [str(i) for i in range(max(ids) + 1)]
        for i, name in zip(ids, names):
            out[i] = name
        return out
    return [" ".join(r) for r in rows]


def load_places(root, *, index="index.txt", image_dir=None, sensitive="auto", classes=None,
                sensitive_names=None, image_size=64, max_samples=None, random_state=0):
    """Places (scene images) from a folder of images and an index file.

    The index file (in ``root``) has one image per line::

        relative/path.jpg <class_id> [<attribute_id>]

    paths relative to ``image_dir`` (default ``root``; a leading ``/`` is ignored),
    whitespace-separated, blank lines and lines starting with ``#`` skipped.  This
    is also the format of Places365's official lists, so
    ``index="places365_val.txt", image_dir="val_256"`` reads the official
    validation images.

    Class names come from ``classes`` (or, if not given, ``classes.txt`` or
    ``categories_places365.txt`` in ``root``): one name per line, optionally
    followed by its id; without either, names are the ids.

    The paper uses the scene class as the task and indoor/outdoor as the sensitive
    attribute.  The attribute can come from a third column of the index, or from a
    class-level file such as Places365's ``IO_places365.txt`` (``/a/airfield 2``:
    1 indoor, 2 outdoor).  Attribute ids are renumbered 0, 1, … in sorted order.

    Parameters
    ----------
    root : str or Path
        Folder holding the images and the index.
    index : str, default="index.txt"
        Index file name (relative to ``root``) or path.
    image_dir : str, default=None
        Folder (relative to ``root``) the index's image paths start from;
        ``None`` is ``root`` itself.
    sensitive : "auto", "column", None or str, default="auto"
        ``"auto"``: the index's third column if every line has one, else no
        attribute.  ``"column"``: the third column, required.  ``None``: no
        attribute.  Any other string: a file (relative to ``root``) mapping each
        class, by name or id, to its attribute id, e.g. ``"IO_places365.txt"``.
    classes : str, default=None
        Class names file (relative to ``root``); see above.
    sensitive_names : list of str, default=None
        Names of the attribute values in sorted id order, e.g.
        ``["indoor", "outdoor"]``; by default read from ``attributes.txt`` in
        ``root`` (one name per line, in sorted id order) if present, else the
        ids as strings.
    image_size : int or None, default=64
        Side of the square output images (centre-cropped first); ``None`` keeps
        the native size, which all images must share.
    max_samples : int, default=None
        Load a random subset of this many images (in index order).
    random_state : int, RandomState instance or None, default=0
        Chooses the subset when ``max_samples`` is set.

    Returns
    -------
    data : Bunch
        ``images`` uint8 (N, 3, S, S), ``target`` the class id, ``sensitive`` the
        attribute (or None).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> import privlearn as pl
    >>> root = tempfile.mkdtemp()
    >>> for name in ["kitchen.jpg", "beach.jpg"]:
    ...     Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(f"{root}/{name}")
    >>> with open(f"{root}/index.txt", "w") as fh:
    ...     _ = fh.write("kitchen.jpg 0 0\\nbeach.jpg 1 1\\n")
    >>> data = pl.datasets.load("places", root=root, image_size=8,
    ...                         sensitive_names=["indoor", "outdoor"])
    >>> data.images.shape, data.target.tolist(), data.sensitive_names
    ((2, 3, 8, 8), [0, 1], ['indoor', 'outdoor'])
    """
    if not (sensitive is None or isinstance(sensitive, (str, os.PathLike))):
        raise TypeError("`sensitive` must be 'auto', 'column', None or a file name, "
                        f"got {sensitive!r}")
    check_image_size(image_size)
    _check_max_samples(max_samples)
    root = _root(root)
    index_path = root / index
    _require([root, index_path], "Places", _PLACES_HOWTO)

    with reading(index_path, "Places", _PLACES_HOWTO):
        index_text = index_path.read_text()
    numbered = [(number, line.split()) for number, line in
                enumerate(index_text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    rows = [r for _, r in numbered]
    bad = [(number, r) for number, r in numbered if len(r) not in (2, 3)
           or not all(v.lstrip("-").isdigit() for v in r[1:])]
    if bad or not rows:
        problem = f"line {bad[0][0]} is {bad[0][1]}" if bad else "it is empty"
        raise ValueError(f"{index_path}: expected lines 'relative/path.jpg <class_id> "
                         f"[<attribute_id>]'; {problem}")
    has_column = all(len(r) == 3 for r in rows)
    if sensitive == "column" and not has_column:
        raise ValueError(f"sensitive='column' but not every line of {index_path} has a "
                         "third (attribute) column")

    target = np.array([int(r[1]) for r in rows], dtype=np.int64)
    class_file = root / classes if classes is not None else next(
        (root / n for n in ("classes.txt", "categories_places365.txt")
         if (root / n).exists()), None)
    if class_file is not None:
        _require([class_file], "Places", _PLACES_HOWTO)
        target_names = _read_names(class_file)
    else:
        target_names = [str(i) for i in range(target.max() + 1)]
    if target.min() < 0 or target.max() >= len(target_names):
        raise ValueError(f"{index_path}: class ids must lie in 0..{len(target_names) - 1} "
                         f"({len(target_names)} class names), got "
                         f"{target.min()}..{target.max()}")

    if sensitive is None or (sensitive == "auto" and not has_column):
        attribute = None
    elif sensitive in ("auto", "column"):
        attribute = np.array([int(r[2]) for r in rows], dtype=np.int64)
    else:
        attribute_file = root / sensitive
        _require([attribute_file], "Places", _PLACES_HOWTO)
        with reading(attribute_file, "Places", _PLACES_HOWTO):
            attribute_text = attribute_file.read_text()
        by_class = {}
        for number, line in enumerate(attribute_text.splitlines(), start=1):
            pair = line.rsplit(maxsplit=1)
            if not pair:
                continue
            if len(pair) != 2 or not pair[1].lstrip("-").isdigit():
                raise ValueError(f"{attribute_file}: expected lines '<class name or id> "
                                 f"<attribute_id>'; line {number} is {line.strip()!r}")
            by_class[pair[0]] = int(pair[1])
        # Each class is looked up by its name, else by its id.
        per_class = [by_class.get(name, by_class.get(str(i)))
                     for i, name in enumerate(target_names)]
        unknown = sorted({target_names[c] for c in np.unique(target) if per_class[c] is None})
        if unknown:
            raise ValueError(f"{attribute_file} gives no attribute for classes "
                             f"{unknown[:5]}{' …' if len(unknown) > 5 else ''}")
        attribute = np.array([-1 if v is None else v for v in per_class],
                             dtype=np.int64)[target]
    if attribute is not None:
        values, attribute = np.unique(attribute, return_inverse=True)
        if sensitive_names is None:
            names_file = root / "attributes.txt"
            if names_file.exists():
                with reading(names_file, "Places", _PLACES_HOWTO):
                    names_text = names_file.read_text()
                sensitive_names = [line.strip() for line in names_text.splitlines()
                                   if line.strip()]
            else:
                sensitive_names = [str(v) for v in values]
        if len(sensitive_names) != len(values):
            raise ValueError(f"`sensitive_names` must name the {len(values)} attribute "
                             f"values {values.tolist()}, got {list(sensitive_names)}")
    else:
        sensitive_names = None

    keep = _choose(len(rows), max_samples, random_state)
    image_root = root if image_dir is None else root / image_dir
    files = [image_root / rows[i][0].lstrip("/") for i in keep]
    _require(files, "Places", _PLACES_HOWTO)          # before the long decode
    images = _read_images(files, image_size, dataset="Places")
    return make_bunch(
        images, target[keep], None if attribute is None else attribute[keep],
        target_names=target_names, sensitive_names=sensitive_names, name="places",
        description=(f"Places: scene images listed in {index_path.name}. Task: scene "
                     "class; sensitive attribute: "
                     f"{'none' if attribute is None else ', '.join(sensitive_names)}."))

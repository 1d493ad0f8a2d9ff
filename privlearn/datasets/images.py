"""Load the user's own images: an ImageFolder tree or a CSV manifest."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_images"]

_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
_COLUMNS = {"path", "label", "attribute", "member"}


def _read_manifest(manifest):
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ValueError(f"load_images: manifest {manifest} does not exist")
    with open(manifest, newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or ())
        unknown = columns - _COLUMNS
        if unknown:
            raise ValueError(f"load_images: manifest {manifest} has unknown column(s) "
                             f"{sorted(unknown)}; allowed: path, label, attribute, member")
        if not {"path", "label"} <= columns:
            raise ValueError(f"load_images: manifest {manifest} must have the columns "
                             f"'path' and 'label', got {sorted(columns)}")
        rows = list(reader)
    if not rows:
        raise ValueError(f"load_images: manifest {manifest} lists no images")
    base = manifest.parent
    paths = [Path(r["path"]) if Path(r["path"]).is_absolute() else base / r["path"]
             for r in rows]
    labels = [r["label"] for r in rows]
    attribute = [r["attribute"] for r in rows] if "attribute" in columns else None
    member = None
    if "member" in columns:
        values = [r["member"].strip().lower() for r in rows]
        mapping = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0}
        bad = [v for v in values if v not in mapping]
        if bad:
            raise ValueError(f"load_images: manifest {manifest}: column 'member' must "
                             f"hold 0/1 (or true/false), got {bad[0]!r}")
        member = np.array([mapping[v] for v in values], dtype=np.int64)
    return paths, labels, attribute, member


def _read_folder(root):
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"load_images: {root} has no class sub-folders (expected the "
                         "ImageFolder layout root/<class>/<image>) and is not a CSV manifest")
    paths, labels = [], []
    for name in classes:
        for p in sorted((root / name).iterdir()):
            if p.suffix.lower() in _EXTENSIONS:
                paths.append(p)
                labels.append(name)
    if not paths:
        raise ValueError(f"load_images: no images under {root}")
    return paths, labels, None, None


def _codes(values):
    """Labels as integers when they all are, else codes into sorted names."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64), None
    except ValueError:
        names, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
        return codes.astype(np.int64), names


def load_images(root_or_manifest, *, image_size=None, mode=None):
    """Load images from an ImageFolder tree or a CSV manifest as uint8 N×C×H×W.

    Parameters
    ----------
    root_or_manifest : str or Path
        A folder with one sub-folder per class (torchvision ``ImageFolder``
        layout), or a CSV file with columns ``path`` (relative to the CSV's
        folder, or absolute), ``label``, and optional ``attribute`` and
        ``member`` (0/1).
    image_size : int or (int, int) or None, default=None
        Resize every image to this size (bilinear).  None requires all images
        to share one size.
    mode : {"L", "RGB"} or None, default=None
        Convert every image to grey or colour.  None requires one channel count.

    Returns
    -------
    data : Bunch
        ``images`` (uint8 N×C×H×W), ``target`` (int labels), ``target_names``
        (class names or None), ``sensitive`` (int codes or None), ``member``
        (0/1 or None), ``paths`` (str), ``names`` (file names).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from PIL import Image
    >>> from privlearn.datasets.images import load_images
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for c in "ab":
    ...     (root / c).mkdir()
    ...     Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / c / "x.png")
    >>> load_images(root).images.shape
    (2, 1, 8, 8)
    """
    from PIL import Image, UnidentifiedImageError

    source = Path(root_or_manifest)
    if source.is_dir():
        paths, labels, attribute, member = _read_folder(source)
    elif source.suffix.lower() == ".csv":
        paths, labels, attribute, member = _read_manifest(source)
    else:
        raise ValueError(f"load_images: {source} is neither a folder nor a .csv manifest "
                         "(or does not exist)")
    if mode not in (None, "L", "RGB"):
        raise ValueError(f"load_images: `mode` must be 'L', 'RGB' or None, got {mode!r}")
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"load_images: `image_size` must be a positive int or (H, W), "
                             f"got {image_size!r}")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"load_images: {len(missing)} image file(s) do not exist, first: "
                         f"{missing[0]}")
    arrays = []
    first = None
    for p in paths:
        try:
            with Image.open(p) as img:
                img.load()
                img = img.convert(mode) if mode else (
                    img if img.mode in ("L", "RGB") else img.convert("RGB"))
                if image_size is not None:
                    img = img.resize((size[1], size[0]), Image.BILINEAR)
                a = np.asarray(img, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ValueError(f"load_images: cannot read image {p}: {exc}") from exc
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        if first is None:
            first = (p, a.shape)
        elif a.shape != first[1]:
            raise ValueError(
                f"load_images: image {p} has shape C×H×W {a.shape} but {first[0]} has "
                f"{first[1]}; pass image_size= (and mode='RGB' or 'L') to make them one "
                "size and channel count")
        arrays.append(a)
    target, target_names = _codes(labels)
    sensitive = _codes(attribute)[0] if attribute is not None else None
    return Bunch(images=np.stack(arrays), target=target, target_names=target_names,
                 sensitive=sensitive, member=member, paths=np.array([str(p) for p in paths]),
                 names=np.array([p.name for p in paths]))

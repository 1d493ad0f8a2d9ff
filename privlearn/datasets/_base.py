"""Shared helpers for the data-set loaders: the Bunch layout, resizing, and the
one translation of a corrupt or truncated file into an error that names it."""

from __future__ import annotations

import os
import pickle
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

#: What reading a damaged file raises somewhere below us: gzip/zlib, pickle,
#: Pillow, NumPy reshapes, text decoding, missing keys in a pickled dict.
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
               pickle.UnpicklingError, zlib.error, UnicodeDecodeError)


class CorruptFileError(ValueError):
    """A data file exists but cannot be read: corrupt, truncated or not that format."""


def corrupt_file_error(dataset, path, error, howto=""):
    """The error for a file that cannot be read, naming it and the cause."""
    cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return CorruptFileError(
        f"{dataset}: cannot read {path}: the file is corrupt, truncated or not in the "
        f"expected format ({cause}). Delete it and get it again. {howto}".rstrip())


@contextmanager
def reading(path, dataset, howto=""):
    """Turn any failure while reading ``path`` into a :class:`CorruptFileError` naming it.

    Examples
    --------
    >>> from privlearn.datasets._base import reading
    >>> with reading("/data/x.bin", "Demo"):
    ...     raise EOFError("ended early")
    Traceback (most recent call last):
    ...
    privlearn.datasets._base.CorruptFileError: Demo: cannot read /data/x.bin: the file is corrupt, truncated or not in the expected format (EOFError: ended early). Delete it and get it again.
    """
    try:
        yield
    except CorruptFileError:
        raise
    except READ_ERRORS as error:
        raise corrupt_file_error(dataset, path, error, howto) from error


def file_in_traceback(error, *folders):
    """The data file(s) that code deep in a library was reading when ``error`` was
    raised, found among the local variables of the innermost frame that names
    a file inside one of ``folders`` (absolute, or relative to a folder).

    Returns a path, a string ``"one of A, B"`` when that frame names several,
    or None.  Used for loaders built on torchvision, whose errors do not name
    the file.
    """
    folders = [Path(folder).resolve() for folder in folders]
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        found = []
        for value in frame.f_locals.values():
            if not isinstance(value, (str, os.PathLike)):
                continue
            for candidate in [Path(value)] + [folder / value for folder in folders]:
                try:
                    path = candidate.resolve()
                    inside = any(folder == path.parent or folder in path.parents
                                 for folder in folders)
                    if inside and path.is_file() and path not in found:
                        found.append(path)
                except (OSError, ValueError):
                    continue
        if len(found) == 1:
            return found[0]
        if found:
            return "one of " + ", ".join(map(str, found))
    return None


#: Fields of a data-set Bunch that hold one entry per sample.
PER_SAMPLE_FIELDS = ("images", "target", "sensitive")


def make_bunch(images, target, sensitive=None, *, target_names, sensitive_names=None,
               description="", name=""):
    """Build the Bunch every loader returns, checking its invariants.

    ``images`` is ``uint8`` of shape ``(N, C, H, W)`` (values 0–255); ``target`` and
    ``sensitive`` are integer arrays of shape ``(N,)``.
    """
    images = np.ascontiguousarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be N×C×H×W, got shape {images.shape}")
    target = np.asarray(target, dtype=np.int64)
    if sensitive is not None:
        sensitive = np.asarray(sensitive, dtype=np.int64)
    for field, values in (("target", target), ("sensitive", sensitive)):
        if values is not None and values.shape != (len(images),):
            raise ValueError(
                f"{field} must have shape ({len(images)},), got {values.shape}"
            )
    return Bunch(
        images=images,
        target=target,
        sensitive=sensitive,
        target_names=list(target_names),
        sensitive_names=None if sensitive_names is None else list(sensitive_names),
        description=description,
        name=name,
    )


def subset(data, indices):
    """Return a Bunch like ``data`` holding only the samples at ``indices``."""
    out = Bunch(**data)
    for field in PER_SAMPLE_FIELDS:
        if out.get(field) is not None:
            out[field] = data[field][indices]
    return out


def check_image_size(image_size):
    """Raise ``ValueError`` unless ``image_size`` is an integer >= 2 or None."""
    if image_size is None:
        return
    if (isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer))
            or image_size < 2):
        raise ValueError(f"`image_size` must be an integer >= 2 or None, got {image_size!r}")


def resize_uint8(images, size, batch_size=2048):
    """Resize ``uint8`` N×C×H×W images to ``size``×``size`` (bilinear, antialiased).

    Works batch by batch so a large set is never held as float32 whole.
    """
    import torch
    import torch.nn.functional as F

    check_image_size(size)
    if size is None or images.shape[-2:] == (size, size):
        return images
    out = np.empty(images.shape[:2] + (size, size), dtype=np.uint8)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start:start + batch_size]).float()
        batch = F.interpolate(batch, size=(size, size), mode="bilinear",
                              antialias=True, align_corners=False)
        out[start:start + batch_size] = batch.round().clamp(0, 255).to(torch.uint8).numpy()
    return out


def hwc_to_chw(images):
    """N×H×W×C (or N×H×W) uint8 array to N×C×H×W."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images[:, None]
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))

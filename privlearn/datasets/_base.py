"""Shared helpers for the data-set loaders: the Bunch layout and resizing."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

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

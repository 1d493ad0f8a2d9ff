"""Input checking and conversion for the image estimators.

Accepted inputs
---------------
- NumPy arrays (or CPU torch tensors) of images, ``N×C×H×W`` or ``N×H×W`` (one
  channel): ``uint8`` with values 0–255 (kept ``uint8`` in memory and converted
  to float batch by batch on the model's device), other integer types with
  values 0–255, or floats with values in [0, 1].  A float image far outside
  [0, 1] (beyond ``±RANGE_TOLERANCE``) is refused: it looks pre-normalised, and
  normalisation is the estimator's job.
- torch ``Dataset`` objects whose items are an image or an ``(image, label)``
  pair; an image is a tensor or array ``C×H×W`` or ``H×W``, or a PIL image.
- 2-D arrays ``N×d``: flat features, fed to the network as ``1×1×d`` images.
  The [0, 1] rule does not apply; features are standardised with statistics
  fitted in ``fit``.

Legal but suspicious: an ``N×H×W×C`` array or Dataset image with ``C`` in
{1, 3} (channel-last, as NumPy/PIL/TensorFlow store images) is read as
``N×C×H×W`` like every 4-D input, but :func:`scan_inputs` warns
(:class:`ChannelsLastWarning`) while fitting, since a model of 8-channel 3-pixel
images is almost never what was meant.

Everything is checked in one batch-wise pass (:func:`scan_inputs`) that also
computes the normalisation statistics, so a bad value is reported before any
training starts and a large ``uint8`` set is never copied to float whole.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["InputSpec", "ImageDataset", "as_input", "scan_inputs", "to_float_batch",
           "RANGE_TOLERANCE", "ChannelsLastWarning"]

#: Float images may stray this far outside [0, 1] (resampling overshoot).
RANGE_TOLERANCE = 0.1
# Elements per chunk of the checking pass over an array (about 16 MB of float32).
_CHUNK_ELEMENTS = 1 << 22


class ChannelsLastWarning(UserWarning):
    """Images look channel-last (``H×W×C``) but are read as ``C×H×W``."""


def _looks_channels_last(shape):
    """``shape`` = (C, H, W) of one image: does it look like (H, W, C) instead?"""
    return len(shape) == 3 and shape[-1] in (1, 3) and shape[0] not in (1, 3)


def _missing_values_message(X, owner, argument):
    """The message for an object array holding missing values, or None."""
    flat = X.ravel()
    missing = sum(v is None or type(v).__name__ in ("NAType", "NaTType") for v in flat)
    if not missing:
        return None
    return (f"{owner}: `{argument}` contains {missing} missing value(s) (None or pandas "
            "NA); impute or drop them first.")


@dataclass(frozen=True)
class InputSpec:
    """What the network sees: ``kind`` ("images" or "features") and ``shape``.

    ``shape`` is the per-sample tensor shape ``(C, H, W)``; flat features of
    dimension ``d`` have shape ``(1, 1, d)``.
    """

    kind: str
    shape: tuple

    @property
    def statistics_shape(self):
        """Shape of the normalisation statistics: per channel or per feature."""
        if self.kind == "features":
            return (1, *self.shape)
        return (1, self.shape[0], 1, 1)

    def describe(self):
        if self.kind == "features":
            return f"{self.shape[-1]} features"
        return "images of shape C×H×W = " + "×".join(map(str, self.shape))


def _is_dataset(X):
    return isinstance(X, Dataset)


def as_input(X, *, argument="X", owner="estimator"):
    """Check ``X``'s type and rank; return ``(data, kind)``.

    ``data`` is a 4-D NumPy array (``uint8`` or float, images as ``N×C×H×W``,
    flat features as ``N×1×1×d`` float32) or the torch ``Dataset`` unchanged;
    ``kind`` is ``"images"``, ``"features"`` or ``"dataset"``.
    """
    if _is_dataset(X):
        try:
            n = len(X)
        except TypeError:
            raise TypeError(f"{owner}: `{argument}` is a torch Dataset without __len__; "
                            "pass a map-style Dataset.") from None
        if n == 0:
            raise ValueError(f"{owner}: `{argument}` is an empty Dataset.")
        return X, "dataset"
    if X is None:
        raise TypeError(f"{owner}: `{argument}` must be a NumPy array, a torch tensor or a "
                        "torch Dataset, got None.")
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if hasattr(X, "iloc") and hasattr(X, "to_numpy"):     # pandas, by position
        X = X.to_numpy()
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise TypeError(f"{owner}: sparse input is not supported for `{argument}`; pass a "
                        "dense array.")
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{owner}: `{argument}` must be a NumPy array, a torch tensor "
                            f"or a torch Dataset, got {type(X).__name__}.") from exc
    if X.dtype.kind == "c":
        raise ValueError(f"{owner}: `{argument}` holds complex numbers. Complex data not "
                         "supported: pass real images or features.")
    if X.dtype.kind == "O" and X.ndim == 0:
        raise TypeError(f"{owner}: `{argument}` must be a NumPy array, a torch tensor or "
                        f"a torch Dataset, got {type(X.item()).__name__}.")
    if X.dtype.kind == "O":
        # Numbers stored as objects (e.g. from a DataFrame) are accepted as floats.
        message = _missing_values_message(X, owner, argument)
        if message:
            raise ValueError(message)
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{owner}: `{argument}` has dtype object and does not hold only "
                            f"numbers: {exc}.") from None
    if X.dtype.kind not in "uif":
        raise TypeError(f"{owner}: `{argument}` must hold numbers (uint8 images, float "
                        f"images or float features), got dtype {X.dtype}.")
    if X.ndim not in (2, 3, 4):
        hint = ""
        if X.ndim == 1:
            hint = (" Reshape your data: X.reshape(-1, 1) for one feature per sample, "
                    "X.reshape(1, -1) for one sample.")
        raise ValueError(f"{owner}: `{argument}` must have 4 dimensions (N×C×H×W images), "
                         f"3 (N×H×W grey images) or 2 (N×d features); got shape "
                         f"{X.shape}.{hint}")
    if X.shape[0] == 0 or X.size == 0:
        if X.ndim == 2 and X.shape[0]:
            raise ValueError(f"{owner}: `{argument}` has 0 feature(s) (shape={X.shape}) "
                             "while a minimum of 1 is required.")
        raise ValueError(f"{owner}: `{argument}` is empty (shape {X.shape}).")
    if X.ndim == 2:
        return np.ascontiguousarray(X, dtype=np.float32)[:, None, None, :], "features"
    if X.ndim == 3:
        X = X[:, None]
    if X.dtype.kind in "ui" and X.dtype != np.uint8:
        low, high = X.min(), X.max()
        if low < 0 or high > 255:
            raise ValueError(f"{owner}: integer images in `{argument}` must have values "
                             f"0–255, got values from {low} to {high}.")
        X = X.astype(np.uint8)
    return X, "images"


def _dataset_image(item, owner="estimator", argument="X"):
    """The image of one Dataset item as a C×H×W tensor.

    Raises ``TypeError`` for items that are not an image or an ``(image,
    label)`` pair: our message, not torch's or NumPy's.
    """
    if isinstance(item, (tuple, list)):
        if not item:
            raise TypeError(f"{owner}: `{argument}` yields an empty {type(item).__name__} "
                            "as an item; expected an image or an (image, label) pair.")
        image = item[0]
    else:
        image = item
    if not isinstance(image, torch.Tensor):
        is_pil = hasattr(image, "getbands") and hasattr(image, "size")
        if not (is_pil or isinstance(image, np.ndarray)):
            raise TypeError(f"{owner}: `{argument}` yields items holding "
                            f"{type(image).__name__}; expected an image (a tensor or "
                            "array C×H×W or H×W, or a PIL image) or an (image, label) "
                            "pair.")
        array = np.asarray(image)
        if array.dtype.kind not in "uif":
            raise TypeError(f"{owner}: the images of `{argument}` must hold numbers "
                            f"(uint8 or float), got dtype {array.dtype}.")
        if array.ndim == 3 and is_pil:
            array = array.transpose(2, 0, 1)          # PIL: H×W×C
        image = torch.from_numpy(np.ascontiguousarray(array))
    elif image.is_complex() or image.dtype == torch.bool:
        raise TypeError(f"{owner}: the images of `{argument}` must hold numbers (uint8 "
                        f"or float), got dtype {image.dtype}.")
    if image.ndim == 2:
        image = image[None]
    return image


def _dataset_label(item):
    return item[1] if isinstance(item, (tuple, list)) and len(item) > 1 else None


class ImageDataset(Dataset):
    """Samples of checked inputs, each as ``(image_tensor, target)``.

    Array images keep their dtype (``uint8`` stays ``uint8``); the estimators
    convert whole batches with :func:`to_float_batch` on their device.
    ``y`` (one target per sample, e.g. encoded class labels or sensitive
    attributes) is returned alongside; without it the target is 0.  The
    attribute names ``X`` and ``y`` are the ones skorch's helpers look for.

    Parameters
    ----------
    X : ndarray of shape (N, C, H, W) or torch Dataset
    y : array-like of shape (N,), default=None

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn._images import ImageDataset
    >>> ds = ImageDataset(np.zeros((3, 1, 8, 8), dtype=np.uint8), np.array([0, 1, 2]))
    >>> image, target = ds[2]
    >>> image.dtype, tuple(image.shape), int(target)
    (torch.uint8, (1, 8, 8), 2)
    """

    def __init__(self, X, y=None):
        self.X = X
        self.y = None if y is None else np.asarray(y)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        if isinstance(self.X, np.ndarray):
            image = torch.from_numpy(np.array(self.X[index]))
        else:
            image = _dataset_image(self.X[index])
        target = 0 if self.y is None else self.y[index]
        return image, target


def to_float_batch(batch, device):
    """Move a batch of images to ``device`` as float32; integer images are scaled by 1/255.

    Examples
    --------
    >>> import torch
    >>> from privlearn._images import to_float_batch
    >>> to_float_batch(torch.tensor([[0, 255]], dtype=torch.uint8), "cpu").tolist()
    [[0.0, 1.0]]
    """
    batch = torch.as_tensor(batch).to(device, non_blocking=True)
    if batch.is_floating_point():
        return batch.float()
    return batch.float().div_(255.0)


@dataclass
class ScanResult:
    """Outcome of :func:`scan_inputs`."""

    spec: InputSpec
    n_samples: int
    mean: np.ndarray = None
    std: np.ndarray = None
    labels: list = None


def _dataset_batches(dataset, batch_size, collect_labels, owner, argument):
    def collate(items):
        images = [_dataset_image(item, owner, argument) for item in items]
        labels = [_dataset_label(item) for item in items] if collect_labels else None
        try:
            return torch.stack(images), labels
        except RuntimeError:
            shapes = sorted({tuple(image.shape) for image in images})
            raise ValueError(f"{owner}: the images of `{argument}` must all have the same "
                             f"shape, found {shapes}.") from None

    yield from DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)


def _array_batches(array):
    per_sample = max(1, int(np.prod(array.shape[1:])))
    step = max(1, _CHUNK_ELEMENTS // per_sample)
    for start in range(0, len(array), step):
        yield torch.from_numpy(np.asarray(array[start:start + step])), None


def scan_inputs(data, kind, *, statistics=False, collect_labels=False, batch_size=256,
                expected=None, owner="estimator", argument="X", any_size=False):
    """Check every value of checked inputs batch by batch.

    Raises ``ValueError`` on NaN or infinite values, float images outside
    ``[-RANGE_TOLERANCE, 1 + RANGE_TOLERANCE]``, Dataset images of the wrong
    rank, or a shape other than ``expected`` (an :class:`InputSpec`; with
    ``any_size``, images need only its number of channels).  With
    ``statistics=True``, also returns the mean and standard deviation per
    channel (images) or per feature (flat features), on the [0, 1] scale;
    a zero standard deviation is replaced by 1.  With ``collect_labels=True``,
    returns the labels of a Dataset's ``(image, label)`` items.
    """
    if kind == "dataset":
        batches = _dataset_batches(data, batch_size, collect_labels, owner, argument)
        kind = "images"
    else:
        batches = _array_batches(data)
        collect_labels = False
    spec = None
    n = 0
    total = total_sq = None
    labels = [] if collect_labels else None
    for batch, batch_labels in batches:
        if spec is None:
            if batch.ndim != 4:
                raise ValueError(f"{owner}: the images of `{argument}` must be C×H×W or "
                                 f"H×W, got shape {tuple(batch.shape[1:])}.")
            spec = InputSpec(kind, tuple(batch.shape[1:]))
            if expected is None and kind == "images" and _looks_channels_last(spec.shape):
                c, h, w = spec.shape
                warnings.warn(
                    f"{owner}: the images of `{argument}` have shape {c}×{h}×{w}, read as "
                    f"C×H×W = {c} channels of {h}×{w} pixels; they look channel-last "
                    f"(H×W×C = {c}×{h}×{w} with {w} channel(s)). If so, pass "
                    "X.transpose(0, 3, 1, 2) (arrays) or C×H×W items (Datasets).",
                    ChannelsLastWarning, stacklevel=3)
            if expected is not None and spec != expected and not (
                    any_size and spec.kind == expected.kind == "images"
                    and spec.shape[0] == expected.shape[0]):
                if spec.kind == expected.kind == "features":
                    # scikit-learn's wording for a feature-count mismatch.
                    raise ValueError(f"{owner}: {argument} has {spec.shape[-1]} features, "
                                     f"but {owner} is expecting {expected.shape[-1]} "
                                     "features as input.")
                raise ValueError(f"{owner}: `{argument}` holds {spec.describe()}, but the "
                                 f"model was fitted on {expected.describe()}.")
        elif tuple(batch.shape[1:]) != spec.shape:
            raise ValueError(f"{owner}: the images of `{argument}` must all have the same "
                             f"shape, found {spec.shape} and {tuple(batch.shape[1:])}.")
        if batch.is_floating_point():
            if not torch.isfinite(batch).all():
                raise ValueError(f"{owner}: `{argument}` contains NaN or infinite values.")
            if kind == "images":
                low, high = float(batch.min()), float(batch.max())
                if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
                    hint = ("it looks pre-normalised" if low < 0 else
                            "it looks like 0–255 pixel values stored as floats: pass "
                            "uint8 images, or divide by 255")
                    raise ValueError(
                        f"{owner}: float images in `{argument}` must have values in [0, 1] "
                        f"(raw pixels), got values from {low:.3g} to {high:.3g}; {hint}. "
                        "Pass raw images: the estimator normalises them itself.")
        elif batch.dtype != torch.uint8:
            low, high = int(batch.min()), int(batch.max())
            if low < 0 or high > 255:
                raise ValueError(f"{owner}: integer images in `{argument}` must have values "
                                 f"0–255, got values from {low} to {high}.")
        n += len(batch)
        if batch_labels is not None:
            labels.extend(batch_labels)
        if statistics:
            values = to_float_batch(batch, "cpu")
            dims = (0,) if spec.kind == "features" else (0, 2, 3)
            part = values.sum(dim=dims, dtype=torch.float64)
            part_sq = (values.double() ** 2).sum(dim=dims)
            total = part if total is None else total + part
            total_sq = part_sq if total_sq is None else total_sq + part_sq
    result = ScanResult(spec, n, labels=labels)
    if statistics:
        count = n * (1 if spec.kind == "features" else spec.shape[1] * spec.shape[2])
        mean = total / count
        std = (total_sq / count - mean ** 2).clamp(min=0).sqrt()
        std[std < 1e-6] = 1.0
        result.mean = mean.float().numpy()
        result.std = std.float().numpy()
    return result

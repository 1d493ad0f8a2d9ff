"""Input and parameter checks shared by the encoder-level attacks.

EncoderMembershipInference, PartCrop and EncoderLiRA take the same kinds of
inputs (images, an optional shadow encoder recipe, an optional attack model);
their checks live here once so that the three raise the same messages.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_shadow_transformer", "check_attack_model", "check_augment",
           "check_augment_output", "check_image_batch"]


def check_shadow_transformer(shadow):
    """``shadow`` is None or an (unfitted) transformer with fit() and transform()."""
    if shadow is not None and not (callable(getattr(shadow, "fit", None))
                                   and callable(getattr(shadow, "transform", None))):
        raise TypeError("`shadow` must be an unfitted transformer with fit() and "
                        f"transform(), got {type(shadow).__name__}")


def check_attack_model(model):
    """``attack_model`` is None or a classifier (fit() and predict_proba() or
    decision_function(); a transformer such as PCA would fit and then fail late)."""
    if model is None:
        return
    scores = (callable(getattr(model, "predict_proba", None))
              or callable(getattr(model, "decision_function", None)))
    if not callable(getattr(model, "fit", None)) or not scores:
        raise TypeError("`attack_model` must be a classifier with fit() and predict_proba() "
                        f"or decision_function(), got {type(model).__name__}")


def check_image_batch(images, *, needs_images=True, why="for the default SimCLR "
                      "augmentation", hint="  Pass `augment` for other inputs"):
    """Refuse non-image shapes (when ``needs_images``) and non-finite pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks._encoder_checks import check_image_batch
    >>> check_image_batch(np.zeros((2, 1, 8, 8), np.float32))
    """
    if needs_images and images.ndim not in (3, 4):
        raise ValueError(f"`X` must be images, N×H×W or N×C×H×W, {why}; got shape "
                         f"{images.shape}.{hint}")
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        raise ValueError("`X` holds NaN or infinite pixel values")


def check_augment(augment):
    """``augment`` is None or a callable ``augment(x, generator=g)``."""
    if augment is not None and not callable(augment):
        raise TypeError("`augment` must be a callable augment(x, generator=g) or None, "
                        f"got {type(augment).__name__}")


def check_augment_output(views, x):
    """``augment(x)`` returned a finite batch of ``x``'s shape (a crop to another size
    would fail inside the encoder with the encoder's message, NaN views silently)."""
    shape = tuple(getattr(views, "shape", ()))
    if shape != tuple(x.shape):
        raise ValueError(f"`augment` must return images of its input's shape {tuple(x.shape)}, "
                         f"got {shape or type(views).__name__}")
    if not np.isfinite(np.asarray(views, dtype=np.float64)).all():
        raise ValueError("`augment` returned NaN or infinite pixel values")

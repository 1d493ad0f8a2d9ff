"""PartCrop: membership inference against an encoder from its part responses.

Zhu et al., "A Unified Membership Inference Method for Visual Self-supervised
Encoder via Part-aware Capability" (CCS 2024; v2 arXiv 2505.10351).  A
self-supervised encoder learns to recognise the parts of the objects it
trained on: small crops of a training image respond more strongly to the
representation of the whole image than crops of an unseen one.  PartCrop crops
``n_parts`` small parts of every image (square boxes whose area is a fraction
``crop_scale`` of the image, all cropped and resized at once on the tensor
level with :func:`torchvision.ops.roi_align`), embeds them,
and summarises the distribution of their responses -- sorted quantiles, mean
and spread -- as the features of a small attack classifier.

Size of a part (``part_size=``): as in the paper, parts keep their own scale
-- resized to half the image's side (the paper's ``img_size // 2`` on CIFAR)
and embedded through the encoder's convolutional ``feature_map``, pooled --
where the encoder offers a spatial map and half the image is at least
``MIN_PART_SIDE`` pixels a side; otherwise (an encoder that only takes images of
its training size, or 8×8 digits, whose 4-pixel halves carry too little) parts
are resized to the image's size and embedded with ``transform``.
``part_size_`` says which was used.

Response of a part (``response=``): by default the cosine similarity between
the part's embedding and the whole image's pooled embedding (``transform``);
with ``response="feature_map"`` (or ``"auto"`` where the target offers
``target.feature_map(X)`` returning ``(n, C, h, w)``; every privlearn encoder
does) the largest cosine similarity between the part's pooled feature and the
image's feature vectors at every position (the paper's part-to-feature-map
response).  ``feature_source_`` says which was used.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._checks import check_flag
from .._target import (KeepsTargetOnClone, check_target, check_target_unchanged,
                       remember_target)
from ._base import check_membership
from ._encoder_checks import (check_attack_model, check_image_batch,
                              check_shadow_transformer)
from ._reference import _seeded
from .attribute import _embed
from .encoder_membership import _from_tensor, _images_of, _to_tensor

__all__ = ["PartCrop"]

# Quantile levels of the sorted responses used as features.
_QUANTILES = np.linspace(0.0, 1.0, 9)
#: What a part's response is measured against (the ``response`` parameter).
_RESPONSES = ("embedding", "feature_map", "auto")
# Images cropped per call to the encoder (times n_parts parts each).
_CHUNK_IMAGES = 64
#: The part size ``part_size="auto"`` uses where it can (a fraction of the image's side).
AUTO_PART_SIZE = 0.5
#: ``part_size="auto"`` keeps parts at their own scale only if they are at least this
#: many pixels a side.  Measured on memorising SimCLR encoders: 4-pixel halves of
#: 8×8 digits gave AUC 0.44-0.50 against 0.61-0.67 for image-size parts (3 seeds);
#: 14-pixel halves of 28×28 Fashion-MNIST measured the same as image-size parts
#: (mean AUC 0.541 vs 0.542 over 9 member sets) at half the cost.
MIN_PART_SIDE = 8


def part_boxes(n_images, n_parts, height, width, crop_scale, generator):
    """Random square-area boxes ``(n_images * n_parts, 5)``: image index, x1, y1, x2, y2.

    The area fraction is uniform in ``crop_scale``, the box lies inside the
    image (continuous pixel coordinates, pixel ``i`` spans ``[i, i + 1]``).
    """
    import torch

    k = n_images * n_parts
    low, high = (float(v) for v in crop_scale)
    area = low + (high - low) * torch.rand(k, generator=generator)
    side_h, side_w = area.sqrt() * height, area.sqrt() * width
    x0 = torch.rand(k, generator=generator) * (width - side_w)
    y0 = torch.rand(k, generator=generator) * (height - side_h)
    index = torch.arange(n_images, dtype=torch.float32).repeat_interleave(n_parts)
    return torch.stack([index, x0, y0, x0 + side_w, y0 + side_h], dim=1)


def crop_parts(images, n_parts, crop_scale, generator, output_size=None):
    """``n_parts`` random square parts of every image, resized to ``output_size``.

    Parameters
    ----------
    images : ndarray (N, H, W) or (N, C, H, W)
    n_parts : int
    crop_scale : (float, float)
        Range of the part's area as a fraction of the image's.
    generator : torch.Generator
    output_size : (int, int) or None, default=None
        Height and width of the parts; None: the image's.  The boxes drawn do
        not depend on it.

    Returns
    -------
    parts : ndarray of shape (N * n_parts, ...) like ``images``
        The parts of image ``i`` are rows ``i * n_parts`` to ``(i + 1) * n_parts - 1``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from privlearn.attacks.partcrop import crop_parts
    >>> x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    >>> crop_parts(x, 3, (0.1, 0.3), torch.Generator().manual_seed(0)).shape
    (6, 1, 8, 8)
    """
    import torch
    from torchvision.ops import roi_align

    x, scale = _to_tensor(images)
    n, _, h, w = x.shape
    boxes = part_boxes(n, int(n_parts), h, w, crop_scale, generator)
    with torch.no_grad():
        parts = roi_align(x, boxes, output_size=(h, w) if output_size is None
                          else tuple(int(v) for v in output_size), spatial_scale=1.0,
                          sampling_ratio=2, aligned=True)
    return _from_tensor(parts.clamp(0.0, 1.0), images, scale)


def _spatial_map(encoder, images):
    """``encoder.feature_map(images)`` as float64, checked to be ``(n, C, h, w)``."""
    out = np.asarray(encoder.feature_map(images), dtype=np.float64)
    if out.ndim != 4:
        raise ValueError("`target.feature_map` must return (n, C, h, w) arrays, "
                         f"got shape {out.shape}")
    return out


class PartCrop(KeepsTargetOnClone, ClassifierMixin, BaseEstimator):
    """Membership inference against an image encoder from part responses (PartCrop).

    A binary classifier of images: ``y`` is 1 for members of the encoder's
    training set, 0 for non-members.  API and protocols as
    :class:`~privlearn.attacks.EncoderMembershipInference`.

    Parameters
    ----------
    target : fitted transformer
        The encoder under attack (``transform(images)``; ``feature_map(images)``
        is used when present, see ``part_size``).  Kept by reference by ``clone``.
    shadow : unfitted transformer or None, default=None
        None: audit mode, ``fit`` reads the target on records of known
        membership.  A transformer: the shadow protocol, ``fit`` trains a clone
        on the fitting images with ``y == 1`` and learns the attack from it.
    n_parts : int, default=128
        Parts cropped per image.
    crop_scale : (float, float), default=(0.2, 0.5)
        Range of a part's area as a fraction of the image's area.  The paper
        crops small parts ((0.08, 0.2)); this range was chosen on 8×8 digits
        (smaller parts of an 8×8 image are a few pixels), not taken from the paper.
    part_size : "auto", "image" or float in (0, 1], default="auto"
        Side of a part before it is embedded.  A float: that fraction of the
        image's height and width (at least one pixel), the part embedded at its
        own scale as the mean of ``encoder.feature_map(parts)`` (every privlearn
        encoder takes images of any size there; a :class:`~privlearn.wrappers.
        TorchEncoder` if its module does).  ``"image"``: resized to the image's
        size and embedded with ``transform`` (any transformer).  ``"auto"``:
        ``AUTO_PART_SIZE`` (0.5, the paper's) where every encoder involved returns
        a spatial ``feature_map`` and the part is at least ``MIN_PART_SIDE``
        pixels a side, else ``"image"``.
    response : {"embedding", "feature_map", "auto"}, default="embedding"
        What a part's response is measured against.  ``"embedding"``: the whole
        image's pooled embedding (``transform``); ``"feature_map"``: the image's
        spatial map (``target.feature_map``, the paper's part-to-position
        response); ``"auto"``: the map when the target (and in shadow mode the
        shadow encoder) offers ``feature_map``, else the embedding.  The default
        is the embedding because on the data privlearn can run the map was not
        stronger (memorising SimCLR encoders, 3 seeds each: 8×8 digits AUC 0.619
        map vs 0.608 embedding vs 0.612 EncoderMI; 28×28 Fashion-MNIST 0.547 map
        vs 0.610 embedding vs 0.601 EncoderMI) and costs about 1.5× the time.
    center : bool, default=False
        Subtract the mean full-image embedding (of the fitting images) before
        the cosine similarities (as ``EncoderMembershipInference(center=True)``).
        False: the paper's raw responses.
    attack_model : classifier or None, default=None
        None: standardisation and logistic regression.
    random_state : int, RandomState instance or None, default=None
        Seeds the crops (the same boxes at fit and prediction) and the shadow
        encoder's ``random_state``.

    Attributes
    ----------
    classes_ : ndarray ``[0, 1]``
    shadow_ : transformer or None
    attack_model_ : classifier
    center_ : ndarray or None
    feature_source_ : {"feature_map", "embedding"}
        What the responses were computed against.
    part_size_ : "image" or float
        The part size used (``part_size`` with ``"auto"`` resolved).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> import privlearn as pl
    >>> images = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
    >>> flat = FunctionTransformer(lambda x: np.asarray(x).reshape(len(x), -1))
    >>> encoder = make_pipeline(flat, PCA(8)).fit(images[:20])
    >>> membership = np.r_[np.ones(20, int), np.zeros(20, int)]
    >>> att = pl.attacks.PartCrop(encoder, n_parts=16, random_state=0)
    >>> att.fit(images, membership).predict_proba(images).shape
    (40, 2)
    """

    def __init__(self, target, *, shadow=None, n_parts=128, crop_scale=(0.2, 0.5),
                 part_size="auto", response="embedding", center=False, attack_model=None,
                 random_state=None):
        self.target = target
        self.shadow = shadow
        self.n_parts = n_parts
        self.crop_scale = crop_scale
        self.part_size = part_size
        self.response = response
        self.center = center
        self.attack_model = attack_model
        self.random_state = random_state

    # --- checks -----------------------------------------------------------------
    def _check_params(self):
        m = self.n_parts
        if not isinstance(m, numbers.Integral) or isinstance(m, bool) or m < 2:
            raise ValueError(f"`n_parts` must be an integer >= 2, got {m!r}")
        try:
            low, high = (float(v) for v in self.crop_scale)
        except (TypeError, ValueError):
            raise ValueError("`crop_scale` must be a pair (low, high) of area fractions, "
                             f"got {self.crop_scale!r}") from None
        if not 0.0 < low <= high <= 1.0:
            raise ValueError("`crop_scale` must satisfy 0 < low <= high <= 1, got "
                             f"{self.crop_scale!r}")
        size = self.part_size
        if not (size in ("auto", "image") if isinstance(size, str) else (
                isinstance(size, numbers.Real) and not isinstance(size, bool)
                and 0.0 < size <= 1.0)):
            raise ValueError('`part_size` must be "auto", "image" or a fraction in (0, 1] '
                             f"of the image's side, got {size!r}")
        if self.response not in _RESPONSES:
            raise ValueError(f"`response` must be one of {', '.join(map(repr, _RESPONSES))}, "
                             f"got {self.response!r}")
        check_shadow_transformer(self.shadow)
        check_attack_model(self.attack_model)
        check_flag("center", self.center)

    @staticmethod
    def _check_images(images):
        check_image_batch(images, why="(PartCrop crops parts of them)", hint="")

    # --- responses --------------------------------------------------------------
    def _response_source(self, which, *encoders):
        """``"feature_map"`` or ``"embedding"``: what ``response`` means for these
        encoders (the map only if every one of them offers ``feature_map``)."""
        offers = all(callable(getattr(e, "feature_map", None)) for e in encoders)
        if self.response == "feature_map" and not offers:
            raise ValueError(f"response='feature_map' but {which} has no feature_map(X) "
                             "method; use response='embedding'")
        return ("feature_map" if self.response == "feature_map"
                or (self.response == "auto" and offers) else "embedding")

    @staticmethod
    def _part_shape(images, size):
        h, w = images.shape[-2:]
        return max(1, round(h * size)), max(1, round(w * size))

    def _why_not_own_scale(self, encoder, images, size):
        """None if ``encoder`` embeds parts of ``size`` at their own scale, else why not
        (one part is embedded as a probe, before any long work)."""
        import torch

        if not callable(getattr(encoder, "feature_map", None)):
            return "the encoder has no feature_map(X) method to embed parts with"
        shape = self._part_shape(images, size)
        part = crop_parts(images[:1], 1, (1.0, 1.0), torch.Generator().manual_seed(0), shape)
        try:
            ndim = np.ndim(encoder.feature_map(part))
        except (RuntimeError, ValueError) as exc:
            return (f"the encoder's feature_map failed on parts of "
                    f"{'×'.join(map(str, shape))} pixels ({exc}); it only takes images of "
                    "another size")
        if ndim != 4:
            return f"`feature_map` must return (n, C, h, w) arrays, got {ndim} dimensions"
        return None

    def _part_size(self, images, *encoders):
        """``"image"`` or the fraction of the image's side ``part_size`` means here."""
        if self.part_size == "image":
            return "image"
        automatic = self.part_size == "auto"
        size = AUTO_PART_SIZE if automatic else float(self.part_size)
        if automatic and min(images.shape[-2:]) * size < MIN_PART_SIDE:
            return "image"
        for encoder in {id(e): e for e in encoders}.values():   # the target once
            why = self._why_not_own_scale(encoder, images, size)
            if why is None:
                continue
            if automatic:   # "auto" keeps parts at their scale only where it can
                return "image"
            raise ValueError(f"part_size={self.part_size!r}: {why}; use part_size='image'")
        return size

    def _seed(self):
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _raw(self, encoder, images):
        """Full-image vectors ``(n, d)``, part vectors ``(n, m, d)`` and the spatial
        map ``(n, hw, d)`` or None."""
        import torch

        generator = torch.Generator().manual_seed(self._seed())
        m = int(self.n_parts)
        source = getattr(self, "feature_source_", None)   # fixed by fit
        if source is None:                                # responses() before fit
            source = self._response_source("the encoder", encoder)
        size = getattr(self, "part_size_", None)
        if size is None:
            size = self._part_size(images, encoder)
        use_map = source == "feature_map"
        own_scale = size != "image"
        output_size = self._part_shape(images, size) if own_scale else None
        full, parts, maps = [], [], []
        for start in range(0, len(images), _CHUNK_IMAGES):
            chunk = images[start:start + _CHUNK_IMAGES]
            crops = crop_parts(chunk, m, self.crop_scale, generator, output_size)
            if use_map or own_scale:
                parts.append(_spatial_map(encoder, crops).mean(axis=(2, 3))
                             .reshape(len(chunk), m, -1))
            else:
                parts.append(_embed(encoder, crops).astype(np.float64)
                             .reshape(len(chunk), m, -1))
            if use_map:
                fmap = _spatial_map(encoder, chunk)
                maps.append(fmap.reshape(len(chunk), fmap.shape[1], -1).transpose(0, 2, 1))
                full.append(fmap.mean(axis=(2, 3)))
            else:
                full.append(_embed(encoder, chunk).astype(np.float64))
        return (np.concatenate(full), np.concatenate(parts),
                np.concatenate(maps) if use_map else None)

    def _whole_images(self, encoder, images):
        """The full-image vectors of :meth:`_raw` alone (no parts cropped), in its
        chunks: the map's mean or the embedding, as ``feature_source_`` says."""
        if self.feature_source_ == "feature_map":
            vectors = [_spatial_map(encoder, images[start:start + _CHUNK_IMAGES])
                       .mean(axis=(2, 3)) for start in range(0, len(images), _CHUNK_IMAGES)]
        else:
            vectors = [_embed(encoder, images[start:start + _CHUNK_IMAGES]).astype(np.float64)
                       for start in range(0, len(images), _CHUNK_IMAGES)]
        return np.concatenate(vectors)

    @staticmethod
    def _unit(v):
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)

    def _responses(self, raw, center):
        full, parts, fmap = raw
        if center is not None:
            full, parts = full - center, parts - center
            fmap = None if fmap is None else fmap - center
        if fmap is None:
            return np.einsum("nmd,nd->nm", self._unit(parts), self._unit(full))
        # Part-to-position responses, the strongest position per part.
        return np.einsum("nmd,npd->nmp", self._unit(parts), self._unit(fmap)).max(axis=2)

    def responses(self, encoder, X, center=None):
        """The responses of every image's parts, ``(n_images, n_parts)``."""
        images = _images_of(X)
        self._check_images(images)
        return self._responses(self._raw(encoder, images), center)

    @staticmethod
    def _features(responses):
        # Few features: the attack model learns from a few hundred records at most.
        quantiles = np.quantile(responses, _QUANTILES, axis=1).T
        return np.column_stack([quantiles, responses.mean(axis=1), responses.std(axis=1)])

    # --- fitting ----------------------------------------------------------------
    def fit(self, X, y):
        """Fit the attack on images and their membership.

        Parameters
        ----------
        X : array-like of images (N×H×W or N×C×H×W) or Records
        y : array-like of shape (n_images,)
            1 for members, 0 for non-members.

        Returns
        -------
        self : object
        """
        images = _images_of(X)
        y = check_membership(y, len(images))
        self._check_params()
        target = check_target(self.target, needs=("transform",))
        self._check_images(images)
        if self.shadow is None:
            self.shadow_ = None
            encoder = target
        else:
            shadow = _seeded(self.shadow,
                             None if self.random_state is None else self._seed())
            self.shadow_ = shadow.fit(images[y == 1])
            encoder = self.shadow_
        # One source for fitting and prediction: the attack model learns from the
        # features it will be given.
        self.feature_source_ = self._response_source(
            "the target" + ("" if self.shadow is None else " or the shadow encoder"),
            target, encoder)
        self.part_size_ = self._part_size(images, target, encoder)
        raw = self._raw(encoder, images)
        center = raw[0].mean(axis=0) if self.center else None
        features = self._features(self._responses(raw, center))
        if not self.center:
            self.center_ = None
        elif self.shadow_ is None:
            self.center_ = center
        else:
            self.center_ = self._whole_images(target, images).mean(axis=0)
        recipe = self.attack_model
        if recipe is None:
            recipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        self.attack_model_ = clone(recipe).fit(features, y)
        self.classes_ = np.array([0, 1])
        remember_target(self, target if self.shadow_ is None or self.center else None)
        self.input_shape_ = images.shape[1:]
        return self

    # --- prediction ---------------------------------------------------------------
    def decision_function(self, X):
        """Membership score of each image on the target (> 0: member)."""
        check_is_fitted(self, "classes_")
        images = _images_of(X)
        if images.shape[1:] != self.input_shape_:
            raise ValueError(f"X holds inputs of shape {images.shape[1:]}, but PartCrop is "
                             f"expecting inputs of shape {self.input_shape_} (the shape it "
                             "was fitted on).")
        check_target_unchanged(self, self.target)
        features = self._features(self.responses(self.target, images, center=self.center_))
        model = self.attack_model_
        if callable(getattr(model, "decision_function", None)):
            return np.asarray(model.decision_function(features), dtype=np.float64)
        column = int(np.flatnonzero(np.asarray(model.classes_) == 1)[0])
        p = np.clip(model.predict_proba(features)[:, column], 1e-15, 1 - 1e-15)
        return np.log(p) - np.log1p(-p)

    def predict_proba(self, X):
        """Membership probability, the logistic map of :meth:`decision_function`."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """Predicted membership (1 member, 0 not): ``decision_function > 0``."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

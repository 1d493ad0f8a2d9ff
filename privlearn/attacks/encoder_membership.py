"""EncoderMI: membership inference against an encoder alone (Liu et al., CCS 2021).

A contrastive encoder is trained to map augmented views of a training image close
together, and it does so better on the images it trained on.  The attack embeds
``n_views`` augmented views of each image (in one batched call), computes the
cosine similarities between every pair of views, and classifies the image as a
member from them:

* ``"vector"``: the pairwise similarities sorted in descending order, fed to a
  classifier (the paper's vector-based attack);
* ``"set"``: the similarities as an unordered set, summarised by a fixed
  histogram over [-1, 1] and their mean, standard deviation and quartiles, fed
  to a classifier (scikit-learn has no set classifier such as the paper's
  DeepSets; a histogram is a permutation-invariant embedding of the set);
* ``"threshold"``: the mean similarity against one threshold chosen on the
  fitting records (maximal TPR - FPR).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._checks import check_flag
from .._target import (KeepsTargetOnClone, check_target, check_target_unchanged,
                       remember_target)
from ..records import Records
from ._base import check_membership, scale_of
from ._encoder_checks import (check_attack_model, check_augment, check_augment_output,
                              check_image_batch,
                              check_shadow_transformer)
from ._reference import _seeded
from .attribute import _embed

__all__ = ["EncoderMembershipInference", "METHODS"]

#: Valid values of ``EncoderMembershipInference(method=...)``.
METHODS = ("vector", "set", "threshold")
# Histogram bins of the "set" features over the cosine range [-1, 1].
_SET_BINS = np.linspace(-1.0, 1.0, 21)
# Images embedded per call to the encoder (times n_views views each).
_CHUNK_IMAGES = 512


def _images_of(X, argument="X"):
    """The image array of ``X`` (an array or Records), as NumPy."""
    if isinstance(X, Records):
        X = X.inputs
    if X is None:
        raise TypeError(f"`{argument}` must be an array of images, got None")
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise TypeError(f"`{argument}`: sparse inputs are not supported; pass images")
    images = np.asarray(X)
    if images.dtype.kind == "c":
        raise ValueError(f"`{argument}`: Complex data not supported (images are real)")
    if images.dtype.kind not in "biuf":
        raise ValueError(f"`{argument}` must hold numbers (images), got dtype {images.dtype}")
    if images.ndim == 0 or len(images) == 0:
        raise ValueError(f"`{argument}` holds no images")
    return images


def _to_tensor(images):
    """Images as a float32 tensor ``(N, C, H, W)`` in [0, 1], and the scale they came in
    (255 for integer images)."""
    import torch

    x = torch.as_tensor(np.ascontiguousarray(images)).to(torch.float32)
    scale = 255.0 if images.dtype.kind in "iu" else 1.0
    x = x / scale
    return (x[:, None] if images.ndim == 3 else x), scale


def _from_tensor(x, like, scale):
    """A float batch back in the layout, scale and dtype of the images ``like``: the
    encoder is handed its own input type."""
    out = np.asarray(x)
    if like.ndim == 3:
        out = out[:, 0]
    if scale != 1.0:
        return np.clip(np.rint(out * scale), 0, 255).astype(like.dtype)
    return out.astype(like.dtype, copy=False)


def _augmented_views(images, copies, augment, generator):
    """``copies`` augmented copies of every image, ``(n * copies, ...)`` like ``images``
    (image ``i``'s copies are rows ``i * copies`` to ``(i + 1) * copies - 1``), from one
    batched ``augment(x, generator=generator)`` call, checked for shape and finiteness."""
    import torch

    x, scale = _to_tensor(images)
    with torch.no_grad():
        batch = x.repeat_interleave(copies, dim=0)
        views = augment(batch, generator=generator)
    check_augment_output(views, batch)
    return _from_tensor(views, images, scale)


class EncoderMembershipInference(KeepsTargetOnClone, ClassifierMixin, BaseEstimator):
    """Membership inference against an image encoder (EncoderMI).

    A binary classifier of images: ``y`` is 1 for members of the encoder's
    training set, 0 for non-members.

    Parameters
    ----------
    target : fitted transformer
        The encoder under attack: ``transform(images)`` returns one embedding
        per image (e.g. a fitted :class:`privlearn.SimCLR`, or any sklearn
        transformer that takes images).  Kept by reference by ``clone``.
    shadow : unfitted transformer or None, default=None
        None: audit mode, ``fit`` reads the target on records of known
        membership.  A transformer: the shadow protocol, ``fit`` trains a clone
        of it on the fitting images whose ``y`` is 1 and learns the attack from
        the clone's similarities; the target is read only at prediction time.
    method : {"vector", "set", "threshold"}, default="vector"
        What the attack reads off the pairwise similarities (see the module).
    n_views : int, default=10
        Augmented views per image (at least 2).
    augment : callable or None, default=None
        ``augment(x, generator=g)`` on a float tensor ``(N, C, H, W)`` in
        [0, 1], returning augmented images of the same shape (the interface of
        :class:`privlearn.augment.SimCLRAugment`).  None: ``SimCLRAugment()``,
        the augmentation SimCLR trains with.
    center : bool, default=True
        Subtract the encoder's mean embedding (over the views of the fitting
        images) before the cosine similarities.  Embeddings after a ReLU all lie
        in the positive orthant, where every raw cosine is close to 1 and the
        members' extra alignment is hard to see; centring (not in the paper)
        removes that shared direction.  False: the paper's raw cosines.
    attack_model : classifier or None, default=None
        Recipe of the classifier of the ``"vector"`` and ``"set"`` features.
        None: standardisation and logistic regression.
    random_state : int, RandomState instance or None, default=None
        Seeds the augmentations (the same views at fit and prediction) and the
        shadow encoder's ``random_state``.

    Attributes
    ----------
    classes_ : ndarray ``[0, 1]``
    shadow_ : transformer or None
    attack_model_ : classifier
        ``"vector"`` and ``"set"`` only.
    threshold_ : float
        ``"threshold"`` only: on the mean similarity.
    center_ : ndarray or None
        The target's mean embedding subtracted at prediction (``center=True``).

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
    >>> att = pl.EncoderMembershipInference(encoder, n_views=4, random_state=0)
    >>> att.fit(images, membership).predict_proba(images).shape
    (40, 2)
    """

    def __init__(self, target, shadow=None, method="vector", n_views=10, augment=None,
                 center=True, attack_model=None, random_state=None):
        self.target = target
        self.center = center
        self.shadow = shadow
        self.method = method
        self.n_views = n_views
        self.augment = augment
        self.attack_model = attack_model
        self.random_state = random_state

    # --- checks -----------------------------------------------------------------
    def _check_params(self):
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {', '.join(map(repr, METHODS))}; "
                             f"got {self.method!r}")
        v = self.n_views
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 2:
            raise ValueError(f"`n_views` must be an integer >= 2 (similarities need pairs "
                             f"of views), got {v!r}")
        check_augment(self.augment)
        check_shadow_transformer(self.shadow)
        check_attack_model(self.attack_model)
        check_flag("center", self.center)

    def _check_images(self, images):
        check_image_batch(images, needs_images=self.augment is None)

    # --- features ---------------------------------------------------------------
    def _augment(self):
        if self.augment is not None:
            return self.augment
        from ..augment import SimCLRAugment      # torch is imported only here
        return SimCLRAugment()

    def _embeddings(self, encoder, images):
        """Embeddings of ``n_views`` augmented views of every image, (n, n_views, d)."""
        import torch

        augment = self._augment()
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        generator = torch.Generator().manual_seed(int(seed))
        v = int(self.n_views)
        out = []
        for start in range(0, len(images), _CHUNK_IMAGES):
            chunk = images[start:start + _CHUNK_IMAGES]
            views = _augmented_views(chunk, v, augment, generator)
            embeddings = _embed(encoder, views).astype(np.float64, copy=False)
            out.append(embeddings.reshape(len(chunk), v, -1))
        return np.concatenate(out)

    def similarities(self, encoder, X, center=None):
        """Cosine similarities between every pair of views of each image.

        Parameters
        ----------
        encoder : fitted transformer
        X : array-like of images (or Records)
        center : ndarray of shape (n_features_out,) or None
            Subtracted from every embedding first.

        Returns
        -------
        similarities : ndarray of shape (n_images, n_views * (n_views - 1) / 2)
            In the fixed order of the upper triangle of the views' similarity
            matrix.
        """
        images = _images_of(X)
        self._check_images(images)
        return self._pairwise(self._embeddings(encoder, images), center)

    def _pairwise(self, embeddings, center):
        if center is not None:
            embeddings = embeddings - center
        unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=2, keepdims=True),
                                       1e-12)
        cosine = np.einsum("nvd,nwd->nvw", unit, unit)
        rows, cols = np.triu_indices(int(self.n_views), k=1)
        return cosine[:, rows, cols]

    def _features(self, similarities):
        if self.method == "vector":
            return -np.sort(-similarities, axis=1)
        if self.method == "set":
            counts = _row_histograms(similarities)
            summary = np.column_stack([similarities.mean(axis=1), similarities.std(axis=1),
                                       np.quantile(similarities, [0.25, 0.5, 0.75], axis=1).T])
            return np.column_stack([counts / similarities.shape[1], summary])
        return similarities.mean(axis=1, keepdims=True)

    # --- fitting ----------------------------------------------------------------
    def fit(self, X, y):
        """Fit the attack on images and their membership.

        Parameters
        ----------
        X : array-like of images (N×H×W or N×C×H×W) or Records
        y : array-like of shape (n_images,)
            1 for members, 0 for non-members (of the target in audit mode, of
            the shadow encoder in the shadow protocol).

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
            seed = (None if self.random_state is None else int(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)))
            shadow = _seeded(self.shadow, seed)
            self.shadow_ = shadow.fit(images[y == 1])
            encoder = self.shadow_
        embeddings = self._embeddings(encoder, images)
        center = embeddings.mean(axis=(0, 1)) if self.center else None
        features = self._features(self._pairwise(embeddings, center))
        # The target's own centre, from its answers on the same images (in the
        # shadow protocol the attacker queries the target on images it holds).
        if not self.center:
            self.center_ = None
        elif self.shadow_ is None:
            self.center_ = center
        else:
            self.center_ = self._embeddings(target, images).mean(axis=(0, 1))
        if self.method == "threshold":
            fpr, tpr, thresholds = roc_curve(y, features[:, 0])
            best = int(np.argmax(tpr - fpr))
            self.threshold_ = float(min(thresholds[best], 1.0))
            self.decision_scale_ = scale_of(features[:, 0])
        else:
            recipe = self.attack_model
            if recipe is None:
                recipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
            self.attack_model_ = clone(recipe).fit(features, y)
            self.decision_scale_ = 1.0
        self.classes_ = np.array([0, 1])
        # Audit mode learns the attack from the target's similarities, and
        # ``center_`` is the target's mean embedding in both protocols: refuse a
        # refitted target at prediction (StaleTargetError).
        remember_target(self, target if self.shadow_ is None or self.center else None)
        self.input_shape_ = images.shape[1:]
        if images.ndim == 2:                      # flat inputs: sklearn's n_features_in_
            self.n_features_in_ = images.shape[1]
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        return self

    # --- prediction ---------------------------------------------------------------
    def decision_function(self, X):
        """Membership score of each image on the target (> 0: member).

        Parameters
        ----------
        X : array-like of images or Records

        Returns
        -------
        scores : ndarray of shape (n_images,)
        """
        check_is_fitted(self, "classes_")
        images = _images_of(X)
        if images.shape[1:] != self.input_shape_:
            got = (f"X has {images.shape[1]} features" if images.ndim == 2
                   else f"X holds inputs of shape {images.shape[1:]}")
            if images.ndim != len(self.input_shape_) + 1:
                got += " (Reshape your data)"
            fitted = self.input_shape_
            expected = (f"{fitted[0]} features" if len(fitted) == 1
                        else f"inputs of shape {fitted} (the shape it was fitted on)")
            raise ValueError(f"{got}, but {type(self).__name__} is expecting {expected} "
                             "as input.")
        check_target_unchanged(self, self.target)
        features = self._features(self.similarities(self.target, images, center=self.center_))
        if self.method == "threshold":
            return features[:, 0] - self.threshold_
        model = self.attack_model_
        if callable(getattr(model, "decision_function", None)):
            return np.asarray(model.decision_function(features), dtype=np.float64)
        column = int(np.flatnonzero(np.asarray(model.classes_) == 1)[0])
        p = np.clip(model.predict_proba(features)[:, column], 1e-15, 1 - 1e-15)
        return np.log(p) - np.log1p(-p)

    def predict_proba(self, X):
        """Membership probability: a logistic map of :meth:`decision_function`.

        Returns
        -------
        proba : ndarray of shape (n_images, 2)
        """
        decision = self.decision_function(X)
        p = 1.0 / (1.0 + np.exp(-decision / self.decision_scale_))
        p = np.where(decision > 0, np.maximum(p, np.nextafter(0.5, 1.0)), np.minimum(p, 0.5))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """Predicted membership (1 member, 0 not): ``decision_function > 0``."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        # Images (3-D, 4-D); flat N×d inputs only with an `augment` for them.
        tags.input_tags.two_d_array = self.augment is not None
        tags.input_tags.three_d_array = True
        return tags


def _row_histograms(values):
    """Histogram of every row of ``values`` over ``_SET_BINS``, vectorised."""
    index = np.clip(np.searchsorted(_SET_BINS, values, side="right") - 1, 0,
                    len(_SET_BINS) - 2)
    counts = np.zeros((len(values), len(_SET_BINS) - 1))
    np.add.at(counts, (np.arange(len(values))[:, None], index), 1.0)
    return counts

"""EncoderLiRA: reference-calibrated membership and memorization of an encoder.

Wang et al. ("Memorization in Self-Supervised Learning Improves Downstream
Generalization", ICLR 2024, SSLMem) measure how much a self-supervised encoder
memorised a record by its *alignment*: how close the embeddings of two
augmentations of the record are, on an encoder that trained on it against
encoders that did not.  This module applies LiRA's recipe (Carlini et al.,
S&P 2022) to that statistic:

* every model -- the target and each reference encoder of
  :class:`~privlearn.attacks.ReferenceModels` -- embeds the *same* ``n_views``
  pairs of augmented views of each record (one seed, drawn once per call);
* a record's alignment is the mean cosine similarity of its pairs, after
  subtracting the model's mean embedding on the fitting pool (centring, as
  EncoderMI's ``center=True``), mapped by Fisher's ``arctanh`` so it is closer
  to Gaussian over the randomness of training;
* offline, the score is how many standard deviations the target's alignment
  lies above the OUT reference encoders' (those that never saw the record);
  online, the log-likelihood ratio of the IN and OUT Gaussians.

:meth:`EncoderLiRA.memorization_score` is SSLMem's per-record score, the
target's alignment minus the OUT reference encoders' mean alignment.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.stats import norm
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._checks import check_flag
from .._target import check_target_unchanged, remember_target
from ._base import check_membership
from ._encoder_checks import check_augment, check_image_batch
from ._reference import ReferenceModels, _as_records
from .attribute import _embed, _embedder
from .encoder_membership import _augmented_views, _images_of

__all__ = ["EncoderLiRA", "alignment"]

VARIANCES = ("auto", "per_record", "global")
#: Below this many reference models ``variance="auto"`` uses one global variance.
AUTO_GLOBAL_BELOW = 64
_MIN_STD = 1e-3
# Cosines are clipped inside (-1, 1) before arctanh.
_CLIP = 1.0 - 1e-6
_CHUNK_IMAGES = 256


def _views(images, n_views, augment, seed):
    """``2 * n_views`` augmented copies of every image, ``(n * 2 * n_views, ...)``."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    return _augmented_views(images, 2 * n_views, augment, generator)


def alignment(embeddings, n_views, center=None):
    """Mean cosine of the view pairs of every record.

    Parameters
    ----------
    embeddings : ndarray of shape (n * 2 * n_views, d)
        In the order of the views (pairs are consecutive rows).
    n_views : int
    center : ndarray of shape (d,) or None

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from privlearn.attacks.encoder_lira import alignment
    >>> alignment(np.array([[1.0, 0], [1, 0], [1, 0], [0, 1]]), 1).tolist()
    [1.0, 0.0]
    """
    z = np.asarray(embeddings, dtype=np.float64)
    if center is not None:
        z = z - center
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    z = z.reshape(-1, n_views, 2, z.shape[1])
    return np.einsum("nvd,nvd->nv", z[:, :, 0], z[:, :, 1]).mean(axis=1)


class EncoderLiRA(ClassifierMixin, BaseEstimator):
    """LiRA for encoders: the target's alignment against reference encoders'.

    Parameters
    ----------
    target : fitted transformer (or a Pipeline whose steps before the last embed)
        The encoder under attack.  Kept by reference by ``clone``.
    reference : fitted ReferenceModels or None, default=None
        Reference models on the attacker's pool; their members are encoders
        (a transformer recipe) or classifier pipelines whose encoder is used
        (e.g. an audit family's models).  None: ``shadow`` trains them on the
        pool passed to ``fit``.
    shadow : unfitted transformer or None, default=None
        Recipe of the reference encoders when ``reference`` is None.
    n_shadows : int, default=8
        Number of reference encoders trained from ``shadow``.
    online : bool, default=False
        Use the IN reference encoders too (the record must be in the pool).
    n_views : int, default=8
        Pairs of augmented views per record.
    augment : callable or None, default=None
        ``augment(x, generator=g)`` on float tensors in [0, 1]; None:
        :class:`privlearn.augment.SimCLRAugment`.
    variance : {"auto", "per_record", "global"}, default="auto"
        Per-record standard deviations of the reference alignments, or one
        pooled over the fitting pool (auto: global below 64 models).
    random_state : int, RandomState instance or None, default=None
        Seeds the views (the same for every model and every call) and the
        reference encoders.
    n_jobs : int or None, default=None
        Reference encoders trained in parallel.

    Attributes
    ----------
    reference_ : ReferenceModels
    classes_ : ndarray ``[0, 1]``
    variance_ : str
    global_std_ : ndarray of shape (2,)
        Pooled standard deviation of the IN and OUT alignments.
    centers_ : list of ndarray
        Mean embedding of the target (first) and of every reference encoder.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> import privlearn as pl
    >>> images = np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32)
    >>> flat = FunctionTransformer(lambda x: np.asarray(x).reshape(len(x), -1))
    >>> target = make_pipeline(flat, PCA(4)).fit(images[:20])
    >>> att = pl.attacks.EncoderLiRA(target, shadow=make_pipeline(flat, PCA(4)),
    ...                              n_shadows=4, n_views=2, random_state=0)
    >>> att.fit(images).decision_function(images).shape
    (40,)
    """

    def __init__(self, target, reference=None, *, shadow=None, n_shadows=8, online=False,
                 n_views=8, augment=None, variance="auto", random_state=None, n_jobs=None):
        self.target = target
        self.reference = reference
        self.shadow = shadow
        self.n_shadows = n_shadows
        self.online = online
        self.n_views = n_views
        self.augment = augment
        self.variance = variance
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_clone__(self):
        # The target and a fitted reference stay shared (fitted models the attack reads).
        params = self.get_params(deep=False)
        cloned = {key: (value if key in ("target", "reference") else clone(value, safe=False))
                  for key, value in params.items()}
        return type(self)(**cloned)

    # --- checks -----------------------------------------------------------------
    def _check_params(self):
        v = self.n_views
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(f"`n_views` must be a positive integer (pairs of views), got {v!r}")
        if self.variance not in VARIANCES:
            raise ValueError(f"`variance` must be one of {VARIANCES}, got {self.variance!r}")
        check_flag("online", self.online)
        check_augment(self.augment)
        ref = self.reference
        if ref is not None:
            if not isinstance(ref, ReferenceModels):
                raise TypeError("`reference` must be a fitted privlearn.attacks.ReferenceModels "
                                f"(or None), got {type(ref).__name__}")
            check_is_fitted(ref, "models_")
        elif self.shadow is None:
            raise ValueError("give `shadow` (an unfitted encoder to train the reference "
                             "encoders) or `reference` (fitted ReferenceModels)")
        n = len(ref.models_) if ref is not None else self.n_shadows
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 2:
            raise ValueError("EncoderLiRA needs at least 2 reference encoders (every record "
                             f"must be OUT of at least one), got n_shadows={n!r}")

    # --- alignments ---------------------------------------------------------------
    def _augment(self):
        if self.augment is not None:
            return self.augment
        from ..augment import SimCLRAugment
        return SimCLRAugment()

    def _encoders(self):
        return [self._target_encoder] + [
            _embedder(m, argument=f"reference model {k}")
            for k, m in enumerate(self.reference_.models_)]

    def _embeddings(self, images):
        """Embeddings of the same views by every model: list of (n * 2v, d)."""
        v = int(self.n_views)
        augment, seed = self._augment(), self.seed_
        encoders = self._encoders()
        out = [[] for _ in encoders]
        for start in range(0, len(images), _CHUNK_IMAGES):
            # Same chunking, same generator stream: the views do not depend on the models.
            views = _views(images[start:start + _CHUNK_IMAGES], v, augment, seed + start)
            for k, encoder in enumerate(encoders):
                out[k].append(_embed(encoder, views, argument="target" if k == 0
                                     else f"reference model {k - 1}"))
        return [np.concatenate(e).astype(np.float64, copy=False) for e in out]

    def _alignments(self, images, embeddings=None):
        """Raw mean cosines: target (n,), reference (n_models, n)."""
        if embeddings is None:
            embeddings = self._embeddings(images)
        v = int(self.n_views)
        cos = np.stack([alignment(z, v, c) for z, c in zip(embeddings, self.centers_)])
        return cos[0], cos[1:]

    @staticmethod
    def _phi(cos):
        return np.arctanh(np.clip(cos, -_CLIP, _CLIP))

    def _checked_images(self, X):
        images = _images_of(X)
        check_image_batch(images, needs_images=self.augment is None)
        return images

    # --- fitting ----------------------------------------------------------------
    def fit(self, X, y=None):
        """Train (or take) the reference encoders on the pool ``X``; calibrate.

        Parameters
        ----------
        X : Records or array of images
            The attacker's pool (it may hold the candidates).
        y : ignored
            Accepted so that ``cross_val_score`` can pass membership.

        Returns
        -------
        self : object
        """
        self._check_params()
        pool = _as_records(X)
        images = self._checked_images(pool.inputs)
        self._target_encoder = _embedder(self.target)
        reference = self.reference
        if reference is None:
            reference = ReferenceModels(self.shadow, n_models=self.n_shadows,
                                        random_state=self.random_state,
                                        n_jobs=self.n_jobs).fit(pool)
        self.reference_ = reference
        self.seed_ = int(check_random_state(self.random_state).randint(2 ** 30))
        self.centers_ = [None] * (1 + len(reference.models_))
        embeddings = self._embeddings(images)
        self.centers_ = [z.mean(axis=0) for z in embeddings]
        _, ref_cos = self._alignments(images, embeddings)
        phi = self._phi(ref_cos)
        in_mask, _ = reference.seen(pool)
        stds = []
        for mask in (in_mask, ~in_mask):
            count = mask.sum(axis=0)
            mean = np.where(count > 0, (phi * mask).sum(axis=0) / np.maximum(count, 1), 0)
            squared = (((phi - mean) ** 2) * mask).sum()
            dof = max(int((count - (count > 0)).sum()), 1)
            stds.append(np.sqrt(squared / dof))
        self.global_std_ = np.maximum(np.array(stds), _MIN_STD)
        self.variance_ = (self.variance if self.variance != "auto" else
                          "global" if len(reference.models_) < AUTO_GLOBAL_BELOW
                          else "per_record")
        self.classes_ = np.array([0, 1])
        self.input_shape_ = images.shape[1:]
        remember_target(self, self._target_encoder)
        return self

    # --- scores -----------------------------------------------------------------
    def _scores(self, X):
        check_is_fitted(self, "classes_")
        images = self._checked_images(X)
        if images.shape[1:] != self.input_shape_:
            raise ValueError(f"X holds inputs of shape {images.shape[1:]}, but EncoderLiRA "
                             f"is expecting inputs of shape {self.input_shape_} (the pool's)")
        check_target_unchanged(self, self._target_encoder)
        t_cos, r_cos = self._alignments(images)
        in_mask, in_pool = self.reference_.seen(_as_records(X))
        return t_cos, r_cos, in_mask, in_pool

    @staticmethod
    def _mean_std(values, mask):
        count = mask.sum(axis=0)
        safe = np.maximum(count, 1)
        mean = (values * mask).sum(axis=0) / safe
        std = np.sqrt((((values - mean) ** 2) * mask).sum(axis=0) / safe)
        return mean, std, count

    def decision_function(self, X):
        """Membership score of each record (> 0: more likely a member).

        Offline: ``(φ_target - mean_OUT) / std_OUT``; online: the log
        likelihood ratio of the IN and OUT Gaussians.
        """
        t_cos, r_cos, in_mask, in_pool = self._scores(X)
        phi_t, phi = self._phi(t_cos), self._phi(r_cos)
        mean_out, std_out, n_out = self._mean_std(phi, ~in_mask)
        if (n_out == 0).any():
            raise ValueError("some records are IN for every reference encoder; they cannot "
                             "be calibrated (use more reference models)")
        if self.variance_ == "global":
            std_out = np.full_like(mean_out, self.global_std_[1])
        std_out = np.maximum(std_out, _MIN_STD)
        if not self.online:
            return (phi_t - mean_out) / std_out
        if not in_pool.all():
            raise ValueError("online EncoderLiRA needs every record in the reference pool "
                             f"({int((~in_pool).sum())} are not); use online=False")
        mean_in, std_in, _ = self._mean_std(phi, in_mask)
        if self.variance_ == "global":
            std_in = np.full_like(mean_in, self.global_std_[0])
        std_in = np.maximum(std_in, _MIN_STD)
        return norm.logpdf(phi_t, mean_in, std_in) - norm.logpdf(phi_t, mean_out, std_out)

    def predict_proba(self, X):
        """Membership probability: ``Φ(z)`` offline, the logistic of the LLR online."""
        d = self.decision_function(X)
        p = norm.cdf(d) if not self.online else 1.0 / (1.0 + np.exp(-d))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """Predicted membership: ``decision_function > 0``."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def memorization_score(self, X):
        """SSLMem's per-record memorization: target alignment minus the OUT
        reference encoders' mean alignment (in cosine units; > 0: memorised).

        Returns
        -------
        ndarray of shape (n_records,)
        """
        t_cos, r_cos, in_mask, _ = self._scores(X)
        mean_out, _, n_out = self._mean_std(r_cos, ~in_mask)
        return np.where(n_out > 0, t_cos - mean_out, np.nan)

    def score(self, X, y, sample_weight=None):
        """ROC AUC of :meth:`decision_function` against membership ``y``."""
        from sklearn.metrics import roc_auc_score

        y = check_membership(y, len(_images_of(X)))
        return float(roc_auc_score(y, self.decision_function(X), sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        tags.input_tags.three_d_array = True
        return tags

"""Post-hoc concept erasure: remove a sensitive attribute's *linear* information.

:class:`LinearConceptEraser` is LEACE (LEAst-squares Concept Erasure; Belrose et
al., "LEACE: Perfect linear concept erasure in closed form", NeurIPS 2023), a
closed-form affine map fitted on frozen embeddings and their attribute.  After it,
the cross-covariance between the embeddings and the one-hot attribute is zero, so
*no linear classifier* does better on the attribute than a constant predictor
(on the data it was fitted on); among all maps with that property it moves the
embeddings least (in the whitened least-squares sense).  A nonlinear attacker (the
MLP of :class:`~privlearn.AttributeInference`) may still recover the attribute.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ._checks import check_sensitive_attribute, validate_params

__all__ = ["LinearConceptEraser"]


def _check_sensitive_features(sensitive_features, n_samples):
    """The shared sensitive-attribute check (:mod:`privlearn._checks`)."""
    return check_sensitive_attribute(
        n_samples, sensitive_features, owner="LinearConceptEraser",
        hint=" (fit(X, sensitive_features=s), or <step>__sensitive_features=s through "
             "a Pipeline)")


class LinearConceptEraser(TransformerMixin, BaseEstimator):
    """Erase the linear information about a categorical attribute (LEACE).

    Fitted on embeddings ``X`` and an attribute ``s``, the eraser is the affine map

    .. math:: r(x) = x - P\\,(x - \\mu), \\qquad
              P = W^{+} U U^\\top W,

    where :math:`\\mu` is the mean of ``X``, :math:`W = \\Sigma_{XX}^{-1/2}` whitens
    ``X`` (pseudo-inverse square root: directions with no variance are left alone),
    :math:`\\Sigma_{XZ}` is the cross-covariance of ``X`` with the one-hot attribute
    ``Z`` and the columns of ``U`` are an orthonormal basis of the column space of
    :math:`W\\Sigma_{XZ}` (rank at most #values − 1).  Then
    :math:`\\mathrm{Cov}(r(X), Z) = 0`: every attribute value has the same mean
    erased embedding, so no linear classifier beats the majority class (on the
    fitting data).

    **Linear information only.**  The attribute may still be recoverable by a
    nonlinear model (an MLP, a kernel machine); evaluate with
    :class:`~privlearn.AttributeInference`'s default MLP, not only a linear probe.

    Parameters
    ----------
    tol : float, default=1e-10
        Relative tolerance for rank decisions: eigenvalues of the covariance below
        ``tol`` × the largest one, and singular values of the whitened
        cross-covariance below ``tol`` × the largest one (or an absolute 1e-12 when
        the attribute has no linear signal at all), count as zero.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        :math:`\\mu`.
    projection_ : ndarray of shape (n_features, n_features)
        The oblique projection :math:`P` (``r(x) = x - (x - μ) @ P.T``).
    rank_ : int
        Rank of :math:`P`: the number of directions erased.
    sensitive_classes_ : ndarray
        The attribute values seen in ``fit``.
    n_features_in_ : int

    Notes
    -----
    ``fit(X, y=None, *, sensitive_features)``.  In a Pipeline pass
    ``<step>__sensitive_features=s``; with metadata routing enabled the eraser
    requests ``sensitive_features`` for ``fit`` by default (like
    :class:`~privlearn.Talos`), so ``search.fit(X, y, sensitive_features=s)``
    reaches it, sliced per fold.  ``transform`` needs no attribute: the map is
    fitted once and applied to any embedding.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privlearn import LinearConceptEraser
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, 500)
    >>> X = rng.normal(size=(500, 4)) + 3 * s[:, None]       # s is linearly visible
    >>> bool(LogisticRegression().fit(X, s).score(X, s) > 0.9)
    True
    >>> X_erased = LinearConceptEraser().fit_transform(X, sensitive_features=s)
    >>> float(abs(LogisticRegression().fit(X_erased, s).score(X_erased, s) - 0.5)) < 0.1
    True
    """

    __metadata_request__fit = {"sensitive_features": True}

    _parameter_constraints = {"tol": [Interval(Real, 0, 1, closed="left")]}

    def __init__(self, tol=1e-10):
        self.tol = tol

    def fit(self, X, y=None, *, sensitive_features=None):
        """Fit the eraser on embeddings ``X`` and their attribute.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings (e.g. a frozen encoder's ``transform`` output).
        y : ignored
        sensitive_features : array-like of shape (n_samples,)
            The attribute to erase: class labels, at least two values.  Required.

        Returns
        -------
        self
        """
        validate_params(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=True)
        s = _check_sensitive_features(sensitive_features, X.shape[0])
        binarizer = LabelBinarizer().fit(s)
        Z = binarizer.transform(s).astype(np.float64)
        if Z.shape[1] == 1:              # LabelBinarizer's single column for 2 classes
            Z = np.hstack([1.0 - Z, Z])
        self.sensitive_classes_ = binarizer.classes_

        X64 = X.astype(np.float64, copy=False)
        n = X64.shape[0]
        self.mean_ = X64.mean(axis=0)
        Xc = X64 - self.mean_
        cov = Xc.T @ Xc / n
        cross = Xc.T @ (Z - Z.mean(axis=0)) / n          # Σ_XZ, (d, k)

        # Σ^{-1/2} and Σ^{1/2} on the covariance's support (eigh, with a tolerance).
        eigvals, eigvecs = np.linalg.eigh(cov)
        keep = eigvals > self.tol * max(eigvals.max(), 0.0)
        V, root = eigvecs[:, keep], np.sqrt(eigvals[keep])
        whiten = (V / root) @ V.T                       # W  = Σ^{+1/2}
        unwhiten = (V * root) @ V.T                     # W⁺ = Σ^{1/2}

        # Orthonormal basis of the column space of W Σ_XZ.
        U, sing, _ = np.linalg.svd(whiten @ cross, full_matrices=False)
        threshold = max(self.tol * (sing.max() if sing.size else 0.0), 1e-12)
        U = U[:, sing > threshold]
        self.rank_ = int(U.shape[1])
        self.projection_ = unwhiten @ U @ U.T @ whiten
        return self

    def transform(self, X):
        """Erase: ``x - P (x - μ)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_erased : ndarray of shape (n_samples, n_features)
            Same dtype as ``X`` when it is float32, float64 otherwise.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        erased = X - (X.astype(np.float64, copy=False) - self.mean_) @ self.projection_.T
        return erased.astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

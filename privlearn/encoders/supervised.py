"""The supervised baseline: a backbone with a linear head, trained by cross-entropy."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring
from torch.utils.data import DataLoader

from .._images import ImageDataset
from ..backbones import ClassifierNet
from ._base import _ImageEstimatorMixin

__all__ = ["SupervisedClassifier"]


def _encoded_accuracy(net, X, y):
    """Accuracy against the encoded labels (0..k-1) skorch hands to epoch scorers."""
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == np.asarray(y)))


class SupervisedClassifier(_ImageEstimatorMixin, ClassNamePrefixFeaturesOutMixin,
                           TransformerMixin, NeuralNetClassifier):
    """Supervised baseline: a backbone with a linear head, trained by cross-entropy.

    Parameters
    ----------
    backbone : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}, default="cnn"
    max_epochs : int, default=100
    batch_size : int, default=256
    lr : float, default=1e-3
    optimizer : torch optimizer class, default=torch.optim.Adam
    device : str, default="cpu"
    precision : {None, "bf16", "fp16"}, default=None
    channels_last : bool, default=False
        As for :class:`SimCLR`: mixed precision and memory format.
    random_state : int, RandomState or None, default=None
        As for :class:`SimCLR`: reproducible fits without touching the global
        random state.
    train_split : callable or None, default=None
        None trains on all of the training set, as the paper's target models
        do (membership inference relies on the gap this leaves).
    classes : array-like or None, default=None
        All class labels, if ``y`` may not show every one of them.
    warm_start, verbose, callbacks, module, criterion, **kwargs
        As for :class:`SimCLR` (``module=ClassifierNet``,
        ``criterion=torch.nn.CrossEntropyLoss``).

    Attributes
    ----------
    classes_ : ndarray
        The class labels (any sortable labels: ints, strings, ...).
    module_ : ClassifierNet
    input_spec_ : InputSpec

    Notes
    -----
    Inputs follow the same rules as :class:`SimCLR`; a torch ``Dataset`` of
    ``(image, label)`` pairs may be passed without ``y``.  No augmentation is
    applied.

    Examples
    --------
    >>> import privlearn as pl
    >>> data = pl.datasets.load("digits", task="digit")
    >>> clf = pl.SupervisedClassifier(max_epochs=2, random_state=0)
    >>> clf.fit(data.images[:300], data.target[:300]).predict_proba(data.images[:2]).shape
    (2, 10)
    >>> clf.transform(data.images[:2]).shape
    (2, 128)
    """

    def __init__(self, *, backbone="cnn", max_epochs=100, batch_size=256, lr=1e-3,
                 optimizer=torch.optim.Adam, device="cpu", precision=None,
                 channels_last=False, random_state=None, train_split=None, classes=None,
                 warm_start=False, verbose=0,
                 callbacks=None, module=ClassifierNet, criterion=torch.nn.CrossEntropyLoss,
                 iterator_train=DataLoader, iterator_valid=DataLoader, dataset=ImageDataset,
                 **kwargs):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size,
                         iterator_train=iterator_train, iterator_valid=iterator_valid,
                         dataset=dataset, train_split=train_split, classes=classes,
                         callbacks=callbacks, warm_start=warm_start, verbose=verbose,
                         device=device, **kwargs)
        self.backbone = backbone
        self.precision = precision
        self.channels_last = channels_last
        self.random_state = random_state

    def _module_kwargs(self):
        return {**super()._module_kwargs(), "n_classes": len(self.classes_)}

    @property
    def _default_callbacks(self):
        # skorch's valid_acc compares predict() with the dataset's targets, which
        # here are the encoded labels while predict() returns the original ones.
        return [(name, EpochScoring(_encoded_accuracy, name="valid_acc",
                                    lower_is_better=False) if name == "valid_acc" else cb)
                for name, cb in super()._default_callbacks]

    @property
    def classes_(self):
        """The class labels seen in ``fit`` (or given as ``classes``)."""
        return self.label_encoder_.classes_

    def _encode_labels(self, y, labels_from_dataset, *, refit):
        owner = self._owner()
        if y is None:
            if labels_from_dataset is None or any(label is None for label in labels_from_dataset):
                raise ValueError(self._y_required_message())
            y = [label.item() if isinstance(label, torch.Tensor) else label
                 for label in labels_from_dataset]
        y = self._labels_1d(y)
        if refit:
            encoder = LabelEncoder().fit(y if self.classes is None else self.classes)
        else:
            encoder = self.label_encoder_
        unknown = np.setdiff1d(y, encoder.classes_)
        if unknown.size:
            raise ValueError(f"{owner}: `y` holds labels {unknown.tolist()[:5]} that are not "
                             f"among the classes {encoder.classes_.tolist()}.")
        if len(encoder.classes_) < 2:
            raise ValueError(f"{owner}: `y` must hold at least 2 classes, got 1 class: "
                             f"{encoder.classes_.tolist()}.")
        self.label_encoder_ = encoder
        return encoder.transform(y).astype(np.int64)

    def _y_required_message(self):
        return (f"{self._owner()} requires y to be passed, but the target y is None: "
                "`y` is required unless X is a Dataset of (image, label) pairs.")

    def _labels_1d(self, y):
        """``y`` as 1-D class labels; a column vector is raveled with sklearn's warning."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)   # sklearn's DataConversionWarning
        if y.ndim != 1:
            raise ValueError(f"{self._owner()}: `y` must be 1-D, got shape {y.shape}.")
        try:
            check_classification_targets(y)
        except ValueError as exc:
            raise ValueError(f"{self._owner()}: `y` must hold class labels. {exc}") from None
        return y

    def _fit_labelled(self, X, y, *, partial, **fit_params):
        refit = not self.initialized_ or not (partial or self.warm_start)
        if y is not None:
            # Checked here, before the input pass, so a bad y fails at once.
            y = self._labels_1d(y)
        elif not isinstance(X, torch.utils.data.Dataset):
            raise ValueError(self._y_required_message())

        def targets(scan):
            if y is not None and len(y) != scan.n_samples:
                raise ValueError(f"{self._owner()}: `y` gives {len(y)} targets for "
                                 f"{scan.n_samples} samples in `X`; give one label per "
                                 "sample.")
            return self._encode_labels(y, scan.labels, refit=refit)

        return self._fit(X, targets, partial=partial, collect_labels=y is None, **fit_params)

    def fit(self, X, y=None, **fit_params):
        """Train on images ``X`` with labels ``y`` (re-initialises unless warm_start).

        Parameters
        ----------
        X : array-like of shape (N, C, H, W), (N, H, W) or (N, d), or torch Dataset
        y : array-like of shape (N,), optional if X is a Dataset of (image, label)

        Returns
        -------
        self
        """
        return self._fit_labelled(X, y, partial=False, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training for ``max_epochs`` epochs on ``X``, ``y``."""
        return self._fit_labelled(X, y, partial=True, **fit_params)

    def predict_proba(self, X):
        """Posterior class probabilities, shape ``(n_samples, n_classes)``."""
        with torch.random.fork_rng(devices=[]):   # as in transform
            return NeuralNetClassifier.predict_proba(self, self._inference_dataset(X))

    def predict(self, X):
        """Predicted class labels (values of ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

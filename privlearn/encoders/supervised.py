"""The supervised baseline: a backbone with a linear head, trained by cross-entropy."""

from __future__ import annotations

import math
import numbers
import warnings
from contextlib import contextmanager
from types import MethodType

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
    noise_multiplier : float or None, default=None
        DP-SGD (with ``max_grad_norm``; both or neither): the Gaussian noise's
        standard deviation relative to ``max_grad_norm``.  ``None``: ordinary
        training.
    max_grad_norm : float or None, default=None
        DP-SGD: every record's gradient is clipped to this L2 norm before the
        batch's gradients are summed and noised.
    target_delta : float, default=1e-5
        The δ of the (ε, δ) guarantee reported as ``epsilon_`` (choose it well
        below 1 / number of training records).
    warm_start, verbose, callbacks, module, criterion, **kwargs
        As for :class:`SimCLR` (``module=ClassifierNet``,
        ``criterion=torch.nn.CrossEntropyLoss``).

    Attributes
    ----------
    classes_ : ndarray
        The class labels (any sortable labels: ints, strings, ...).
    module_ : ClassifierNet
    input_spec_ : InputSpec
    epsilon_ : float
        DP-SGD only: the ε of the (ε, ``target_delta``)-differential-privacy
        guarantee of all training since the last (re)initialisation, from
        Opacus's RDP accountant.
    accountant_ : opacus.accountants.RDPAccountant
        DP-SGD only: the accountant (its ``history`` lists the steps taken).

    Notes
    -----
    Inputs follow the same rules as :class:`SimCLR`; a torch ``Dataset`` of
    ``(image, label)`` pairs may be passed without ``y``.  No augmentation is
    applied.

    **DP-SGD** (Abadi et al., 2016) with Opacus, when ``noise_multiplier`` and
    ``max_grad_norm`` are set: the network is made Opacus-compatible
    (``opacus.validators.ModuleValidator.fix``: BatchNorm, which mixes the
    records of a batch, becomes GroupNorm; in-place activations are turned off
    for Opacus's hooks).  During training only, the network is wrapped in
    Opacus's ``GradSampleModule`` (per-record gradients), the optimizer in its
    ``DPOptimizer`` (clip each record's gradient to ``max_grad_norm``, add
    Gaussian noise of standard deviation ``noise_multiplier · max_grad_norm``,
    average over the expected batch size) and the training loader in its
    ``DPDataLoader`` (Poisson sampling: each record joins each batch
    independently with probability ``batch_size / N``, so batch sizes vary, as
    the accountant's analysis assumes).  The fitted model holds the plain
    network and optimizer.  ``partial_fit`` and ``warm_start`` continue on the
    same accountant (the guarantee covers all the training).  The guarantee is
    record-level for the training set, and only for the network's weights: a
    head fitted afterwards on the same records without DP (say, a
    ``LogisticRegression`` on ``transform``) is not covered.  Mixed
    ``precision`` is refused with DP-SGD.

    Examples
    --------
    >>> import privlearn as pl
    >>> data = pl.datasets.load("digits", task="digit")
    >>> clf = pl.SupervisedClassifier(max_epochs=2, random_state=0)
    >>> clf.fit(data.images[:300], data.target[:300]).predict_proba(data.images[:2]).shape
    (2, 10)
    >>> clf.transform(data.images[:2]).shape
    (2, 128)
    >>> dp = pl.SupervisedClassifier(noise_multiplier=1.0, max_grad_norm=1.0,
    ...                              max_epochs=2, random_state=0)
    >>> dp.fit(data.images[:300], data.target[:300]).epsilon_ > 0
    True
    """

    def __init__(self, *, backbone="cnn", max_epochs=100, batch_size=256, lr=1e-3,
                 optimizer=torch.optim.Adam, device="cpu", precision=None,
                 channels_last=False, random_state=None, train_split=None, classes=None,
                 noise_multiplier=None, max_grad_norm=None, target_delta=1e-5,
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
        self.noise_multiplier = noise_multiplier
        self.max_grad_norm = max_grad_norm
        self.target_delta = target_delta

    def _module_kwargs(self):
        return {**super()._module_kwargs(), "n_classes": len(self.classes_)}

    # --- DP-SGD (Opacus) ------------------------------------------------------
    def _dp_enabled(self):
        return self.noise_multiplier is not None

    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        owner = self._owner()
        sigma, clip = self.noise_multiplier, self.max_grad_norm
        if (sigma is None) != (clip is None):
            raise ValueError(f"{owner}: DP-SGD needs both `noise_multiplier` and "
                             f"`max_grad_norm` (or neither), got noise_multiplier={sigma!r}"
                             f", max_grad_norm={clip!r}.")
        for name, value in (("noise_multiplier", sigma), ("max_grad_norm", clip)):
            if value is not None and (not isinstance(value, numbers.Real)
                                      or isinstance(value, bool)
                                      or not math.isfinite(value) or not value > 0):
                raise ValueError(f"{owner}: `{name}` must be None or a finite number > 0, "
                                 f"got {value!r}.")
        delta = self.target_delta
        if (not isinstance(delta, numbers.Real) or isinstance(delta, bool)
                or not 0 < delta < 1):
            raise ValueError(f"{owner}: `target_delta` must be a number in (0, 1), got "
                             f"{delta!r}.")
        if self._dp_enabled() and self.precision is not None:
            raise ValueError(f"{owner}: DP-SGD (noise_multiplier) runs in float32 only; set "
                             f"precision=None, got {self.precision!r}.")

    def initialize_module(self):
        super().initialize_module()
        if self._dp_enabled():
            from opacus.validators import ModuleValidator

            # BatchNorm mixes the records of a batch, so a record's gradient would
            # not be its own: Opacus's fix puts GroupNorm in its place.
            self.module_ = ModuleValidator.fix(self.module_)
            ModuleValidator.validate(self.module_, strict=True)
            # Opacus's backward hooks forbid in-place activations after a hooked layer.
            for layer in self.module_.modules():
                if getattr(layer, "inplace", False) is True:
                    layer.inplace = False
        return self

    def initialize_optimizer(self, *args, **kwargs):
        super().initialize_optimizer(*args, **kwargs)
        if self._dp_enabled():
            from opacus.accountants import RDPAccountant

            self.accountant_ = RDPAccountant()     # a new model: a new privacy budget
        else:                                       # DP switched off since a DP fit
            self.__dict__.pop("accountant_", None)
            self.__dict__.pop("epsilon_", None)
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        if not self._dp_enabled():
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        with _out_of_place_residuals(self.module_):
            return self._dp_fit_loop(X, y, epochs=epochs, **fit_params)

    def _dp_fit_loop(self, X, y=None, epochs=None, **fit_params):
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        # Opacus's wrappers live only while training: the fitted model keeps the
        # plain network and optimizer (picklable, cloneable), and partial_fit or
        # a warm start wraps them again and adds to the same accountant.
        module, optimizer = self.module_, self.optimizer_
        self.module_ = GradSampleModule(module, loss_reduction="mean")
        self.optimizer_ = DPOptimizer(
            optimizer, noise_multiplier=float(self.noise_multiplier),
            max_grad_norm=float(self.max_grad_norm), expected_batch_size=self.batch_size,
            loss_reduction="mean")
        try:
            with warnings.catch_warnings():
                # The first layer's input needs no gradient; torch says so every batch.
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                super().fit_loop(X, y, epochs=epochs, **fit_params)
        finally:
            self.module_.to_standard_module()
            self.module_, self.optimizer_ = module, optimizer
        self.epsilon_ = _epsilon(self.accountant_, self.target_delta,
                                 len(X) if hasattr(X, "__len__") else 0, owner=self._owner())
        return self

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if training and self._dp_enabled():
            from opacus.data_loader import DPDataLoader

            # Poisson sampling at rate batch_size / N (the loader's 1 / len).
            iterator = DPDataLoader.from_data_loader(iterator)
            self.optimizer_.attach_step_hook(
                self.accountant_.get_optimizer_hook_fn(sample_rate=iterator.sample_rate))
        return iterator

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


def _epsilon(accountant, delta, n_records, *, owner):
    """The accountant's ε at ``delta``, never below 0.

    The RDP → (ε, δ) conversion can return a negative number when δ is large; a
    mechanism that is (ε, δ)-DP for some ε < 0 is also (0, δ)-DP, so 0 is the true
    bound.  A δ of 1/n or more allows releasing a record in the clear, and is said.
    """
    if n_records and delta >= 1.0 / n_records:
        warnings.warn(f"{owner}: target_delta={delta!r} is at least 1/n = 1/{n_records}: a "
                      "(ε, δ) guarantee with δ ≥ 1/n allows publishing a record outright, "
                      "so ε_ promises little; choose δ well below 1/n.", UserWarning,
                      stacklevel=3)
    return max(0.0, float(accountant.get_epsilon(delta=delta)))


def _residual_forward(block, x):
    """torchvision's BasicBlock / Bottleneck forward with ``out + identity`` instead
    of ``out += identity``: the same numbers, but no in-place change of a hooked
    layer's output, which Opacus's per-sample-gradient hooks forbid.  Written by hand
    because torchvision has no option for it and Opacus has no replacement block."""
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.bn2(block.conv2(out))
    if hasattr(block, "conv3"):                           # Bottleneck
        out = block.bn3(block.conv3(block.relu(out)))
    identity = x if block.downsample is None else block.downsample(x)
    return block.relu(out + identity)


@contextmanager
def _out_of_place_residuals(module):
    """While DP-SGD trains: every torchvision residual block of ``module`` runs
    :func:`_residual_forward` (an instance attribute, removed afterwards, so the
    fitted network and its pickles are torchvision's own)."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    blocks = [m for m in module.modules() if type(m) in (BasicBlock, Bottleneck)]
    for block in blocks:
        block.forward = MethodType(_residual_forward, block)
    try:
        yield
    finally:
        for block in blocks:
            del block.forward

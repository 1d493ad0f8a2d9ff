"""The models the paper studies, as skorch estimators.

- :class:`SimCLR`: a contrastive encoder (a transformer: ``fit(X)`` trains it
  without labels, ``transform(X)`` returns the representations h = f(x)).
- :class:`SupervisedClassifier`: the supervised baseline with the same
  backbones (``predict_proba`` gives posteriors, ``transform`` the penultimate
  representation).
- :class:`InitFromEncoder`: a skorch callback that starts a fit from another
  fitted encoder's weights (pre-training).

Both estimators take raw images (see :mod:`privlearn._images` for the accepted
inputs), fit their input normalisation in ``fit``, and make every fit
reproducible on CPU through ``random_state`` without touching the caller's
global random state.
"""

from __future__ import annotations

import copy
import math
import numbers
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from sklearn.utils.metaestimators import available_if
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import Callback, EpochScoring
from skorch.dataset import unpack_data
from torch.utils.data import DataLoader

from ._images import ImageDataset, as_input, scan_inputs, to_float_batch
from .augment import FeatureAugment, SimCLRAugment
from .backbones import BACKBONES, ClassifierNet, ContrastiveNet
from .losses import NTXentLoss

__all__ = ["SimCLR", "SupervisedClassifier", "InitFromEncoder"]

#: ``precision`` values and the autocast dtype they select.
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _float32(output):
    """Floating tensors of a module's output (a tensor or a tuple) as float32.

    Outputs computed under autocast are bf16/fp16; losses and heads computed
    after the forward pass (NT-Xent, Talos's adversary) then run in float32.
    A no-op for float32 outputs.
    """
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, (tuple, list)):
        return type(output)(_float32(part) for part in output)
    return output


class _ImageEstimatorMixin:
    """What both estimators share: checks, seeding, input handling, ``transform``.

    Attributes set here end with ``_``: skorch's ``get_params`` returns every
    other instance attribute as a constructor parameter.
    """

    # Pickled through torch so that a model trained on a GPU loads on a CPU.
    cuda_dependent_attributes_ = [*NeuralNet.cuda_dependent_attributes_, "grad_scaler_"]

    def _owner(self):
        return type(self).__name__

    # --- the sklearn contract on top of skorch ---------------------------------
    def _get_param_names(self):
        # skorch lists its private bookkeeping set `_params_to_validate` among
        # the parameters (it does not end in "_"); it is not one, and clone
        # rebuilds it from the parameters it passes.
        return [name for name in super()._get_param_names()
                if name != "_params_to_validate"]

    def set_params(self, **params):
        # skorch builds the callbacks as soon as `callbacks` is set; before the
        # first fit they are only stored, and checked by fit like every
        # parameter (so set_params never fails on a value).
        if ("callbacks" in params and not self.initialized_
                and not any(key.startswith("callbacks__") for key in params)):
            self.callbacks = params.pop("callbacks")
            self.__dict__.pop("callbacks_", None)
            if not params:
                return self
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Representations and posteriors are float32 whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # --- checks -------------------------------------------------------------
    def _check_hyperparameters(self):
        owner = self._owner()
        if self.backbone not in BACKBONES:
            raise ValueError(f"{owner}: unknown `backbone` {self.backbone!r}; valid backbones "
                             f"are {', '.join(map(repr, BACKBONES))}.")
        if not _is_int(self.batch_size) or self.batch_size < 2:
            raise ValueError(f"{owner}: `batch_size` must be an integer >= 2, got "
                             f"{self.batch_size!r}.")
        if not _is_int(self.max_epochs) or self.max_epochs < 0:
            raise ValueError(f"{owner}: `max_epochs` must be an integer >= 0, got "
                             f"{self.max_epochs!r}.")
        if (not isinstance(self.lr, numbers.Real) or isinstance(self.lr, bool)
                or not self.lr > 0):
            raise ValueError(f"{owner}: `lr` must be a positive number, got {self.lr!r}.")
        state = self.random_state
        if not (state is None or isinstance(state, np.random.RandomState)
                or (_is_int(state) and 0 <= state < 2**32)):
            raise ValueError(f"{owner}: `random_state` must be None, an integer in "
                             f"[0, 2**32) or a numpy RandomState, got {state!r}.")
        self._check_device_options()

    def _check_device_options(self):
        owner = self._owner()
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"{owner}: `precision` must be None, 'bf16' or 'fp16', got "
                             f"{self.precision!r}.")
        if not isinstance(self.channels_last, bool):
            raise ValueError(f"{owner}: `channels_last` must be True or False, got "
                             f"{self.channels_last!r}.")
        if self.device is None:
            return
        try:
            device = torch.device(self.device)
        except (TypeError, RuntimeError) as exc:
            raise ValueError(f"{owner}: `device` must be a torch device such as 'cpu' or "
                             f"'cuda', got {self.device!r}.") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"{owner}: `device` is {self.device!r} but CUDA is not "
                             "available on this machine; use device='cpu'.")

    def _seed(self):
        """The torch seed for ``random_state`` (drawn from it if a RandomState), or None."""
        state = self.random_state
        if state is None or _is_int(state):
            return state
        return int(state.randint(np.iinfo(np.int32).max))

    @contextmanager
    def _random_context(self):
        """Seed torch from ``random_state`` inside, restore the caller's RNG after.

        Everything random in a fit -- weight initialisation, shuffling (the
        DataLoader draws its sampler's seed from the global generator) and the
        augmentations -- draws from the forked generators, so the same seed gives
        the same model and the caller's random state is left as it was.  (No
        separate DataLoader generator is needed for that.)
        """
        seed = self._seed()
        if seed is None:
            yield
            return
        device = self._compute_device()
        cuda = []
        if device.type == "cuda":
            cuda = [device.index if device.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=cuda):
            torch.random.default_generator.manual_seed(seed)
            for index in cuda:
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
            yield

    def _check_input(self, X, *, argument="X", fitting=False, collect_labels=False):
        """Check ``X`` in one batch-wise pass; return ``(data, scan)``.

        When fitting, the scan also computes the normalisation statistics; when
        not, the inputs must have the shape the model was fitted on.
        """
        data, kind = as_input(X, argument=argument, owner=self._owner())
        expected = None if fitting else self.input_spec_
        # A DataLoader over a Dataset draws a seed from the global generator;
        # the check must not shift the random numbers training will use.
        with torch.random.fork_rng(devices=[]):
            scan = scan_inputs(data, kind, statistics=fitting, collect_labels=collect_labels,
                               batch_size=self.batch_size, expected=expected,
                               owner=self._owner(), argument=argument)
        return data, scan

    # --- device, mixed precision, memory format ------------------------------
    def _network(self):
        """``module_`` itself (a distributed wrapper's inner network in subclasses)."""
        return self.module_

    def _compute_device(self):
        """The device batches and helper modules go to: ``device`` (or the CPU)."""
        return torch.device("cpu" if self.device is None else self.device)

    def _autocast(self):
        """Context of every forward pass: ``torch.autocast`` at ``precision``."""
        if self.precision is None:
            return nullcontext()
        return torch.autocast(self._compute_device().type, dtype=PRECISIONS[self.precision])

    def backward(self, loss):
        """Backpropagate ``loss``; with ``precision="fp16"`` through the GradScaler.

        Subclasses that write their own ``train_step`` call this instead of
        ``loss.backward()`` and :meth:`optimizer_step` instead of
        ``optimizer.step()``, and so inherit loss scaling (and accelerate's
        backward in :mod:`privlearn.distributed`).
        """
        scaler = getattr(self, "grad_scaler_", None)
        (loss if scaler is None else scaler.scale(loss)).backward()

    def optimizer_step(self, *optimizers):
        """Step ``optimizers`` (skipping steps with inf/NaN gradients under fp16)."""
        scaler = getattr(self, "grad_scaler_", None)
        for optimizer in optimizers:
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)
        if scaler is not None:
            scaler.update()

    def _step_optimizer(self, step_fn):
        if getattr(self, "grad_scaler_", None) is None:
            return super()._step_optimizer(step_fn)
        # GradScaler.step takes no closure: run the step, then step every optimizer.
        step_fn()
        return self.optimizer_step(*(getattr(self, name + "_") for name in self._optimizers))

    def initialize_optimizer(self, *args, **kwargs):
        super().initialize_optimizer(*args, **kwargs)
        # fp16 needs loss scaling against gradient underflow; bf16 does not.
        self.grad_scaler_ = (torch.amp.GradScaler(self._compute_device().type)
                             if self.precision == "fp16" else None)
        return self

    # --- skorch hooks -------------------------------------------------------
    def _module_kwargs(self):
        spec = getattr(self, "input_spec_", None)
        if spec is None:
            raise ValueError(f"{self._owner()}: the network's input shape is set by fit; "
                             "call fit (max_epochs=0 only initialises) instead of "
                             "initialize().")
        return {"backbone": self.backbone, "input_shape": spec.shape,
                "statistics_shape": spec.statistics_shape}

    def initialize_module(self):
        kwargs = {**self._module_kwargs(), **self.get_params_for("module")}
        self.module_ = self.initialized_instance(self.module, kwargs)
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def check_data(self, X, y=None):
        # Inputs are checked (and labels encoded) before training starts.
        pass

    def prepare_batch(self, Xi):
        """A batch of raw inputs as float32 on ``device`` (uint8 scaled to [0, 1]).

        With ``channels_last=True``, image batches come in that memory format.
        """
        x = to_float_batch(Xi, self._compute_device())
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def infer(self, x, **fit_params):
        """The module's forward pass under :meth:`_autocast`; float32 outputs."""
        with self._autocast():
            output = self.module_(self.prepare_batch(x), **fit_params)
        return _float32(output)

    def train_step_single(self, batch, **fit_params):
        # skorch's, with ``self.backward`` (loss scaling) instead of loss.backward().
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self.backward(loss)
        return {"loss": loss, "y_pred": y_pred}

    def get_dataset(self, X, y=None):
        """Wrap checked inputs (array or user Dataset) into ``(image, target)`` samples."""
        if isinstance(X, ImageDataset):
            return X
        return self.dataset(X, y, **self.get_params_for("dataset"))

    # --- fitting ------------------------------------------------------------
    def _fit(self, X, targets=None, *, partial=False, collect_labels=False, **fit_params):
        """Check everything, (re)initialise when due, then train.

        ``targets`` (one per sample, or a callable mapping the scan to them) are
        batched with the images and arrive as ``yi`` in each training batch.
        """
        self._check_hyperparameters()
        with self._random_context():
            data, scan = self._check_input(X, fitting=True, collect_labels=collect_labels)
            if scan.n_samples < 2:
                raise ValueError(f"{self._owner()}: `X` holds 1 sample; training needs at "
                                 "least 2 (contrastive negatives, batch statistics).")
            reinitialize = not self.initialized_ or not (partial or self.warm_start)
            if not reinitialize:
                self._check_continuation(scan.spec)
            if callable(targets):
                targets = targets(scan)
            if targets is not None and len(targets) != scan.n_samples:
                raise ValueError(f"{self._owner()}: got {len(targets)} targets for "
                                 f"{scan.n_samples} samples in X.")
            self.input_spec_ = scan.spec
            if scan.spec.kind == "features":
                self.n_features_in_ = scan.spec.shape[-1]
            elif hasattr(self, "n_features_in_"):
                del self.n_features_in_
            if reinitialize:
                self.initialize()
                self._network().normalize.set_statistics(scan.mean, scan.std)
            else:
                # Parameters such as `temperature` may have changed since.
                self._initialize_criterion()
            dataset = self.get_dataset(data, targets)
            NeuralNet.partial_fit(self, dataset, targets,
                                  _routing_method="partial_fit" if partial else "fit",
                                  **fit_params)
        return self

    def _check_continuation(self, spec):
        fitted = self.input_spec_
        same_channels = spec.kind == fitted.kind and spec.shape[0] == fitted.shape[0]
        if spec.kind == fitted.kind == "features" and spec != fitted:
            raise ValueError(f"{self._owner()}: X has {spec.shape[-1]} features, but "
                             f"{self._owner()} is expecting {fitted.shape[-1]} features as "
                             "input (training continues on the same features).")
        if not same_channels:
            raise ValueError(f"{self._owner()}: cannot continue training a model fitted on "
                             f"{fitted.describe()} with {spec.describe()}: the number of "
                             "channels (or features) must match.")

    # --- inference ----------------------------------------------------------
    def _inference_dataset(self, X):
        self.check_is_fitted()
        data, _ = self._check_input(X)
        return self.get_dataset(data)

    def transform(self, X):
        """Representations h = f(x) of ``X``, before any head.

        Parameters
        ----------
        X : array-like or torch Dataset
            Inputs of the shape the model was fitted on.

        Returns
        -------
        H : ndarray of shape (n_samples, n_features_out)
        """
        outputs = []
        # Every DataLoader iteration draws a seed from the global generator.
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            dataset = self._inference_dataset(X)
            self._set_training(False)
            for Xi, _ in self.get_iterator(dataset, training=False):
                outputs.append(self._encode_batch(Xi).cpu())
        return torch.cat(outputs).numpy()

    def _encode_batch(self, Xi):
        """h = f(x) of one batch of raw inputs, in float32."""
        with self._autocast():
            return _float32(self._network().encode(self.prepare_batch(Xi)))

    @property
    def _n_features_out(self):
        """Size of the representation (for ``get_feature_names_out``)."""
        return self._network().feature_dim


def _split_augment_params(params):
    augment = {k: v for k, v in params.items() if k == "augment" or k.startswith("augment__")}
    rest = {k: v for k, v in params.items() if k not in augment}
    return augment, rest


def _no_predictions(estimator):
    raise AttributeError(
        f"{type(estimator).__name__} is a transformer and makes no predictions: use "
        "transform(X) for the representations, or a pipeline with a classifier.")


class SimCLR(_ImageEstimatorMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
             NeuralNet):
    """SimCLR contrastive encoder (Chen et al., 2020) as a scikit-learn transformer.

    ``fit(X)`` trains a base encoder f and a projection head g so that the two
    augmented views of each image are close under NT-Xent and far from the
    other images' views; labels are ignored.  ``transform(X)`` returns h = f(x),
    the representation before the projection head.

    Parameters
    ----------
    backbone : {"cnn", "resnet18", "resnet50", "mobilenet_v2"}, default="cnn"
        Base encoder; see :func:`privlearn.backbones.make_backbone`.  Images at
        most 64 px on a side get the small-image stem.
    projection_dim : int, default=128
        Output size of the two-layer projection head.
    temperature : float, default=0.5
        NT-Xent temperature τ.
    max_epochs : int, default=100
    batch_size : int, default=256
        Images per step; each step sees ``2 × batch_size`` views.
    lr : float, default=1e-3
    optimizer : torch optimizer class, default=torch.optim.Adam
        Its arguments can be set with ``optimizer__*``.
    augment : nn.Module class, default=SimCLRAugment
        Batched augmentation; set its arguments with ``augment__*``, e.g.
        ``augment__crop_scale=(0.2, 1.0)``, ``augment__blur_prob=0.5``.  Flat
        ``N×d`` feature inputs use :class:`privlearn.augment.FeatureAugment`
        instead of the default image augmentation.
    device : str, default="cpu"
        Where the network, the batches, the augmentation and the loss live,
        e.g. ``"cuda"`` or ``"cuda:1"`` (see :doc:`/scaling`).
    precision : {None, "bf16", "fp16"}, default=None
        Mixed precision: forward passes run under ``torch.autocast`` with this
        dtype (losses in float32); ``"fp16"`` adds a ``torch.amp.GradScaler``.
        ``"bf16"`` suits recent GPUs (and works on CPU); None is float32.
    channels_last : bool, default=False
        Keep the network's weights and the image batches in the
        ``torch.channels_last`` memory format (faster convolutions on GPUs with
        tensor cores, especially with ``precision``).
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, shuffling and augmentation; with it, two
        fits on CPU give identical models.  The caller's global torch random
        state is not changed.
    train_split : callable or None, default=None
        skorch's internal validation split (None: train on all of X).
    warm_start : bool, default=False
        If True, ``fit`` continues training the current weights (also on
        another data set with the same number of channels, e.g. pre-training on
        one set and continuing on another).  ``partial_fit`` always continues.
    verbose : int, default=0
        1 prints skorch's epoch table.
    callbacks : list or None, default=None
        skorch callbacks, e.g. ``Checkpoint``, ``LoadInitState``, ``ProgressBar``,
        :class:`InitFromEncoder`.
    module, criterion : default=ContrastiveNet, NTXentLoss
        The network and loss classes; set their extra arguments with
        ``module__*`` and ``criterion__*``.
    **kwargs
        Other skorch parameters (``iterator_train__*``, ``iterator_valid__*``,
        ``compile``, ...).  Training batches are shuffled
        (``iterator_train__shuffle=True``) unless told otherwise.

    Attributes
    ----------
    module_ : ContrastiveNet
        The trained network: ``module_.normalize`` (fitted per-channel mean and
        std), ``module_.backbone`` (f), ``module_.projector`` (g).
    input_spec_ : InputSpec
        Kind and per-sample shape of the inputs the model was fitted on.
    history_ : skorch History
        Per-epoch ``train_loss`` and timing.
    grad_scaler_ : torch.amp.GradScaler or None
        The loss scaler when ``precision="fp16"``.

    Notes
    -----
    Inputs: NumPy arrays or tensors of raw images -- ``uint8`` 0–255 or float
    0–1, ``N×C×H×W`` or ``N×H×W`` -- or a torch ``Dataset`` of images or
    ``(image, label)`` pairs.  Float images far outside [0, 1] raise a
    ``ValueError`` (they look pre-normalised): normalisation is fitted here,
    per channel, in ``fit``.  2-D ``N×d`` arrays are flat features, fed to the
    network as ``1×1×d`` images and standardised per feature.  ``uint8``
    arrays stay ``uint8`` in memory and are converted batch by batch on the
    device.  With ``warm_start``, later fits keep the first fit's normalisation
    (the weights were learned with it).

    Pre-training: either fit one encoder with ``warm_start=True`` on one data set
    and then on another, or start a new estimator (SimCLR, Talos or
    SupervisedClassifier) from a fitted one with
    ``callbacks=[InitFromEncoder(fitted)]``.

    Extending (e.g. Talos): a training step is ``train_step_single(batch)`` →
    :meth:`contrastive_step` → :meth:`prepare_batch` (raw batch → float on the
    device) → :meth:`make_views` (two augmented views) → ``infer`` (the module's
    ``forward`` returns ``(h, z)`` for the ``2N`` concatenated views) →
    :meth:`get_loss` ``(y_pred=(h, z), y_true=yi, X=x, training)``.  Per-sample side
    information (e.g. sensitive attributes) passed as ``targets`` to
    ``_fit(X, targets, partial=...)`` arrives as ``yi`` in every batch.  Extra
    networks go in ``initialize_module`` (after ``super().initialize_module()``;
    ``module_.feature_dim`` is the size of h), extra optimizers in
    ``initialize_optimizer``.  Name new attributes with a trailing underscore.
    A subclass that replaces ``train_step`` should call ``self.backward(loss)``
    and ``self.optimizer_step(optimizer)`` rather than ``loss.backward()`` and
    ``optimizer.step()``, so that fp16 loss scaling and
    :mod:`privlearn.distributed`'s accelerate backend reach it; forward passes
    through :meth:`contrastive_step` already run under the chosen precision.

    Examples
    --------
    >>> import privlearn as pl
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> data = pl.datasets.load("digits", task="digit")
    >>> encoder = pl.SimCLR(max_epochs=1, batch_size=128, random_state=0)
    >>> model = make_pipeline(encoder, LogisticRegression(max_iter=200))
    >>> model.fit(data.images[:256], data.target[:256]).predict(data.images[:3]).shape
    (3,)
    >>> encoder.transform(data.images[:5]).shape
    (5, 128)
    """

    prefixes_ = [*NeuralNet.prefixes_, "augment"]

    def __init__(self, *, backbone="cnn", projection_dim=128, temperature=0.5,
                 max_epochs=100, batch_size=256, lr=1e-3, optimizer=torch.optim.Adam,
                 augment=SimCLRAugment, device="cpu", precision=None, channels_last=False,
                 random_state=None, train_split=None,
                 warm_start=False, verbose=0, callbacks=None, module=ContrastiveNet,
                 criterion=NTXentLoss, iterator_train=DataLoader,
                 iterator_valid=DataLoader, dataset=ImageDataset, **kwargs):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(module, criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size,
                         iterator_train=iterator_train, iterator_valid=iterator_valid,
                         dataset=dataset, train_split=train_split, callbacks=callbacks,
                         warm_start=warm_start, verbose=verbose, device=device, **kwargs)
        self.backbone = backbone
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.augment = augment
        self.precision = precision
        self.channels_last = channels_last
        self.random_state = random_state

    # --- checks and initialisation -----------------------------------------
    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        t = self.temperature
        if (not isinstance(t, numbers.Real) or isinstance(t, bool) or not math.isfinite(t)
                or t <= 0):
            raise ValueError(f"{self._owner()}: `temperature` must be a positive number, "
                             f"got {t!r}.")
        if not _is_int(self.projection_dim) or self.projection_dim < 1:
            raise ValueError(f"{self._owner()}: `projection_dim` must be a positive integer, "
                             f"got {self.projection_dim!r}.")

    def _module_kwargs(self):
        return {**super()._module_kwargs(), "projection_dim": self.projection_dim}

    def initialize_module(self):
        super().initialize_module()
        self.augment_ = self._make_augment()
        return self

    def _make_augment(self):
        cls, kwargs = self.augment, self.get_params_for("augment")
        if self.input_spec_.kind == "features" and cls is SimCLRAugment:
            cls, kwargs = FeatureAugment, {}
        try:
            augment = self.initialized_instance(cls, kwargs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self._owner()}: invalid `augment` / `augment__*` parameters: "
                             f"{exc}") from exc
        return augment.to(self._compute_device())

    def initialize_criterion(self):
        kwargs = {"temperature": self.temperature, **self.get_params_for("criterion")}
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def set_params(self, **params):
        # skorch re-initialises only modules and criteria for prefixed
        # parameters; the augmentation has no weights and is rebuilt here.
        augment, rest = _split_augment_params(params)
        for key, value in augment.items():
            setattr(self, key, value)
            if key != "augment":
                self._params_to_validate.add(key)
        if augment and self.initialized_:
            self.augment_ = self._make_augment()
        if rest or not augment:
            super().set_params(**rest)
        return self

    # skorch's generic predict/predict_proba would return projections; hide them
    # so that code asking ``hasattr(model, "predict_proba")`` is told the truth.
    @available_if(_no_predictions)
    def predict(self, X):  # pragma: no cover - never available
        raise NotImplementedError

    @available_if(_no_predictions)
    def predict_proba(self, X):  # pragma: no cover - never available
        raise NotImplementedError

    # --- training -----------------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Train the encoder on ``X`` by contrastive learning; ``y`` is ignored.

        Re-initialises the network unless ``warm_start=True``.  All inputs and
        parameters are checked before training starts.

        Parameters
        ----------
        X : array-like of shape (N, C, H, W), (N, H, W) or (N, d), or torch Dataset
        y : ignored
        **fit_params
            Passed to the module's ``forward``.

        Returns
        -------
        self
        """
        return self._fit(X, None, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training on ``X`` for ``max_epochs`` epochs (``y`` ignored)."""
        return self._fit(X, None, partial=True, **fit_params)

    def make_views(self, x):
        """Two independently augmented views of a float batch ``x``.

        Both views come from one call on the doubled batch, so every image in
        it gets its own random parameters.
        """
        views = self.augment_(torch.cat([x, x]))
        return views.chunk(2)

    def contrastive_step(self, batch, training=True, **fit_params):
        """Views → ``(h, z)`` → loss for one batch; returns ``{"loss", "y_pred"}``."""
        Xi, yi = unpack_data(batch)
        x = self.prepare_batch(Xi)
        view1, view2 = self.make_views(x)
        y_pred = self.infer(torch.cat([view1, view2]), **fit_params)
        loss = self.get_loss(y_pred, yi, X=x, training=training)
        return {"loss": loss, "y_pred": y_pred}

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        step = self.contrastive_step(batch, training=True, **fit_params)
        self.backward(step["loss"])
        return step

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        with torch.no_grad():
            return self.contrastive_step(batch, training=False, **fit_params)

    def get_loss(self, y_pred, y_true=None, X=None, training=False):
        """NT-Xent of the projections: ``y_pred = (h, z)`` for views ``[v1; v2]``."""
        _, z = y_pred
        z1, z2 = z.chunk(2)
        return self.criterion_(z1, z2)


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


class InitFromEncoder(Callback):
    """skorch callback: start training from another fitted encoder's weights.

    At the first training start after each (re-)initialisation, copies the base
    encoder f and the input normalisation of ``encoder`` (a fitted
    :class:`SimCLR`, Talos or :class:`SupervisedClassifier` with the same
    backbone and number of input channels) into the net; heads stay freshly
    initialised.  ``clone`` keeps the reference to the fitted ``encoder`` (as
    :class:`sklearn.frozen.FrozenEstimator` does), so the callback survives
    ``GridSearchCV`` and ``cross_val_score``.

    Parameters
    ----------
    encoder : fitted estimator with a ``module_`` holding ``backbone`` and
        ``normalize``

    Examples
    --------
    >>> import privlearn as pl
    >>> from privlearn.encoders import InitFromEncoder
    >>> images = pl.datasets.load("digits").images[:128]
    >>> pretrained = pl.SimCLR(max_epochs=1, random_state=0).fit(images)
    >>> finetuned = pl.SimCLR(max_epochs=1, callbacks=[InitFromEncoder(pretrained)])
    >>> finetuned.fit(images).transform(images[:2]).shape
    (2, 128)
    """

    def __init__(self, encoder):
        self.encoder = encoder

    def __sklearn_clone__(self):
        return type(self)(self.encoder)

    def initialize(self):
        self.done_ = False
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if self.done_:
            return
        source = getattr(self.encoder, "module_", None)
        if source is None:
            raise ValueError("InitFromEncoder: `encoder` must be a fitted encoder; "
                             f"{type(self.encoder).__name__} is not fitted.")
        for part in ("backbone", "normalize"):
            state = copy.deepcopy(getattr(source, part).state_dict())
            try:
                getattr(net._network(), part).load_state_dict(state)
            except RuntimeError as exc:
                raise ValueError(f"InitFromEncoder: the encoder's {part} does not fit the "
                                 f"net's (same backbone and input channels needed): {exc}") from exc
        self.done_ = True

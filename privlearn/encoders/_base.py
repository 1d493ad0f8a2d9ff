"""The image-estimator base every privlearn network estimator shares.

:class:`_ImageEstimatorMixin` holds what the encoders and the supervised model
have in common: hyperparameter and device checks, seeding through
``random_state`` without touching the caller's global random state, input
checks, mixed precision, ``fit``'s (re)initialisation logic and ``transform``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data

from .._checks import is_int as _is_int  # the one integer check (re-exported)
from .._images import ImageDataset, as_input, scan_inputs, to_float_batch
from ..backbones import BACKBONES

__all__ = ["PRECISIONS"]

#: ``precision`` values and the autocast dtype they select.
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16}




def check_finite_hyperparameter(owner, name, value):
    """Refuse a non-finite real hyperparameter, and a learning rate that is not > 0.

    The one check behind every real-valued parameter of the network estimators
    (``lr``, ``optimizer__*``, ``adversary__lr``, ``augment__*``, …): NaN or
    infinity there trains a NaN model without a word.
    """
    is_lr = name == "lr" or name.endswith("__lr")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if is_lr:                       # torch would take False as 0: no training
            raise ValueError(f"{owner}: `{name}` must be a positive number, got {value!r}.")
        return
    if not math.isfinite(value):
        raise ValueError(f"{owner}: `{name}` must be a finite number, got {value!r}.")
    if is_lr and not value > 0:
        raise ValueError(f"{owner}: `{name}` must be a positive number, got {value!r}.")


def _is_callback(value):
    return isinstance(value, Callback) or (isinstance(value, type)
                                           and issubclass(value, Callback))


def _check_skorch_parameters(estimator, owner):
    """skorch-level parameters of the right kind, checked before anything is built.

    skorch itself would fail later with "'str' object is not callable" or
    "can only concatenate list (not 'str') to list".
    """
    optimizer = estimator.optimizer
    if isinstance(optimizer, torch.optim.Optimizer) or not callable(optimizer):
        got = (f"an instance of {type(optimizer).__name__}"
               if isinstance(optimizer, torch.optim.Optimizer) else f"{optimizer!r:.60}")
        raise TypeError(f"{owner}: `optimizer` must be a torch optimizer class such as "
                        f"torch.optim.Adam (not an instance, not a name), got {got}.")
    for name in ("iterator_train", "iterator_valid", "dataset"):
        if not callable(getattr(estimator, name)):
            raise TypeError(f"{owner}: `{name}` must be a class or callable (such as "
                            f"torch.utils.data.DataLoader), got {getattr(estimator, name)!r:.60}.")
    for name in ("module", "criterion"):
        value = getattr(estimator, name, None)
        if value is not None and not (callable(value) or isinstance(value, torch.nn.Module)):
            raise TypeError(f"{owner}: `{name}` must be None, a torch module class or "
                            f"instance, got {value!r:.60}.")
    split = estimator.train_split
    if split is not None and not callable(split):
        raise TypeError(f"{owner}: `train_split` must be None or a callable such as "
                        f"skorch.dataset.ValidSplit(0.2), got {split!r:.60}.")
    callbacks = estimator.callbacks
    if not (callbacks is None or callbacks == "disable"):
        ok = isinstance(callbacks, (list, tuple)) and all(
            _is_callback(cb) or (isinstance(cb, tuple) and len(cb) == 2
                                 and isinstance(cb[0], str) and _is_callback(cb[1]))
            for cb in callbacks)
        if not ok:
            raise TypeError(f"{owner}: `callbacks` must be None, 'disable' or a list of "
                            "skorch callbacks (or (name, callback) pairs), got "
                            f"{callbacks!r:.80}.")
    if not isinstance(estimator.warm_start, (bool, np.bool_)):
        raise TypeError(f"{owner}: `warm_start` must be True or False, got "
                        f"{estimator.warm_start!r}.")
    if not isinstance(estimator.verbose, numbers.Integral):
        raise TypeError(f"{owner}: `verbose` must be an integer, got {estimator.verbose!r}.")
    for prefix in ("iterator_train", "iterator_valid"):
        params = estimator.get_params_for(prefix)
        size = params.get("batch_size")
        if size is not None and not (_is_int(size) and (size >= 1 or size == -1)):
            raise ValueError(f"{owner}: `{prefix}__batch_size` must be an integer >= 1 (or "
                             f"-1 for the whole data set), got {size!r}.")
        if not isinstance(params.get("drop_last", False), (bool, np.bool_)):
            raise TypeError(f"{owner}: `{prefix}__drop_last` must be True or False, got "
                            f"{params['drop_last']!r}.")


def _training_batches(estimator, n_samples):
    """``(batch_size, drop_last, number of batches)`` of an epoch over ``n_samples``."""
    params = estimator.get_params_for("iterator_train")
    size = params.get("batch_size", estimator.batch_size)
    size = n_samples if size == -1 else size
    drop_last = bool(params.get("drop_last", False))
    return size, drop_last, (n_samples // size if drop_last else -(-n_samples // size))


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
        for name, value in self.get_params(deep=False).items():
            check_finite_hyperparameter(owner, name, value)
        _check_skorch_parameters(self, owner)
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

    def _check_input(self, X, *, argument="X", fitting=False, collect_labels=False,
                     any_size=False):
        """Check ``X`` in one batch-wise pass; return ``(data, scan)``.

        When fitting, the scan also computes the normalisation statistics; when
        not, the inputs must have the shape the model was fitted on (with
        ``any_size``, only its number of channels: images of any height and width).
        """
        data, kind = as_input(X, argument=argument, owner=self._owner())
        expected = None if fitting else self.input_spec_
        # A DataLoader over a Dataset draws a seed from the global generator;
        # the check must not shift the random numbers training will use.
        with torch.random.fork_rng(devices=[]):
            scan = scan_inputs(data, kind, statistics=fitting, collect_labels=collect_labels,
                               batch_size=self.batch_size, expected=expected,
                               owner=self._owner(), argument=argument,
                               any_size=any_size)
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

    def _module_class(self):
        """The network class (or instance) to build: ``module``."""
        return self.module

    def initialize_module(self):
        kwargs = {**self._module_kwargs(), **self.get_params_for("module")}
        module = self._module_class()
        try:
            self.module_ = self.initialized_instance(module, kwargs)
        except TypeError as exc:
            if isinstance(module, torch.nn.Module):
                raise
            raise TypeError(f"{self._owner()}: `module` {getattr(module, '__name__', module)!r} "
                            f"must accept the keyword arguments {sorted(kwargs)} (the "
                            "backbone and input shape privlearn passes, plus module__*): "
                            f"{exc}") from exc
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

    def _check_epoch_has_batches(self, n_samples):
        size, drop_last, n_batches = _training_batches(self, n_samples)
        if n_batches == 0:
            raise ValueError(
                f"{self._owner()}: an epoch over the {n_samples} training samples would "
                f"have no batch (batch_size={size} with drop_last=True), so nothing would "
                "train; use a batch_size <= the number of samples or drop_last=False.")

    def _has_batchnorm(self):
        return any(isinstance(layer, torch.nn.modules.batchnorm._BatchNorm)
                   for layer in self.module_.modules())

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; in training, never an empty epoch or a 1-sample batch.

        A last batch of one sample makes BatchNorm fail mid-epoch ("Expected more
        than 1 value per channel"); for networks with BatchNorm it is dropped,
        with a warning (shuffling drops a different sample each epoch).
        """
        if not training:
            return super().get_iterator(dataset, training=False)
        n_samples = len(dataset)
        self._check_epoch_has_batches(n_samples)          # after a train_split
        size, drop_last, _ = _training_batches(self, n_samples)
        if not drop_last and n_samples % size == 1 and n_samples > 1 \
                and self._has_batchnorm():
            warnings.warn(
                f"{self._owner()}: the last batch of each epoch would hold 1 of the "
                f"{n_samples} training samples (batch_size={size}), on which BatchNorm "
                "cannot train; it is dropped (a different sample each epoch when "
                "shuffling). Choose a batch_size that does not leave 1 sample over to "
                "avoid this.", UserWarning, stacklevel=2)
            kwargs = {**self.get_params_for("iterator_train"), "batch_size": size,
                      "drop_last": True}
            return self.iterator_train(dataset, **kwargs)
        return super().get_iterator(dataset, training=True)

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
            if self.train_split is None:
                self._check_epoch_has_batches(scan.n_samples)
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
        self._warn_if_diverged()
        return self

    def _warn_if_diverged(self):
        """Say so when training ended on a non-finite loss (a NaN model)."""
        history = self.history
        loss = history[-1].get("train_loss") if len(history) else None
        if isinstance(loss, numbers.Real) and not math.isfinite(loss):
            warnings.warn(
                f"{self._owner()}: training diverged: the train loss of epoch "
                f"{len(history)} is {loss}; the model's outputs are not usable. Lower "
                f"`lr` (now {self.lr!r}) or check the inputs.", RuntimeWarning,
                stacklevel=3)

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
    def _inference_dataset(self, X, any_size=False):
        self.check_is_fitted()
        data, _ = self._check_input(X, any_size=any_size)
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
        return self._over_batches(X, self._encode_batch)

    def _over_batches(self, X, encode, any_size=False):
        """``encode(raw batch)`` over ``X`` in eval mode, without gradients, as one
        NumPy array (CPU)."""
        outputs = []
        # Every DataLoader iteration draws a seed from the global generator.
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            dataset = self._inference_dataset(X, any_size=any_size)
            self._set_training(False)
            for Xi, _ in self.get_iterator(dataset, training=False):
                outputs.append(encode(Xi).cpu())
        return torch.cat(outputs).numpy()

    def feature_map(self, X):
        """The backbone's spatial feature map of ``X``, before global pooling.

        ``transform(X)`` is this map's mean over its last two axes.  Used by
        :class:`~privlearn.attacks.PartCrop` (parts at their own scale and
        part-to-position responses).

        Parameters
        ----------
        X : array-like or torch Dataset
            Images (not flat features) with the channels the model was fitted on,
            of any height and width: every backbone is convolutional and the
            inputs are standardised per channel, so e.g. half-size crops of the
            training images get their own, smaller map.

        Returns
        -------
        maps : ndarray of shape (n_samples, C, h, w)
        """
        self.check_is_fitted()
        if self.input_spec_.kind == "features":
            raise ValueError(f"{self._owner()}: feature_map needs image inputs; this model "
                             "was fitted on flat features (no spatial map).")

        def encode_map(Xi):
            with self._autocast():
                return _float32(self._network().encode_map(self.prepare_batch(Xi)))
        return self._over_batches(X, encode_map, any_size=True)

    def _encode_batch(self, Xi):
        """h = f(x) of one batch of raw inputs, in float32."""
        with self._autocast():
            return _float32(self._network().encode(self.prepare_batch(Xi)))

    @property
    def _n_features_out(self):
        """Size of the representation (for ``get_feature_names_out``)."""
        return self._network().feature_dim

